// The addon's pidCheck (native/pid_check.cc) against real processes: a process
// we put into a cgroup named after a made-up container id, inside an `ip netns`
// namespace of ours, answers as the one-by-one reads on the main thread do
// (docker/cgroup.ts processInContainer, then netnsInode).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { netnsInode, pidInodes, pidInodesOneByOne, processInContainer } from '../../src/docker/cgroup.js';
import { loadAddon } from '../../src/netns/addon.js';

const NS = `twt-pc-${process.pid}`;
// 70 hex digits: longer than any container id, so only its first 64 are an id.
const LONG = randomBytes(35).toString('hex');
const ID = LONG.slice(0, 64);
// cgroup v2's root, else v1's pids hierarchy (Docker's layouts in docker/cgroup.ts).
const HIERARCHY = existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : '/sys/fs/cgroup/pids';
const CGROUP = `${HIERARCHY}/twt-${LONG}`;
let child: ChildProcess | undefined;
let nsIno = 0;

before(async () => {
  execFileSync('ip', ['netns', 'add', NS]);
  nsIno = statSync(`/var/run/netns/${NS}`).ino;
  child = spawn('ip', ['netns', 'exec', NS, 'sleep', '60'], { stdio: 'ignore' });
  // Wait until the process is in the namespace (ip enters it, then becomes sleep).
  for (let i = 0; i < 200 && netnsInode(child.pid!) !== nsIno; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(netnsInode(child.pid!), nsIno, 'the child entered the namespace');
  mkdirSync(CGROUP);
  writeFileSync(`${CGROUP}/cgroup.procs`, String(child.pid));
});

after(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill();
    await exited;
  }
  // An emptied cgroup can be removed once the kernel has seen its last task leave.
  for (let i = 0; i < 100 && existsSync(CGROUP); i++) {
    try {
      rmdirSync(CGROUP);
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  execFileSync('ip', ['netns', 'del', NS]);
});

/** A pid that no process has now: a child that has exited and been reaped. */
function deadPid(): number {
  const r = spawnSync('true');
  assert.ok(r.pid && !existsSync(`/proc/${r.pid}`));
  return r.pid;
}

test('pidCheck: the namespace inode when the cgroup names the id; 0 for another id or an over-long or malformed one; -1 for a process that is gone', async () => {
  const pid = child!.pid!;
  const gone = deadPid();
  const pairs: [number, string, number][] = [
    [pid, ID, nsIno],
    [pid, ID.slice(0, 12), nsIno], // a short id
    [pid, LONG, 0], // the cgroup names it, but it is longer than an id: refused
    [pid, 'f'.repeat(64), 0], // another container's id
    [pid, ID.toUpperCase(), 0], // ids are lowercase hex (a random 64-digit one has a letter)
    [pid, ID.slice(0, 11), 0],
    [pid, `${ID.slice(0, 20)}/`, 0],
    [pid, '', 0],
    [process.pid, ID, 0], // a process of ours, not in that cgroup
    [gone, ID, -1],
    [2 ** 22 + 1, ID, -1], // above any pid
    [0, ID, -1],
    [-5, ID, -1],
    [1.5, ID, -1],
  ];
  const got = await loadAddon().pidCheck(
    pairs.map((p) => p[0]),
    pairs.map((p) => p[1]),
  );
  assert.ok(got instanceof Float64Array);
  assert.deepEqual(
    [...got],
    pairs.map((p) => p[2]),
  );
});

test('pidCheck through pidInodes answers as the one-by-one reads on the main thread', async () => {
  const pid = child!.pid!;
  const claims = [
    { pid, id: ID },
    { pid, id: LONG },
    { pid, id: 'a'.repeat(64) },
    { pid: deadPid(), id: ID },
    { pid: process.pid, id: ID },
  ];
  const batched = await pidInodes(claims);
  assert.deepEqual(batched, pidInodesOneByOne({ processInContainer, netnsInode }, claims));
  assert.deepEqual(batched, [nsIno, undefined, undefined, undefined, undefined]);
  assert.deepEqual(await pidInodes([]), []);
});

test('pidCheck: arrays of other types or lengths are refused before anything is read', () => {
  const addon = loadAddon() as unknown as { pidCheck(...args: unknown[]): Promise<Float64Array> };
  const refused = (why: string, ...args: unknown[]): void => {
    assert.throws(() => addon.pidCheck(...args), (e: Error & { code?: string; stage?: string }) => e instanceof TypeError && e.code === 'EINVAL' && e.stage === 'arguments', why);
  };
  refused('lengths differ', [1, 2], [ID]);
  refused('not arrays', 1, ID);
  refused('a pid that is not a number', ['1'], [ID]);
  refused('an id that is not a string', [1], [1]);
  refused('no arguments');
});
