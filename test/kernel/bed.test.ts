// The bed's namespace helpers, against the kernel: test namespaces, veth
// pairs moved and renamed into them, addresses read back with `ip -j`, and
// the cleanup of leftovers.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { addresses, cleanupLeftovers, execIn, ip, ipJson, netnsAdd, netnsDel, netnsList, routes, run, testPrefix, tagPrefix, vethPair } from '../bed/index.js';

const P = testPrefix('kb');
const TAG = tagPrefix('kb');
const A = `${P}a`;
const B = `${P}b`;

before(async () => {
  await cleanupLeftovers(TAG);
});

after(async () => {
  await netnsDel(A);
  await netnsDel(B);
  await cleanupLeftovers(P);
});

test('netns + veth: create, move, rename, address, read back, talk, remove', async () => {
  const a = await netnsAdd(A);
  const b = await netnsAdd(B);
  assert.ok((await netnsList()).includes(A));
  await vethPair(`${P}v`, { ns: a, name: 'wg0', addresses: ['10.231.7.1/30'] }, { ns: b, name: 'eth9', addresses: ['10.231.7.2/30'] });

  const [wg0] = await addresses(a, 'wg0');
  assert.equal(wg0?.ifname, 'wg0');
  assert.deepEqual(wg0?.addr_info.filter((x) => x.family === 'inet').map((x) => `${x.local}/${x.prefixlen}`), ['10.231.7.1/30']);
  const links = await ipJson<{ ifname: string; link_type: string; operstate: string }>(b, ['link', 'show', 'dev', 'eth9']);
  assert.equal(links[0]?.link_type, 'ether');
  // Neither end, nor the temporary names, remain in the root namespace.
  const root = (await ipJson<{ ifname: string }>('root', ['link', 'show'])).map((l) => l.ifname);
  assert.ok(!root.some((n) => n.startsWith(P)), `root namespace has ${root.filter((n) => n.startsWith(P)).join(',')}`);

  // The connected route is there, and a packet between the two test hosts goes through.
  const r = await routes(a);
  assert.ok(r.some((x) => x.dst === '10.231.7.0/30' && x.dev === 'wg0'));
  await execIn(a, 'busybox', ['ping', '-c', '1', '-W', '2', '10.231.7.2']);

  // Deleting one end removes the pair.
  await ip(a, ['link', 'del', 'wg0']);
  assert.equal((await ipJson(b, ['link', 'show'])).some((l) => (l as { ifname: string }).ifname === 'eth9'), false);
  await netnsDel(A);
  await netnsDel(B);
  assert.ok(!(await netnsList()).includes(A));
});

test('cleanupLeftovers removes orphaned namespaces and links of its prefix only', async () => {
  // Made without the bed, like a run killed before it could record an owner.
  await run('ip', ['netns', 'add', `${P}orphan`]);
  await run('ip', ['link', 'add', `${P}o1`, 'type', 'veth', 'peer', 'name', `${P}o2`]);
  const report = await cleanupLeftovers(P);
  assert.ok(report.netns.includes(`${P}orphan`));
  assert.ok(report.links.includes(`${P}o1`) || report.links.includes(`${P}o2`));
  assert.ok(!(await netnsList()).includes(`${P}orphan`));
  const root = (await ipJson<{ ifname: string }>('root', ['link', 'show'])).map((l) => l.ifname);
  assert.ok(!root.includes(`${P}o1`) && !root.includes(`${P}o2`));
});

test("cleanupLeftovers keeps a namespace whose name ends in a live test process's pid", async () => {
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
  const name = `${P}live-${other.pid}`;
  try {
    await run('ip', ['netns', 'add', name]);
    const kept = await cleanupLeftovers(P);
    assert.ok(!kept.netns.includes(name));
    assert.ok((await netnsList()).includes(name));
    other.kill('SIGKILL');
    await new Promise((r) => other.once('exit', r));
    const removed = await cleanupLeftovers(P);
    assert.ok(removed.netns.includes(name));
  } finally {
    other.kill('SIGKILL');
    await netnsDel(name);
  }
});
