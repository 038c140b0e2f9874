// /proc/<pid>/net read from outside the namespace gives the same addresses as
// the kernel's address dump inside it (the start path relies on it).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { nativeBackend } from '../../src/netns/backend.js';
import { procAddrs } from '../../src/netns/procfs.js';

const NS = `twt-pf-${process.pid}`;
let child: ChildProcess | undefined;
const ip = (...args: string[]): string => execFileSync('ip', ['-n', NS, ...args], { encoding: 'utf8' });

before(() => {
  execFileSync('ip', ['netns', 'add', NS]);
  for (const c of [
    ['link', 'set', 'lo', 'up'],
    ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'p0'],
    ['link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'p1'],
    ['link', 'set', 'eth0', 'up'],
    ['link', 'set', 'eth1', 'up'],
    ['addr', 'add', '172.31.7.2/16', 'dev', 'eth0'],
    ['addr', 'add', '10.31.0.5/24', 'dev', 'eth1'],
    ['addr', 'add', 'fd31::5/64', 'dev', 'eth1', 'nodad'],
    ['route', 'add', 'default', 'via', '172.31.0.1'],
  ])
    ip(...c);
  child = spawn('ip', ['netns', 'exec', NS, 'sleep', '30'], { stdio: 'ignore' });
});

after(() => {
  child?.kill();
  execFileSync('ip', ['netns', 'del', NS]);
});

test("procfs addresses of a process's namespace = the netlink address dump", async () => {
  const pid = child!.pid!;
  // `ip netns exec` forks sleep into the namespace: wait until the pid is in it.
  let fromProc;
  for (let i = 0; i < 100 && !fromProc?.some((a) => a.ifname === 'eth1'); i++) {
    await new Promise((r) => setTimeout(r, 20));
    fromProc = procAddrs(pid);
  }
  const fromNl = await nativeBackend.addrList({ path: `/var/run/netns/${NS}` });
  const key = (a: { ifindex: number; ifname: string; family: number; address: string; prefixlen: number }): string =>
    `${a.ifindex} ${a.ifname} ${a.family} ${a.address}/${a.prefixlen}`;
  const want = fromNl.filter((a) => !(a.family === 4 && a.address.startsWith('127.'))).map(key).sort();
  assert.ok(want.includes(`${fromNl.find((a) => a.ifname === 'eth1')!.ifindex} eth1 6 fd31::5/64`), JSON.stringify(want));
  assert.deepEqual(fromProc?.map(key).sort(), want);
});

test('procfs: a process that is gone gives undefined', () => {
  assert.equal(procAddrs(2 ** 22 + 12345), undefined);
});
