import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DockerClient } from '../../src/docker/client.js';
import { pidInodesOneByOne, type PidReads } from '../../src/docker/cgroup.js';
import type { ContainerInfo } from '../../src/docker/container.js';
import { InspectCache, type ListedRunning, type PidCheck } from '../../src/docker/inspect-cache.js';
import { listRunningContainers, toContainerInfo, type ContainerInspect } from '../../src/docker/inventory.js';
import { startedContainer } from '../fixtures/inspect.js';

/** What Docker's list shows of an inspected container (no pid, no aliases). */
function listed(i: ContainerInspect): ListedRunning {
  const nets = structuredClone(i.NetworkSettings?.Networks ?? {});
  for (const n of Object.values(nets)) n.Aliases = null;
  return { Id: i.Id, Names: [i.Name], ...(i.HostConfig ? { HostConfig: i.HostConfig } : {}), NetworkSettings: { Networks: nets } };
}

/** The fixture's pid is the container's and its namespace has inode 4026532999. */
const reads = (over: Partial<PidReads> = {}): PidReads => ({
  processInContainer: (pid, id) => pid === 7254 && id === startedContainer().Id,
  netnsInode: (pid) => (pid === 7254 ? 4026532999 : undefined),
  ...over,
});

/** A host answering from `r`, one call per listing (counted in `calls`). */
function host(over: Partial<PidReads> = {}, calls: number[] = []): PidCheck {
  const r = reads(over);
  return {
    pidInodes: async (claims) => {
      calls.push(claims.length);
      return pidInodesOneByOne(r, claims);
    },
  };
}

async function reuse(cache: InspectCache, l: ListedRunning, h: PidCheck = host()): Promise<ContainerInfo | undefined> {
  const [c] = await cache.reuseAll([l], h);
  return c;
}

function cached(): InspectCache {
  const cache = new InspectCache();
  cache.remember(toContainerInfo(startedContainer(), [{ index: 15, name: 'eth0', mac: '02:42:ac:13:00:02' }]));
  return cache;
}

test('inspect cache: a container the list shows unchanged is the cached inspect (aliases, pid, interfaces) with its namespace read now', async () => {
  const c = await reuse(cached(), listed(startedContainer()));
  assert.ok(c);
  assert.equal(c.pid, 7254);
  assert.equal(c.netnsIno, 4026532999);
  assert.deepEqual(c.networks.map((n) => [n.networkName, n.aliases, n.iface]), [
    ['twt-fx-a', ['other', '8febf29dc98c'], 'eth0'],
    ['twt-fx-b', ['svc', '8febf29dc98c'], undefined],
  ]);
});

test('inspect cache: any change the list can show, or a pid that is not the container\'s any more, means inspect again', async () => {
  const cache = cached();
  const changed = (edit: (l: ListedRunning) => void): ListedRunning => {
    const l = listed(startedContainer());
    edit(l);
    return l;
  };
  const net = (l: ListedRunning, name: string): NonNullable<NonNullable<NonNullable<ListedRunning['NetworkSettings']>['Networks']>[string]> => l.NetworkSettings!.Networks![name]!;
  const cases: [string, ListedRunning, PidCheck?][] = [
    ['restarted or reconnected: a new endpoint id', changed((l) => (net(l, 'twt-fx-b').EndpointID = 'f'.repeat(64)))],
    ['no endpoint id', changed((l) => (net(l, 'twt-fx-a').EndpointID = ''))],
    ['renamed (Docker\'s DNS names follow the name)', changed((l) => (l.Names = ['/twt-fx-renamed']))],
    ['another address', changed((l) => (net(l, 'twt-fx-a').IPAddress = '172.19.0.9'))],
    ['another IPv6 address', changed((l) => (net(l, 'twt-fx-b').GlobalIPv6Address = 'fd00:20::9'))],
    ['another MAC', changed((l) => (net(l, 'twt-fx-a').MacAddress = '02:42:ac:13:00:09'))],
    ['another network id', changed((l) => (net(l, 'twt-fx-a').NetworkID = 'e'.repeat(64)))],
    ['a network less', changed((l) => delete l.NetworkSettings!.Networks!['twt-fx-b'])],
    ['a network more', changed((l) => (l.NetworkSettings!.Networks!['twt-fx-z'] = { ...net(l, 'twt-fx-a'), EndpointID: 'd'.repeat(64) }))],
    ['another network mode', changed((l) => (l.HostConfig = { NetworkMode: 'host' }))],
    ['another container', changed((l) => (l.Id = 'a'.repeat(64)))],
    ['the pid is not in the container\'s cgroup', listed(startedContainer()), host({ processInContainer: () => false })],
    ['the pid is gone', listed(startedContainer()), host({ netnsInode: () => undefined })],
  ];
  for (const [why, l, h] of cases) assert.equal(await reuse(cache, l, h), undefined, why);
  assert.ok(await reuse(cache, listed(startedContainer())), 'the entry itself is still good');
});

test('inspect cache: only running containers with an endpoint id on every network are kept; a later inspect replaces or drops the entry', () => {
  const cache = cached();
  assert.equal(cache.size, 1);
  const stopped = startedContainer();
  stopped.State = { Running: false, Pid: 0 };
  cache.remember(toContainerInfo(stopped));
  assert.equal(cache.size, 0, 'a stopped container is forgotten');
  const noEndpoint = startedContainer();
  noEndpoint.NetworkSettings!.Networks!['twt-fx-a']!.EndpointID = '';
  cache.remember(toContainerInfo(noEndpoint));
  assert.equal(cache.size, 0);
  const shared = startedContainer();
  shared.NetworkSettings = { Networks: {} };
  cache.remember(toContainerInfo(shared));
  assert.equal(cache.size, 0, 'no network (container:<id> mode): always inspected');
  const c = cached();
  c.retain(new Set(['other']));
  assert.equal(c.size, 0, 'retain drops containers not running now');
});

function parsed(text: string): InspectCache {
  const c = new InspectCache();
  c.parse(text);
  return c;
}

test('inspect cache: the file round-trips without the namespace inode, is written only when it changed, and a malformed file or entry is left out', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'twt-inspect-cache-'));
  try {
    const file = path.join(dir, 'inspects.json');
    const cache = cached();
    assert.equal(await cache.save(file), true);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.doesNotMatch(readFileSync(file, 'utf8'), /netnsIno/);
    const back = new InspectCache();
    await back.load(file);
    assert.deepEqual(await reuse(back, listed(startedContainer())), await reuse(cache, listed(startedContainer())));
    assert.equal(await back.save(file), false, 'as read, and a reuse that only reads the namespace inode again: nothing to write');
    back.forget(startedContainer().Id);
    assert.equal(await back.save(file), true);
    assert.equal(parsed(readFileSync(file, 'utf8')).size, 0);
    const missing = new InspectCache();
    await missing.load(path.join(dir, 'missing.json'));
    assert.equal(missing.size, 0);
    writeFileSync(file, '{not json');
    const broken = new InspectCache();
    await broken.load(file);
    assert.equal(broken.size, 0);
    const good = JSON.parse(cache.serialize()) as { format: number; entries: Record<string, unknown>[] };
    assert.equal(parsed(JSON.stringify({ ...good, format: 99 })).size, 0, 'another format');
    const bad = [
      { ...good.entries[0], pid: '7254' },
      { ...good.entries[0], pid: 0 },
      { ...good.entries[0], running: false },
      { ...good.entries[0], networks: [] },
      { ...good.entries[0], networks: [{ networkId: 'x', networkName: 'y', aliases: [1], dnsNames: [], endpointId: 'e' }] },
      { ...good.entries[0], networks: [{ networkId: 'x', networkName: 'y', aliases: [], dnsNames: [], endpointId: '' }] },
      { ...good.entries[0], labels: { a: 1 } },
      { ...good.entries[0], swarm: { service: 's' } },
      null,
    ];
    assert.equal(parsed(JSON.stringify({ format: good.format, entries: [...bad, good.entries[0]] })).size, 1, 'only the good entry');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('listRunningContainers with an inspect cache: inspects only what the list shows changed, and remembers every inspect', async () => {
  const a = startedContainer();
  const b = startedContainer();
  b.Id = 'b'.repeat(64);
  b.Name = '/twt-fx-other';
  b.State = { Running: true, Pid: 8000 };
  let current = [a, b];
  const inspected: string[] = [];
  const docker = {
    listContainers: async () => current.map(listed),
    inspectContainer: async (id: string) => {
      inspected.push(id);
      return structuredClone(current.find((c) => c.Id === id));
    },
  } as unknown as DockerClient;
  const pids = new Map([
    [7254, a.Id],
    [8000, b.Id],
  ]);
  const pidReads: PidReads = { processInContainer: (pid, id) => pids.get(pid) === id, netnsInode: (pid) => (pids.has(pid) ? 4026530000 + pid : undefined) };
  const calls: number[] = [];
  const reuse = { cache: new InspectCache(), host: host(pidReads, calls) };
  const list = (): Promise<string[]> => listRunningContainers(docker, undefined, 8, pidReads.netnsInode, reuse).then((cs) => cs.map((c) => c.name));

  assert.deepEqual(await list(), ['twt-fx-c', 'twt-fx-other']);
  assert.deepEqual(inspected.splice(0), [a.Id, b.Id], 'first listing: everything inspected');
  assert.deepEqual(calls.splice(0), [], 'nothing cached: no pid to check');
  assert.deepEqual(await list(), ['twt-fx-c', 'twt-fx-other']);
  assert.deepEqual(inspected.splice(0), [], 'unchanged: nothing inspected');
  assert.deepEqual(calls.splice(0), [2], 'both pids checked in one call (while the list was built)');

  // b restarted: a new pid and new endpoints.
  b.State = { Running: true, Pid: 8001 };
  pids.delete(8000);
  pids.set(8001, b.Id);
  for (const n of Object.values(b.NetworkSettings!.Networks!)) n.EndpointID = `${n.EndpointID!.slice(0, 60)}beef`;
  const after = await listRunningContainers(docker, undefined, 8, pidReads.netnsInode, reuse);
  assert.deepEqual(inspected.splice(0), [b.Id], 'only the restarted container');
  assert.deepEqual(calls.splice(0), [2], 'one call, ahead of the list: it cannot know yet who restarted');
  assert.equal(after.find((c) => c.id === b.Id)?.pid, 8001);

  // a's process died and its pid went to another process: the list alone cannot tell.
  pids.set(7254, 'f'.repeat(64));
  await list();
  assert.deepEqual(inspected.splice(0), [a.Id], 'a pid that is not the container\'s any more: inspected');

  current = [b];
  await list();
  assert.equal(reuse.cache.size, 1, 'a container no longer running leaves the cache');
});

test('inspect cache: when the pid check fails, every container is inspected; an inspect that lands while the pids are read is kept', async () => {
  const cache = cached();
  const failing: PidCheck = { pidInodes: () => Promise.reject(new Error('no workers')) };
  assert.deepEqual(await cache.reuseAll([listed(startedContainer())], failing), [undefined]);
  assert.equal(cache.size, 1, 'the entry stays: the next listing may vouch for it');

  const newer = toContainerInfo(startedContainer(), [{ index: 15, name: 'eth0', mac: '02:42:ac:13:00:02' }]);
  const slow: PidCheck = {
    pidInodes: async (claims) => {
      cache.remember(newer);
      return pidInodesOneByOne(reads(), claims);
    },
  };
  const [c] = await cache.reuseAll([listed(startedContainer())], slow);
  assert.equal(c?.netnsIno, 4026532999, 'the listing still gets the entry it checked');
  assert.equal([...cache.values()][0], newer, 'the cache keeps the inspect that came meanwhile');
});

test('inspect cache: pids checked ahead of the list are used; an entry replaced since is checked again, in one call', async () => {
  const cache = cached();
  const calls: number[] = [];
  const h = host({}, calls);
  const ahead = cache.checkAhead(h);
  assert.equal((await ahead).size, 1);
  const [c] = await cache.reuseAll([listed(startedContainer())], h, ahead);
  assert.equal(c?.netnsIno, 4026532999);
  assert.deepEqual(calls.splice(0), [1], 'answered ahead: not asked again');

  const stale = cache.checkAhead(host({ processInContainer: () => false }, calls));
  await stale;
  cache.remember(toContainerInfo(startedContainer(), [{ index: 15, name: 'eth0', mac: '02:42:ac:13:00:02' }]));
  const [d] = await cache.reuseAll([listed(startedContainer())], h, stale);
  assert.equal(d?.netnsIno, 4026532999, 'the entry remembered after the early check was checked itself');
  assert.deepEqual(calls.splice(0), [1, 1]);
  assert.equal((await cache.checkAhead({ pidInodes: () => Promise.reject(new Error('no workers')) })).size, 0, 'a failed early check: no answers');
});
