import assert from 'node:assert/strict';
import { test } from 'node:test';
import { serialQueue } from '../../src/util/serial.js';

test('serialQueue runs one piece at a time, in order, and goes on after a failure', async () => {
  const q = serialQueue();
  const seen: string[] = [];
  let running = 0;
  const piece = (name: string, fail = false) => async (): Promise<string> => {
    running++;
    assert.equal(running, 1, `${name} started while another piece ran`);
    seen.push(`start ${name}`);
    await new Promise((r) => setTimeout(r, 5));
    seen.push(`end ${name}`);
    running--;
    if (fail) throw new Error(name);
    return name;
  };
  const results = await Promise.allSettled([q(piece('a')), q(piece('b', true)), q(piece('c'))]);
  assert.deepEqual(seen, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  assert.equal((results[2] as PromiseFulfilledResult<string>).value, 'c');
});
