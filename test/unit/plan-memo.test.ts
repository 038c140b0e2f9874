// The plan memo (src/engine/plan-memo.ts): a full re-sync takes the plan made
// from the same inputs instead of planning again, and still reads and repairs
// every namespace; across a restart through its file, too.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeBed } from '../fakes/index.js';
import { PlanMemo, planInputs, snapshotDigest, type Planned } from '../../src/engine/plan-memo.js';
import type { ContainerInfo, Inventory } from '../../src/docker/container.js';
import { TWINE_RT_PROTO } from '../../src/netns/types.js';
import { internTable, makeRule } from '../../src/firewall/nft.js';

const LAN = '172.30.1.0/24';
const GW = 'bbbb000000000000000000000000000000000000000000000000000000000001';
const APP = 'bbbb000000000000000000000000000000000000000000000000000000000002';

function info(id: string, name: string, ip: string, extra: Partial<ContainerInfo> = {}): ContainerInfo {
  return { id, name, pid: 10, running: true, labels: {}, networks: [{ networkId: 'n', networkName: 'lan', ipv4: ip, aliases: [], dnsNames: [] }], ...extra };
}

const PLANNED: Planned = {
  plan: { container: { id: APP, name: 'app', pid: 10 }, ns: { pid: 10 }, sysctls: [], routes: [], defaultRoutes: [], table: { chains: [] }, hostRoutes: [] },
  desired: {} as Planned['desired'],
  deps: { refs: ['gw'], ids: [GW] },
  warnings: [],
};

test('snapshot digest: independent of the store order and the namespace inode; any entry, swarm task or DNS-less network changes it', () => {
  const a = info(GW, 'gw', '172.30.1.2');
  const b = info(APP, 'app', '172.30.1.3', { labels: { 'twine.route.10.50.0.0/16': 'gw' } });
  const base = snapshotDigest({ containers: [a, b] });
  assert.equal(snapshotDigest({ containers: [b, a] }), base);
  assert.equal(snapshotDigest({ containers: [a, { ...b, netnsIno: 77 }] }), base);
  const changed: Inventory[] = [
    { containers: [a, { ...b, labels: { 'twine.route.10.51.0.0/16': 'gw' } }] },
    { containers: [info(GW, 'gw', '172.30.1.9'), b] },
    { containers: [{ ...a, networks: [{ ...a.networks[0]!, aliases: ['gw2'] }] }, b] },
    { containers: [a, b, info('cc', 'other', '172.30.1.4')] },
    { containers: [a, { ...b, pid: 11 }] },
    { containers: [a, b], remoteTasks: [info('t1', 'svc.1.t1', '10.0.9.2')] },
    { containers: [a, b], noDns: new Set(['n']) },
  ];
  for (const inv of changed) assert.notEqual(snapshotDigest(inv), base, JSON.stringify(inv));
  // The container's own entry is part of its inputs, and so is the salt (options, build).
  const inv = { containers: [a, b] };
  assert.notEqual(planInputs(a, inv, 's'), planInputs(b, inv, 's'));
  assert.notEqual(planInputs(b, inv, 's'), planInputs(b, inv, 't'));
  // Only for the snapshot's own entry: a reading not in it has no kept plan.
  assert.equal(planInputs({ ...b }, inv, 's'), undefined);
});

test('PlanMemo: taken only for the same inputs; kept through its file text; malformed entries are left out', () => {
  const m = new PlanMemo();
  m.set(APP, 'in1', PLANNED);
  assert.equal(m.get(APP, 'in1'), PLANNED);
  assert.equal(m.get(APP, 'in2'), undefined);
  assert.equal(m.get(GW, 'in1'), undefined);
  // A second container with the same table: written once, shared again when read.
  m.set(GW, 'in1', { ...PLANNED, plan: { ...PLANNED.plan, container: { id: GW, name: 'gw', pid: 11 }, table: { chains: [] } } });
  const text = JSON.parse(m.serialize()) as { format: number; entries: { id: string; planned: { plan: { table: unknown } } }[]; shared: unknown[] };
  assert.equal(text.shared.length, 1);
  assert.deepEqual(text.entries.map((e) => e.planned.plan.table), [0, 0]);
  const two = new PlanMemo();
  two.parse(JSON.stringify(text));
  assert.equal(two.get(APP, 'in1')!.plan.table, two.get(GW, 'in1')!.plan.table, 'one table object');
  text.entries.splice(1, 1);
  const bad = (planned: unknown): unknown => ({ id: 'x', inputs: 'x', planned });
  (text.entries as unknown[]).push(
    bad({ ...PLANNED, plan: { ...PLANNED.plan, table: 0, routes: 'no' } }),
    bad({ ...PLANNED, plan: { ...PLANNED.plan, table: 7 } }),
    bad({ ...PLANNED, plan: { ...PLANNED.plan, table: 0 }, deps: {} }),
    { id: 'z', inputs: 1, planned: { ...PLANNED, plan: { ...PLANNED.plan, table: 0 } } },
    'junk',
    null,
  );
  const back = new PlanMemo();
  back.parse(JSON.stringify(text));
  assert.equal(back.size, 1);
  assert.deepEqual(back.get(APP, 'in1'), PLANNED);
  back.parse('{not json');
  back.parse(JSON.stringify({ format: 99, entries: [{ id: GW, inputs: 'x', planned: PLANNED }] }));
  assert.equal(back.size, 1);
  back.retain(new Set([GW]));
  assert.equal(back.size, 0);
});

test('PlanMemo: plans read back share one table object per distinct table, the one the compiler gives', () => {
  const rule = makeRule('TWINE_INPUT', [{ accept: null }], 'memo test');
  const table = internTable({ chains: [{ name: 'TWINE_INPUT', rules: [rule] }] });
  const m = new PlanMemo();
  m.set(APP, 'a', { ...PLANNED, plan: { ...PLANNED.plan, table } });
  m.set(GW, 'g', { ...PLANNED, plan: { ...PLANNED.plan, table } });
  const text = JSON.parse(m.serialize()) as { format: number; entries: unknown[]; shared: unknown[] };
  assert.equal(text.shared.length, 1, 'written once');
  // A table whose rules are not objects is still taken, unshared, and breaks nothing.
  text.shared.push({ chains: [{ name: 'X', rules: 'no' }] });
  text.entries.push({ id: 'odd', inputs: 'o', planned: { ...PLANNED, plan: { ...PLANNED.plan, table: text.shared.length - 1 } } });
  const back = new PlanMemo();
  back.parse(JSON.stringify(text));
  assert.equal(back.size, 3);
  assert.equal(back.get(APP, 'a')?.plan.table, table);
  assert.equal(back.get(GW, 'g')?.plan.table, table);
  assert.equal(back.get('odd', 'o')?.plan.table.chains[0]?.name, 'X');
});

/** A gateway and an app that routes 10.50.0.0/16 via it and forwards 8080 to it. */
function bed(memo: PlanMemo): FakeBed {
  const b = new FakeBed({}, { planMemo: memo });
  b.network('lan', LAN);
  b.create({ id: GW, name: 'gw', labels: { 'twine.nat.interfaces': 'eth0' }, networks: [{ network: 'lan', ip: '172.30.1.2' }] });
  b.create({ id: APP, name: 'app', labels: { 'twine.route.10.50.0.0/16': 'gw', 'twine.nat.forward.8080': 'gw:80' }, networks: [{ network: 'lan', ip: '172.30.1.3' }] });
  return b;
}

async function sync(b: FakeBed, why: string): Promise<string[]> {
  const from = b.txs.length;
  await b.engine.syncAll(why);
  await b.settle();
  return b.txs.slice(from).map((t) => `${t.container} ${t.result}`).sort();
}

test('a re-sync with unchanged inputs plans nothing again, yet reads every namespace and repairs drift', async () => {
  const memo = new PlanMemo();
  const b = bed(memo);
  b.run(GW);
  b.run(APP);
  assert.deepEqual(await sync(b, 'start-up'), ['app applied', 'gw applied']);
  assert.equal(b.engine.lastResync.plansReused, 0);
  const planned = b.engine.container('app')!.plan;

  const reads = b.spaces.callsIn(b.nsOf(APP)).length;
  assert.deepEqual(await sync(b, 'resync'), ['app noop', 'gw noop']);
  assert.equal(b.engine.lastResync.plansReused, 2);
  assert.ok(b.spaces.callsIn(b.nsOf(APP)).length > reads, "the app's namespace was read");
  assert.equal(b.engine.container('app')!.plan, planned, 'the same plan object: not made again');

  // The kernel changed, the inputs did not: the plan is still taken, and the diff repairs it.
  const routes = b.routesIn(APP);
  routes.splice(routes.findIndex((r) => r.dst === '10.50.0.0/16'), 1);
  assert.deepEqual(await sync(b, 'resync'), ['app applied', 'gw noop']);
  assert.deepEqual([b.engine.lastResync.plansReused, b.engine.lastResync.inSync, b.engine.lastResync.applied], [2, 1, 1]);
  assert.equal(b.routesIn(APP).find((r) => r.dst === '10.50.0.0/16' && r.protocol === TWINE_RT_PROTO)?.gateway, '172.30.1.2');
});

test('across a restart: the saved plans are taken while nothing changed, drift in the kernel is still repaired, a changed input is planned again', async () => {
  const memo = new PlanMemo();
  const b = bed(memo);
  b.run(GW);
  b.run(APP);
  await sync(b, 'start-up');
  const saved = memo.serialize();

  // Twine is down: the app's route goes and its table loses a rule.
  const routes = b.routesIn(APP);
  routes.splice(routes.findIndex((r) => r.dst === '10.50.0.0/16'), 1);
  const table = b.spaces.get(b.nsOf(APP)).table!;
  const ruleAt = table.findIndex((o) => 'rule' in o);
  table.splice(ruleAt, 1);

  const again = new PlanMemo();
  again.parse(saved);
  b.restartEngine({ planMemo: again });
  assert.deepEqual(await sync(b, 'start-up'), ['app applied', 'gw noop']);
  assert.equal(b.engine.lastResync.plansReused, 2, 'both plans taken from the saved ones');
  assert.equal(b.routesIn(APP).find((r) => r.dst === '10.50.0.0/16')?.gateway, '172.30.1.2');
  assert.equal(b.spaces.get(b.nsOf(APP)).table!.filter((o) => 'rule' in o).length, table.filter((o) => 'rule' in o).length + 1, 'the rule is back');
  const status = b.engine.container('app')!;
  assert.ok(status.applied?.routes.some((r) => r.dst === '10.50.0.0/16'), 'the status shows the plan');
  // The dependency graph has the kept plan's references (the status shows them from the next transaction).
  assert.deepEqual(await sync(b, 'resync'), ['app noop', 'gw noop']);
  assert.deepEqual(b.engine.container('app')!.dependencies, { refs: ['gw'], ids: [GW] });

  // The gateway restarts on a new address while Twine is down: every input changed, so both are planned again.
  const moved = memo.serialize();
  b.stop(GW);
  b.docker.containers.get(GW)!.networks = [{ network: 'lan', ip: '172.30.1.9' }];
  b.run(GW);
  const third = new PlanMemo();
  third.parse(moved);
  b.restartEngine({ planMemo: third });
  assert.deepEqual(await sync(b, 'start-up'), ['app applied', 'gw applied']);
  assert.equal(b.engine.lastResync.plansReused, 0);
  assert.equal(b.routesIn(APP).find((r) => r.dst === '10.50.0.0/16')?.gateway, '172.30.1.9');
});
