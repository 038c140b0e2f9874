// Giving memory back after bursts of work (bench/PROFILE.md, "Memory"):
// - glibc keeps memory freed on the addon's worker threads in its arenas;
//   malloc_trim after transactions gives it back (measured: tens of MB of RSS
//   after a few thousand transactions).
// - V8's own full collections free objects but keep the heap pages they were
//   on, so a burst (a start-up sync of 1000 containers) leaves the heap's
//   committed size where the burst took it. Once the work has stopped, one
//   compacting collection gives the emptied pages back. It pauses the event
//   loop (~50 ms for a 40 MB heap here), so it runs only after a quiet spell
//   and only when the heap grew enough since the last one to be worth it.

import { getHeapStatistics } from 'node:v8';
import { loadAddon } from './addon.js';

/** malloc_trim(0) in this process; false when nothing could be released. */
export function trimMalloc(): boolean {
  return loadAddon().mallocTrim();
}

/** After work, trim malloc this often (ms). */
const TRIM_INTERVAL_MS = 5000;
/** Compact the heap once no work came for this long (ms)... */
export const QUIET_MS = 2000;
/** ...if its committed size grew by at least this much since the last compaction (bytes). */
export const COMPACT_GROWTH_BYTES = 8 * 2 ** 20;

export interface Compaction {
  /** V8's committed heap before and after, MB. */
  beforeMb: number;
  afterMb: number;
  /** The pause, ms. */
  ms: number;
}

export interface MemoryReleaseOptions {
  /** Told after each compaction (for a debug log line). */
  onCompact?: (c: Compaction) => void;
  /** For tests: the heap's committed size, and the two ways of releasing. */
  heapBytes?: () => number;
  compact?: () => void;
  trim?: () => void;
  quietMs?: number;
  trimIntervalMs?: number;
}

/** Gives memory back after work: call work() once per unit of work (a transaction). */
export class MemoryRelease {
  private workSinceTrim = 0;
  private floor: number;
  private readonly trimTimer: NodeJS.Timeout;
  private quietTimer: NodeJS.Timeout | undefined;
  private readonly heapBytes: () => number;
  private readonly compact: () => void;
  private readonly trim: () => void;

  constructor(private readonly opts: MemoryReleaseOptions = {}) {
    this.heapBytes = opts.heapBytes ?? (() => getHeapStatistics().total_heap_size);
    this.compact = opts.compact ?? (() => loadAddon().heapCompact());
    this.trim = opts.trim ?? trimMalloc;
    this.floor = this.heapBytes();
    this.trimTimer = setInterval(() => {
      if (this.workSinceTrim === 0) return;
      this.workSinceTrim = 0;
      this.trim();
    }, opts.trimIntervalMs ?? TRIM_INTERVAL_MS);
    this.trimTimer.unref();
  }

  work(): void {
    this.workSinceTrim++;
    if (this.quietTimer) this.quietTimer.refresh();
    else {
      this.quietTimer = setTimeout(() => this.quiet(), this.opts.quietMs ?? QUIET_MS);
      this.quietTimer.unref();
    }
  }

  stop(): void {
    clearInterval(this.trimTimer);
    if (this.quietTimer) clearTimeout(this.quietTimer);
    this.quietTimer = undefined;
  }

  private quiet(): void {
    this.quietTimer = undefined;
    const before = this.heapBytes();
    if (before - this.floor < COMPACT_GROWTH_BYTES) {
      // Grew less (or shrank by V8's own doing): the next growth counts from here.
      this.floor = Math.min(this.floor, before);
      return;
    }
    const t0 = performance.now();
    this.compact();
    this.trim();
    this.workSinceTrim = 0;
    const after = this.heapBytes();
    this.floor = after;
    this.opts.onCompact?.({ beforeMb: before / 2 ** 20, afterMb: after / 2 ** 20, ms: performance.now() - t0 });
  }
}
