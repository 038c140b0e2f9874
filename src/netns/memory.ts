// glibc keeps memory freed on the addon's worker threads in per-thread arenas;
// trimming after bursts of work gives it back (measured: tens of MB of RSS
// after a few thousand transactions).

import { loadAddon } from './addon.js';

/** malloc_trim(0) in this process; false when nothing could be released. */
export function trimMalloc(): boolean {
  return loadAddon().mallocTrim();
}
