// One restart, one transaction: with 50 labelled containers on the host, one
// `docker restart` of a labelled container causes exactly one transaction for
// it (plus its dependents'), visible in the log; no other container gets one.
// The 50: a gateway, 25 containers routing a prefix via it (its dependents)
// and 24 independent ones masquerading out of eth+.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  caughtUp,
  containerIp,
  containerPid as containerPidOf,
  createNetwork,
  parallel,
  reasonsOf,
  run,
  runContainer,
  setUpFile,
  startReconciled,
  tearDownFile,
  testPrefix,
  twineRoutes,
  twineTable,
  txLines,
  waitTx,
  waitUntil,
  type LogLine,
  type TestContainer,
  type TestDaemon,
} from '../bed/index.js';
import { startDockerProxy, type DockerProxy } from '../bed/docker-proxy.js';

const P = testPrefix('ec');
const NET = `${P}net`;
const GW = `${P}gw`;
const N = 49;
const name = (i: number): string => `${P}c${i}`;
const isDependent = (i: number): boolean => i % 2 === 0;

let daemon: TestDaemon;
/** Between the daemon and Docker: counts the events the daemon was sent. */
let proxy: DockerProxy;
let others: TestContainer[] = [];
const dependents = new Set<string>();

/**
 * Every event Docker sent about `id` up to `action` reached the daemon, and the
 * daemon has handled every event it was sent and finished what they caused: a
 * transaction they would cause is in the log by now.
 */
async function settled(id?: string, action = 'restart'): Promise<void> {
  if (id !== undefined) await waitUntil(`the ${action} event of ${id.slice(0, 12)} passed to the daemon`, async () => proxy.eventSeen(action, id), 20_000);
  await caughtUp(daemon, proxy);
}

function mine(l: LogLine): boolean {
  return String(l.container).startsWith(P);
}

/** What the kernel shows in a container: a dependent's route via the gateway, or a masquerading table. */
async function wired(c: { name: string; pid: number }, gwIp: string): Promise<void> {
  if (dependents.has(c.name)) {
    const r = await twineRoutes({ pid: c.pid });
    assert.deepEqual(r.map((x) => [x.dst, x.gateway]), [['10.250.0.0/16', gwIp]], `${c.name}'s route`);
  } else {
    const t = await twineTable({ pid: c.pid });
    assert.ok(t?.rules.some((r) => JSON.stringify(r.expr).includes('masquerade')), `${c.name}: a masquerade rule in table inet twine`);
  }
}

before(async () => {
  await setUpFile('ec');
  await createNetwork(NET);
  await runContainer({ name: GW, networks: [NET], labels: { 'twine.nat.interfaces': 'eth+' } });
  others = await parallel(Array.from({ length: N }, (_, k) => k + 1), 8, (i) => {
    if (isDependent(i)) dependents.add(name(i));
    const labels: Record<string, string> = isDependent(i) ? { 'twine.route.10.250.0.0/16': GW } : { 'twine.nat.interfaces': 'eth+' };
    return runContainer({ name: name(i), networks: [NET], labels });
  });
  // Started after the containers: the start-up reconcile applies all 50.
  proxy = await startDockerProxy(`/tmp/${P}docker.sock`);
  daemon = await startReconciled({ args: ['--resync-interval', '0'], logLevel: 'info', env: { TWINE_DOCKER_SOCKET: proxy.socket } }, 60_000);
  await settled();
});

after(async () => {
  await tearDownFile(P, { daemons: [daemon], containers: [GW, ...Array.from({ length: N }, (_, k) => name(k + 1))], networks: [NET] });
  await proxy?.close();
});

test('the start-up reconcile applied all 50 labelled containers once', async () => {
  // In the kernel: every one of them has what its labels ask for.
  const gwIp = await containerIp(GW, NET);
  await wired({ name: GW, pid: await containerPidOf(GW) }, gwIp);
  for (const c of others) await wired(c, gwIp);
  // In the daemon's account: one transaction each.
  const byName = new Map<string, number>();
  for (const l of txLines(daemon).filter(mine)) byName.set(String(l.container), (byName.get(String(l.container)) ?? 0) + 1);
  assert.equal(byName.size, N + 1, `applied: ${[...byName.keys()].length}`);
  for (const [c, n] of byName) assert.equal(n, 1, `${c}: ${n} transactions at start-up`);
});

test('docker restart of one labelled container (no dependents): exactly one transaction, for it alone', async (t) => {
  const target = name(1);
  const mark = daemon.lines.length;
  await run('docker', ['restart', '-t', '5', target]);
  const tx = await waitTx(daemon, target, mark);
  // The restarted container has a new namespace: it is wired again.
  const pid = await containerPidOf(target);
  others = others.map((c) => (c.name === target ? { ...c, pid } : c));
  await wired({ name: target, pid }, await containerIp(GW, NET));
  await settled(others.find((c) => c.name === target)!.id);
  const after = txLines(daemon, { from: mark });
  const mineAfter = after.filter(mine);
  // Applied once Docker had set up its network (before the start event), or else at the start event.
  assert.equal(mineAfter.length, 1, JSON.stringify(mineAfter.map((l) => [l.container, reasonsOf(l)])));
  assert.equal(mineAfter[0]!.container, target);
  assert.ok([['network ready'], ['start']].some((r) => JSON.stringify(r) === JSON.stringify(reasonsOf(tx))), JSON.stringify(reasonsOf(tx)));
  assert.equal(tx.msg, 'applied');
  const early = reasonsOf(tx)[0] === 'network ready';
  t.diagnostic(`restart → applied ${early ? 'before the start event' : `${Number(tx.latencyMs).toFixed(1)} ms after the start event`}; transactions meanwhile for containers of other tests on this host: ${after.length - mineAfter.length}`);
});

test("docker restart of the gateway: one transaction for it, its dependents' only because of it, no one else", async (t) => {
  const gwId = (await run('docker', ['inspect', '-f', '{{.Id}}', GW])).trim();
  const mark = daemon.lines.length;
  await run('docker', ['restart', '-t', '5', GW]);
  await waitTx(daemon, GW, mark);
  const gwIp = await containerIp(GW, NET);
  const pointed = async (): Promise<boolean> => {
    for (const c of others.filter((x) => dependents.has(x.name))) {
      const r = await twineRoutes({ pid: c.pid });
      if (r.length !== 1 || r[0]!.gateway !== gwIp) return false;
    }
    return true;
  };
  await waitUntil('dependents re-pointed', pointed, 20_000);
  await settled(gwId);
  const after = txLines(daemon, { from: mark }).filter(mine);
  const count = new Map<string, LogLine[]>();
  for (const l of after) count.set(String(l.container), [...(count.get(String(l.container)) ?? []), l]);
  const gwTx = count.get(GW)?.map(reasonsOf) ?? [];
  assert.ok([[['network ready']], [['start']]].some((r) => JSON.stringify(r) === JSON.stringify(gwTx)), `the gateway: ${JSON.stringify(gwTx)}`);
  for (const [c, ls] of count) {
    if (c === GW) continue;
    assert.ok(dependents.has(c), `${c} is not a dependent but got ${ls.length} transaction(s): ${JSON.stringify(ls.map(reasonsOf))}`);
    // Stop → unreachable (fail closed), start → re-pointed: one transaction per gateway event at most.
    assert.ok(ls.length <= 2, `${c}: ${ls.length} transactions`);
    for (const l of ls) for (const r of reasonsOf(l)) assert.ok(r.startsWith(`dependency ${GW}`), `${c}: reason ${r}`);
  }
  assert.equal([...count.keys()].filter((c) => dependents.has(c)).length, dependents.size, 'every dependent re-planned');
  const per = [...dependents].map((c) => count.get(c)?.length ?? 0);
  t.diagnostic(`gateway 1 transaction; ${dependents.size} dependents: ${per.filter((n) => n === 1).length} with 1, ${per.filter((n) => n === 2).length} with 2 (die → unreachable, start → re-pointed); non-dependents 0`);
});
