import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedQueue } from '../../src/engine/queue.js';

const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('requests for a running key coalesce into exactly one more run', async () => {
  const runs: string[][] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const q = new KeyedQueue<string>(
    async (_k, reasons) => {
      runs.push(reasons);
      if (runs.length === 1) await gate;
    },
    4,
    () => assert.fail('no error expected'),
  );
  const first = q.request('a', 'r1');
  await tick();
  const more = [q.request('a', 'r2'), q.request('a', 'r3'), q.request('a', 'r4')];
  release();
  await Promise.all([first, ...more]);
  assert.deepEqual(runs, [['r1'], ['r2', 'r3', 'r4']]);
});

test('one key never runs twice at once; different keys run in parallel up to the bound', async () => {
  let active = 0;
  let maxActive = 0;
  const perKey = new Map<string, number>();
  const q = new KeyedQueue<number>(
    async (k) => {
      active++;
      perKey.set(k, (perKey.get(k) ?? 0) + 1);
      assert.equal(perKey.get(k), 1, `key ${k} ran concurrently`);
      maxActive = Math.max(maxActive, active);
      await tick(3);
      perKey.set(k, perKey.get(k)! - 1);
      active--;
    },
    3,
    (_k, e) => assert.fail(String(e)),
  );
  const all: Promise<void>[] = [];
  for (let i = 0; i < 40; i++) all.push(q.request(`k${i % 8}`, i));
  await Promise.all(all);
  await q.idle();
  assert.equal(maxActive, 3);
  assert.equal(q.pending, 0);
});

test('a failing job is reported and does not stop the queue', async () => {
  const errors: string[] = [];
  const done: string[] = [];
  const q = new KeyedQueue<string>(
    async (k) => {
      if (k === 'bad') throw new Error('boom');
      done.push(k);
    },
    1,
    (k, e) => errors.push(`${k}: ${(e as Error).message}`),
  );
  await Promise.all([q.request('bad', 'x'), q.request('good', 'y')]);
  assert.deepEqual(errors, ['bad: boom']);
  assert.deepEqual(done, ['good']);
});

test('a run that gives its place up lets the next key start, keeps its own key busy, and still counts as pending', async () => {
  const started: string[] = [];
  const gates = new Map<string, () => void>();
  const q = new KeyedQueue<string>(
    async (k, reasons, release) => {
      started.push(`${k}:${reasons.join(',')}`);
      await new Promise<void>((r) => gates.set(k, r));
      release();
      release(); // idempotent
      await new Promise<void>((r) => gates.set(`${k}-tail`, r));
    },
    1,
    (_k, e) => assert.fail(String(e)),
  );
  const a = q.request('a', 'r1');
  const b = q.request('b', 'r2');
  await tick();
  assert.deepEqual(started, ['a:r1'], 'one place: b waits while a holds it');
  gates.get('a')!();
  await tick();
  assert.deepEqual(started, ['a:r1', 'b:r2'], 'a gave its place up: b started');
  // a is still running: a request for it waits for a's run to end.
  const a2 = q.request('a', 'r3');
  await tick();
  assert.deepEqual(started, ['a:r1', 'b:r2']);
  assert.equal(q.pending, 2, 'a (given up its place, still running) and b');
  gates.get('a-tail')!();
  await a;
  gates.get('b')!();
  await tick();
  assert.deepEqual(started, ['a:r1', 'b:r2', 'a:r3']);
  gates.get('b-tail')!();
  gates.get('a')!();
  await tick();
  gates.get('a-tail')!();
  await Promise.all([b, a2]);
  await q.idle();
  assert.equal(q.pending, 0);
});
