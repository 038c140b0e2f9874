// Wall-clock time with sub-millisecond resolution, to compare with Docker's
// event timestamps (CLOCK_REALTIME, nanoseconds). Date.now() is whole
// milliseconds and, measured here, ticks unevenly (Date.now() − performance.now()
// spreads over 2.3 ms where CLOCK_REALTIME − CLOCK_MONOTONIC spreads over
// 0.12 ms): latencies of a few ms would be off by up to two. The addon reads
// CLOCK_REALTIME itself.

import { loadAddon } from './addon.js';

let realtime: (() => number) | undefined;

/** Milliseconds since the epoch, with a fraction. */
export function wallMs(): number {
  if (!realtime) {
    try {
      const b = loadAddon();
      realtime = () => b.realtimeMs();
    } catch {
      realtime = () => Date.now();
    }
  }
  return realtime();
}
