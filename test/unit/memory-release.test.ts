// MemoryRelease: malloc trimmed after work, the heap compacted once after a quiet
// spell, and only when it grew enough since the last compaction.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COMPACT_GROWTH_BYTES, MemoryRelease, type Compaction } from '../../src/netns/memory.js';

const MB = 2 ** 20;

function fake(heap: number[], onCompact?: (c: Compaction) => void) {
  const calls: string[] = [];
  const waiters: (() => void)[] = [];
  const m = new MemoryRelease({
    ...(onCompact ? { onCompact } : {}),
    quietMs: 20,
    trimIntervalMs: 60_000,
    heapBytes: () => {
      waiters.splice(0).forEach((w) => w());
      return heap[0]!;
    },
    compact: () => {
      calls.push('compact');
      heap[0] = 30 * MB;
    },
    trim: () => calls.push('trim'),
  });
  /** Resolves at the next read of the heap's size: the quiet check ran. */
  const quietChecked = () => new Promise<void>((r) => waiters.push(r));
  // Its timers do not hold the process; this one does, until stop.
  const alive = setInterval(() => undefined, 1000);
  const stop = (): void => {
    m.stop();
    clearInterval(alive);
  };
  return { m, calls, quietChecked, stop };
}

test('after a quiet spell, a heap that grew by the threshold is compacted once, then malloc trimmed', async () => {
  const heap = [40 * MB];
  let compactedNow: (c: Compaction) => void = () => undefined;
  const compacted = new Promise<Compaction>((r) => (compactedNow = r));
  const { m, calls, quietChecked, stop } = fake(heap, (c) => compactedNow(c));
  try {
    heap[0] = 40 * MB + COMPACT_GROWTH_BYTES;
    for (let i = 0; i < 5; i++) m.work();
    const c = await compacted;
    assert.deepEqual(calls, ['compact', 'trim']);
    assert.equal(c.beforeMb, 48);
    assert.equal(c.afterMb, 30);
    // Grown less than the threshold since (30 → 37 MB): checked, not compacted.
    heap[0] = 37 * MB;
    const checked = quietChecked();
    m.work();
    await checked;
    assert.deepEqual(calls, ['compact', 'trim']);
  } finally {
    stop();
  }
});

test('a heap that did not grow enough is left alone', async () => {
  const heap = [40 * MB];
  const { m, calls, quietChecked, stop } = fake(heap);
  try {
    heap[0] = 40 * MB + COMPACT_GROWTH_BYTES - 1;
    const checked = quietChecked();
    m.work();
    await checked;
    assert.deepEqual(calls, []);
  } finally {
    stop();
  }
});
