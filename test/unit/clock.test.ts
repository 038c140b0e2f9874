import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wallMs } from '../../src/netns/clock.js';

test('wallMs: the wall clock with a sub-millisecond fraction', () => {
  const fractions = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const before = Date.now();
    const w = wallMs();
    const after = Date.now();
    assert.ok(w >= before - 0.05 && w < after + 1.05, `${w} not within [${before}, ${after + 1})`);
    fractions.add(Math.round((w % 1) * 1000));
  }
  assert.ok(fractions.size > 1, 'carries a fraction of a millisecond');
});
