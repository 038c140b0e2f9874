// The re-point step (src/engine/repoint.ts) against real namespaces: the
// dependents' routes written at once, read back from the kernel with `ip`;
// a gateway that is gone gives `unreachable` (fail closed); a namespace other
// than the one last committed, or a dependent with a transaction under way,
// is not touched.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { execa } from 'execa';
import { inUse } from '../bed/owner.js';

import type { ContainerInfo, NetworkAttachment } from '../../src/docker/container.js';
import { hostNamespaceInodes } from '../../src/engine/ownership.js';
import { Repointer, type LastCommit } from '../../src/engine/repoint.js';
import { SpecCache } from '../../src/labels/spec-cache.js';
import { createLogger } from '../../src/log.js';
import { nativeBackend } from '../../src/netns/backend.js';
import { openNsHandle } from '../../src/netns/handle.js';
import { TWINE_RT_PROTO, type Route } from '../../src/netns/types.js';
import type { Plan } from '../../src/plan/types.js';

const PREFIX = 'twt-rp-';
const K = 3;
// <prefix><i>-<pid>: the bed's clean-up keeps them while this process lives (test/bed/owner.ts).
const names = Array.from({ length: K }, (_, i) => `${PREFIX}${i}-${process.pid}`);
const path = (i: number): string => `/var/run/netns/${names[i]!}`;
const DST = '10.77.0.0/16';
const OLD_GW = '10.41.0.10';
const NEW_GW = '10.41.0.20';

const ipNs = (i: number, ...args: string[]) => execa('ip', ['-n', names[i]!, ...args]);
async function twineRoute(i: number): Promise<{ dst: string; gateway?: string; type?: string } | undefined> {
  const rs = JSON.parse((await ipNs(i, '-j', 'route', 'show', 'table', 'main', 'proto', String(TWINE_RT_PROTO))).stdout) as { dst: string; gateway?: string; type?: string }[];
  return rs.find((r) => r.dst === DST);
}

const via = (gateway: string): Route => ({ family: 4, dst: DST, type: 'unicast', gateway, dev: 'd0', protocol: TWINE_RT_PROTO });
const att = (ip: string): NetworkAttachment => ({ networkId: 'n1', networkName: 'net', ipv4: ip, ipv4PrefixLen: 24, aliases: [], dnsNames: [], iface: 'd0' });

function gateway(ip: string, running = true): ContainerInfo {
  return { id: 'g'.repeat(64), name: 'gw', pid: running ? 1 : 0, running, labels: {}, networks: [att(ip)], networkMode: 'net' };
}
const apps: ContainerInfo[] = names.map((_, i) => ({
  id: `${i}`.padStart(64, 'a'),
  name: `app${i}`,
  pid: 100 + i,
  running: true,
  labels: { [`twine.route.${DST}`]: 'gw' },
  networks: [att(`10.41.0.${i + 1}`)],
  networkMode: 'net',
}));

/** A Repointer over these namespaces: `gw` as the inventory holds it now, every app last committed via OLD_GW. */
function repointer(gw: ContainerInfo, commits: Map<string, LastCommit>, wrote: Map<string, Route[]>): Repointer {
  const byId = new Map([gw, ...apps].map((c) => [c.id, c]));
  const specs = new SpecCache();
  return new Repointer({
    netns: nativeBackend,
    log: createLogger({ level: 'silent' }),
    store: { get: (id) => byId.get(id), snapshot: () => ({ containers: [...byId.values()] }), specs },
    namespaces: () => ({ hostInodes: hostNamespaceInodes(), containers: [] }),
    open: (pid, expectIno) => openNsHandle({ path: path(pid - 100) }, expectIno),
    lastCommit: (id) => commits.get(id),
    wrote: (id, routes) => wrote.set(id, routes),
  });
}

function committedViaOld(): Map<string, LastCommit> {
  const plan = (i: number): Plan => ({ container: { id: apps[i]!.id, name: apps[i]!.name, pid: apps[i]!.pid }, ns: { path: path(i) }, sysctls: [], routes: [via(OLD_GW)], defaultRoutes: [], table: { chains: [] }, hostRoutes: [] });
  return new Map(apps.map((c, i) => [c.id, { info: c, plan: plan(i), ino: statSync(path(i)).ino }]));
}

async function resetRoutes(): Promise<void> {
  for (let i = 0; i < K; i++) await nativeBackend.routeReplace({ path: path(i) }, via(OLD_GW));
}

async function settled(r: Repointer): Promise<void> {
  await Promise.all(apps.map((c) => r.pending(c.id)));
}

before(async () => {
  const { stdout } = await execa('ip', ['netns', 'list']);
  for (const line of stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (name.startsWith(PREFIX) && !inUse(name, undefined)) await execa('ip', ['netns', 'del', name], { reject: false });
  }
  for (let i = 0; i < K; i++) {
    await execa('ip', ['netns', 'add', names[i]!]);
    // No dummy module on these kernels: a veth pair with both ends inside the namespace.
    await ipNs(i, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd0p');
    await ipNs(i, 'addr', 'add', `10.41.0.${i + 1}/24`, 'dev', 'd0');
    await ipNs(i, 'link', 'set', 'd0p', 'up');
    await ipNs(i, 'link', 'set', 'd0', 'up');
    // As the engine records it: the namespace's inode, read when Twine learnt the pid.
    apps[i]!.netnsIno = statSync(path(i)).ino;
  }
});
after(async () => {
  for (const n of names) await execa('ip', ['netns', 'del', n], { reject: false });
});

test('the gateway on a new address: every dependent re-pointed in its namespace, read back from the kernel', async () => {
  await resetRoutes();
  const wrote = new Map<string, Route[]>();
  const r = repointer(gateway(NEW_GW), committedViaOld(), wrote);
  assert.equal(r.run(apps.map((c) => c.id), () => false, 'gw changed'), K);
  await settled(r);
  for (let i = 0; i < K; i++) {
    const got = await twineRoute(i);
    assert.equal(got?.gateway, NEW_GW, `${names[i]!}: ${JSON.stringify(got)}`);
    assert.deepEqual(wrote.get(apps[i]!.id)?.map((x) => x.gateway), [NEW_GW]);
  }
});

test('the gateway gone: every dependent\'s route unreachable (fail closed), read back from the kernel', async () => {
  await resetRoutes();
  const r = repointer(gateway(NEW_GW, false), committedViaOld(), new Map());
  assert.equal(r.run(apps.map((c) => c.id), () => false, 'gw die'), K);
  await settled(r);
  for (let i = 0; i < K; i++) {
    const got = await twineRoute(i);
    assert.equal(got?.type, 'unreachable', `${names[i]!}: ${JSON.stringify(got)}`);
    assert.equal(got?.gateway, undefined);
  }
});

test('not touched: a namespace other than the one last committed; a dependent with a transaction under way only once it ends', async () => {
  await resetRoutes();
  const commits = committedViaOld();
  // app0 was last committed in another namespace (its inode differs); app1's transaction is running.
  commits.set(apps[0]!.id, { ...commits.get(apps[0]!.id)!, ino: statSync(path(2)).ino });
  const wrote = new Map<string, Route[]>();
  const r = repointer(gateway(NEW_GW), commits, wrote);
  assert.equal(r.run(apps.map((c) => c.id), (id) => id === apps[1]!.id, 'gw changed'), 1);
  await settled(r);
  assert.equal((await twineRoute(0))?.gateway, OLD_GW);
  assert.equal((await twineRoute(1))?.gateway, OLD_GW);
  assert.equal((await twineRoute(2))?.gateway, NEW_GW, 'the positive control: app2 was re-pointed');
  assert.deepEqual([...wrote.keys()], [apps[2]!.id]);
  // app1's transaction ended: the re-point it held up is written then.
  r.resume(apps[1]!.id);
  await settled(r);
  assert.equal((await twineRoute(1))?.gateway, NEW_GW, 'app1 re-pointed once its transaction ended');
  r.resume(apps[0]!.id);
  await settled(r);
  assert.equal((await twineRoute(0))?.gateway, OLD_GW, 'app0 still not: nothing was held up for it');
});
