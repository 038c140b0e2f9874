// setProcessNice in a child process: every thread of it ends up at the nice
// value, including threads created afterwards. Needs root (a negative value).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MODULE = fileURLToPath(new URL('../../src/util/priority.js', import.meta.url));

test('setProcessNice sets every thread of the process, and threads started later inherit it', () => {
  const script = `
    import { readdirSync, readFileSync } from 'node:fs';
    import { Worker } from 'node:worker_threads';
    const { setProcessNice } = await import(${JSON.stringify(MODULE)});
    const r = setProcessNice(-7);
    // A thread created afterwards (a worker, and libuv's pool through a file read).
    const w = new Worker('setTimeout(() => {}, 200)', { eval: true });
    await new Promise((res) => w.once('online', res));
    await import('node:fs/promises').then((f) => f.readFile('/proc/self/status'));
    const nice = readdirSync('/proc/self/task').map((t) => Number(readFileSync('/proc/self/task/' + t + '/stat', 'utf8').split(') ')[1].split(' ')[16]));
    console.log(JSON.stringify({ r, nice }));
    await w.terminate();
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  const { r, nice } = JSON.parse(out) as { r: { threads: number; failed: number }; nice: number[] };
  assert.equal(r.failed, 0);
  assert.ok(r.threads >= 2, `threads: ${r.threads}`);
  assert.ok(nice.length > r.threads, `no thread was started afterwards: ${nice.length}`);
  assert.deepEqual([...new Set(nice)], [-7], JSON.stringify(nice));
});
