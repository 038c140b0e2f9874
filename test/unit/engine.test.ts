// The engine against fakes of Docker, the netns backend, the nft transport and
// the host (test/fakes/): what it records (status documents, TxEvents) and
// what it wrote where, for the orderings and failures that matter.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dockerEvent, FakeBed, HOST_INO, HOST_NETNS } from '../fakes/index.js';
import { COUNTER_READ_MS } from '../../src/engine/counters.js';
import { TWINE_RT_PROTO, type Route } from '../../src/netns/types.js';
import { dnsServersFromResolvConf } from '../../src/docker/resolv-conf.js';
import { syncHostRoutes } from '../../src/engine/host-routes.js';

const LAN = '172.30.1.0/24';
const GW = 'aaaa000000000000000000000000000000000000000000000000000000000001';
const APP = 'aaaa000000000000000000000000000000000000000000000000000000000002';
const OTHER = 'aaaa000000000000000000000000000000000000000000000000000000000003';

/** A gateway and an app that routes 10.50.0.0/16 via it, both on one bridge network. */
function gatewayAndApp(opts: { gwIp?: string; appLabels?: Record<string, string>; engine?: ConstructorParameters<typeof FakeBed>[0] } = {}): FakeBed {
  const bed = new FakeBed(opts.engine);
  bed.network('lan', LAN);
  bed.create({ id: GW, name: 'gw', labels: { 'twine.nat.interfaces': 'eth0' }, networks: [{ network: 'lan', ip: opts.gwIp ?? '172.30.1.2' }] });
  bed.create({ id: APP, name: 'app', labels: opts.appLabels ?? { 'twine.route.10.50.0.0/16': 'gw' }, networks: [{ network: 'lan', ip: '172.30.1.3' }] });
  return bed;
}

function twineRoute(bed: FakeBed, id: string, dst: string): Route | undefined {
  return bed.routesIn(id).find((r) => r.dst === dst && r.protocol === TWINE_RT_PROTO);
}

async function started(bed: FakeBed, ...ids: string[]): Promise<void> {
  for (const id of ids) bed.run(id);
  await bed.engine.syncAll('start-up');
  await bed.settle();
}

/** Both applied, then the app stopped (Docker's die event handled): ready for the app's next start. */
async function appStopped(): Promise<FakeBed> {
  const bed = gatewayAndApp();
  await started(bed, GW, APP);
  bed.stop(APP);
  bed.event('die', APP);
  await bed.settle();
  return bed;
}

test('start-up sync: each labelled container is applied in its own namespace, one TxEvent each', async () => {
  const bed = gatewayAndApp();
  await started(bed, GW, APP);
  assert.deepEqual(bed.txs.map((t) => [t.container, t.result]).sort(), [['app', 'applied'], ['gw', 'applied']]);
  assert.equal(twineRoute(bed, APP, '10.50.0.0/16')?.gateway, '172.30.1.2');
  assert.equal(twineRoute(bed, GW, '10.50.0.0/16'), undefined);
  // The app has no firewall content (it publishes no port: no reply mark), the gateway its NAT.
  assert.equal(bed.spaces.batchesIn(bed.nsOf(APP)).length, 0);
  assert.equal(bed.spaces.batchesIn(bed.nsOf(GW)).length, 1);
  // Nothing went anywhere else (no pid or path targets, nothing on the host).
  const where = new Set(bed.spaces.calls.map((c) => c.ns));
  assert.deepEqual([...where].sort(), [bed.nsOf(APP), bed.nsOf(GW)].sort());
  const app = bed.engine.container('app');
  assert.equal(app?.running, true);
  assert.equal(app?.lastError, undefined);
  assert.ok(app?.applied?.routes.some((r) => r.dst === '10.50.0.0/16' && r.gateway === '172.30.1.2'));
  assert.equal(bed.host.openHandles, 0, 'every namespace handle closed');
  // A second sync finds everything in place: noop, nothing sent.
  const batches = bed.spaces.calls.filter((c) => c.op === 'nft apply').length;
  await bed.engine.syncAll('resync');
  await bed.settle();
  assert.deepEqual(bed.txs.slice(2).map((t) => t.result), ['noop', 'noop']);
  assert.equal(bed.spaces.calls.filter((c) => c.op === 'nft apply').length, batches);
});

test('re-syncs reuse earlier inspects while the list shows the same endpoints; a restart while unnoticed is inspected again and still checked in its namespace', async () => {
  const bed = gatewayAndApp();
  await started(bed, GW, APP);
  const inspects = (): string[] => bed.docker.requests.filter((r) => r.startsWith('inspect'));
  assert.deepEqual(inspects().sort(), [`inspect ${GW}`, `inspect ${APP}`]);
  assert.deepEqual(bed.engine.lastResync, { reused: 0, inspected: 2, plansReused: 0, inSync: 0, applied: 2 });
  const seen = bed.docker.requests.length;
  await bed.engine.syncAll('resync');
  await bed.settle();
  assert.deepEqual(bed.engine.lastResync, { reused: 2, inspected: 0, plansReused: 2, inSync: 2, applied: 0 });
  assert.deepEqual(bed.docker.requests.slice(seen).filter((r) => r.startsWith('inspect')), [], 'nothing inspected');
  assert.deepEqual(bed.txs.slice(2).map((t) => t.result), ['noop', 'noop'], 'both namespaces still observed');

  // The app restarts and no event says so (Twine was disconnected): new process, new endpoints.
  bed.stop(APP);
  bed.run(APP);
  const before = bed.docker.requests.length;
  await bed.engine.syncAll('resync');
  await bed.settle();
  assert.deepEqual(bed.docker.requests.slice(before).filter((r) => r.startsWith('inspect')), [`inspect ${APP}`]);
  assert.equal(twineRoute(bed, APP, '10.50.0.0/16')?.gateway, '172.30.1.2', 'applied in its new namespace');
  assert.equal(bed.engine.container('app')?.lastError, undefined);

  // Renamed without an event: the name differs from the cached inspect's, so it is inspected.
  bed.docker.containers.get(GW)!.name = 'gw2';
  const again = bed.docker.requests.length;
  await bed.engine.syncAll('resync');
  await bed.settle();
  assert.deepEqual(bed.docker.requests.slice(again).filter((r) => r.startsWith('inspect')), [`inspect ${GW}`]);
  assert.equal(bed.engine.container('gw2')?.name, 'gw2');
});

test('dependents re-pointed: the gateway restarts on a new address, the app routes via it', async () => {
  const bed = gatewayAndApp();
  await started(bed, GW, APP);
  const appNs = bed.nsOf(APP);
  bed.stop(GW);
  bed.event('die', GW);
  await bed.settle();
  bed.docker.containers.get(GW)!.networks = [{ network: 'lan', ip: '172.30.1.9' }];
  bed.run(GW);
  bed.event('start', GW);
  await bed.settle();
  assert.equal(twineRoute(bed, APP, '10.50.0.0/16')?.gateway, '172.30.1.9');
  assert.equal(bed.nsOf(APP), appNs, 'the app was not restarted');
  const last = bed.txsOf('app').at(-1)!;
  assert.equal(last.result, 'applied', `${bed.engine.container('app')?.lastError} ${JSON.stringify(bed.txsOf('app').map((t) => [t.result, t.reasons]))}`);
  assert.ok(last.reasons.some((r) => r.startsWith('dependency gw')), last.reasons.join(','));
  assert.deepEqual(bed.engine.container('app')?.dependencies?.ids, [GW]);
});

test('kill switch: the gateway dies, the app\'s route through it becomes unreachable in the app\'s namespace', async () => {
  const bed = gatewayAndApp();
  await started(bed, GW, APP);
  const gwNsCalls = bed.spaces.callsIn(bed.nsOf(GW)).length;
  bed.stop(GW);
  bed.event('die', GW);
  await bed.settle();
  const r = twineRoute(bed, APP, '10.50.0.0/16');
  assert.equal(r?.type, 'unreachable');
  assert.equal(r?.gateway, undefined);
  assert.equal(bed.engine.container('app')?.applied?.routes[0]?.type, 'unreachable');
  assert.equal(bed.engine.container('gw')?.running, false);
  assert.equal(bed.engine.container('gw')?.applied, undefined);
  assert.equal(bed.spaces.callsIn(bed.nsOf(GW)).length, gwNsCalls, 'nothing written into the dead gateway');
  const tx = bed.txsOf('app').at(-1)!;
  assert.equal(tx.result, 'applied');
  assert.ok(tx.reasons.includes('dependency gw die'), tx.reasons.join(','));
});

test('a NAT gateway\'s kill switch counter is read from its own namespace, by the native reader (never through libnftables)', async () => {
  const bed = gatewayAndApp();
  await started(bed, GW, APP);
  const gw = bed.engine.container('gw')!;
  const from = bed.spaces.calls.length;
  assert.equal(await bed.engine.killSwitchDrops(gw), 0);
  assert.equal(await bed.engine.killSwitchDrops(bed.engine.container('app')!), undefined, 'no kill switch without nat');
  assert.deepEqual(bed.spaces.calls.slice(from), [{ op: 'batch', ns: bed.nsOf(GW), arg: [{ op: 'nftTableRead', table: { family: 'inet', name: 'twine' } }] }]);
  assert.deepEqual(bed.spaces.calls.filter((c) => c.op === 'nft list'), [], 'no table listed through the nft transport');
});

test('invalid labels: an invalid TxEvent, the error in the status, nothing written', async () => {
  const bed = gatewayAndApp({ appLabels: { 'twine.rout.10.0.0.0/8': 'gw' } });
  await started(bed, GW, APP);
  const tx = bed.txsOf('app');
  assert.deepEqual(tx.map((t) => t.result), ['invalid']);
  const s = bed.engine.container('app')!;
  assert.match(s.lastError ?? '', /twine\.rout\.10\.0\.0\.0\/8/);
  assert.ok(s.labelErrors.length >= 1);
  assert.equal(s.applied, undefined);
  assert.deepEqual(bed.spaces.callsIn(bed.nsOf(APP)), [], 'nothing entered the app\'s namespace');
  // Reported once: a re-sync with the same labels reports it again (a transaction), but still writes nothing.
  await bed.engine.syncAll('resync');
  await bed.settle();
  assert.deepEqual(bed.spaces.callsIn(bed.nsOf(APP)), []);
});

test('event ordering: a die handled while a re-sync lists containers is not undone by the listing', async () => {
  const bed = gatewayAndApp();
  await started(bed, GW, APP);
  let release!: () => void;
  bed.docker.holdList = new Promise<void>((r) => (release = r));
  const sync = bed.engine.syncAll('resync');
  await new Promise<void>((r) => setImmediate(r));
  assert.equal(bed.docker.count('list'), 2, 'the re-sync is listing');
  // The listing (already taken) still shows the app running; its die event comes meanwhile.
  bed.stop(APP);
  bed.event('die', APP);
  bed.docker.holdList = undefined;
  release();
  await sync;
  await bed.settle();
  const app = bed.engine.container('app')!;
  assert.equal(app.running, false);
  assert.equal(app.applied, undefined);
  assert.equal(bed.engine.containers().find((c) => c.name === 'app')?.running, false);
});

test('event ordering: start then die of one container coalesce into the later state', async () => {
  const bed = gatewayAndApp();
  await started(bed, GW);
  bed.run(APP);
  bed.event('start', APP);
  bed.stop(APP);
  bed.event('die', APP);
  await bed.settle();
  const app = bed.engine.container('app');
  assert.ok(app === undefined || (app.running === false && app.applied === undefined), JSON.stringify(app));
});

test('start path without inspect: the container\'s cgroup and /proc give the start, the inspect only confirms', async () => {
  const bed = await appStopped();
  const inspects = bed.docker.count(`inspect ${APP}`);
  const n = bed.txsOf('app').length;
  bed.run(APP);
  bed.event('start', APP);
  await bed.settle();
  const after = bed.txsOf('app').slice(n);
  assert.deepEqual(after.map((t) => t.result), ['applied'], 'one transaction: the confirming inspect adds none');
  assert.equal(after[0]!.stages?.inspectMs, 0);
  assert.ok(after[0]!.stages?.startInfoMs !== undefined);
  assert.equal(bed.docker.count(`inspect ${APP}`), inspects + 1, 'inspected once, after the transaction');
  assert.equal(twineRoute(bed, APP, '10.50.0.0/16')?.gateway, '172.30.1.2');
});

test('start path fallback: no process in the cgroup, so the start is inspected first', async () => {
  const bed = await appStopped();
  const n = bed.txsOf('app').length;
  bed.run(APP, { inCgroup: false });
  bed.event('start', APP);
  await bed.settle();
  const after = bed.txsOf('app').slice(n);
  assert.deepEqual(after.map((t) => t.result), ['applied']);
  assert.equal(after[0]!.stages?.startInfoMs, undefined, 'not the start path');
  assert.equal(twineRoute(bed, APP, '10.50.0.0/16')?.gateway, '172.30.1.2');
});

test('start path fallback: interfaces that do not match its networks, so the start is inspected first', async () => {
  const bed = await appStopped();
  const n = bed.txsOf('app').length;
  const p = bed.run(APP);
  p.addrs = p.addrs!.map((a) => (a.ifname === 'eth0' ? { ...a, address: '192.168.77.3' } : a));
  bed.event('start', APP);
  await bed.settle();
  const after = bed.txsOf('app').slice(n);
  assert.deepEqual(after.map((t) => t.result), ['applied']);
  assert.equal(after[0]!.stages?.startInfoMs, undefined);
});

test('refused: network_mode host is refused before any namespace is opened, nothing written', async () => {
  const bed = gatewayAndApp();
  bed.create({ id: OTHER, name: 'hosty', labels: { 'twine.route.10.60.0.0/16': 'gw' }, networkMode: 'host' });
  bed.run(OTHER, { ino: HOST_INO });
  await started(bed, GW, APP);
  assert.deepEqual(bed.txsOf('hosty').map((t) => t.result), ['refused']);
  const s = bed.engine.container('hosty')!;
  assert.equal(s.refusal?.reason, 'network_mode');
  assert.match(s.lastError ?? '', /network_mode host/);
  assert.equal(s.applied, undefined);
  assert.deepEqual(bed.spaces.callsIn(`ino:${HOST_INO}`), []);
  assert.equal(bed.host.openHandles, 0);
  // The others are served as usual.
  assert.equal(twineRoute(bed, APP, '10.50.0.0/16')?.gateway, '172.30.1.2');
});

test('refused: a process in the host\'s namespace (by inode) is refused, its handle closed, nothing written', async () => {
  const bed = gatewayAndApp();
  bed.run(GW);
  bed.run(APP, { ino: HOST_INO });
  await bed.engine.syncAll('start-up');
  await bed.settle();
  const s = bed.engine.container('app')!;
  assert.deepEqual(bed.txsOf('app').map((t) => t.result), ['refused']);
  assert.equal(s.refusal?.reason, 'host');
  assert.deepEqual(bed.spaces.callsIn(`ino:${HOST_INO}`), []);
  assert.equal(bed.host.openHandles, 0);
});

test('refused: container:<victim> is refused naming the victim; the victim gets only its own transaction', async () => {
  const bed = gatewayAndApp({ appLabels: { 'twine.route.10.50.0.0/16': 'gw', 'twine.iptables.rule.x': 'TWINE_INPUT -p tcp --dport 9 -j DROP' } });
  bed.create({ id: OTHER, name: 'joiner', labels: { 'twine.route.10.70.0.0/16': 'gw' }, networkMode: `container:${APP}` });
  bed.run(GW);
  const victim = bed.run(APP);
  bed.run(OTHER, { ino: victim.ino });
  await bed.engine.syncAll('start-up');
  await bed.settle();
  const s = bed.engine.container('joiner')!;
  assert.deepEqual(bed.txsOf('joiner').map((t) => t.result), ['refused']);
  assert.equal(s.refusal?.reason, 'network_mode');
  assert.equal(s.refusal?.sharedWith, 'app');
  assert.deepEqual(bed.txsOf('app').map((t) => t.result), ['applied']);
  assert.equal(bed.spaces.batchesIn(`ino:${victim.ino}`).length, 1);
  assert.equal(twineRoute(bed, APP, '10.70.0.0/16'), undefined, 'nothing of the joiner\'s labels in the victim');
  assert.equal(bed.host.openHandles, 0);
});

test('refused: two containers that both claim one namespace (by inode) are both refused', async () => {
  const bed = gatewayAndApp();
  bed.create({ id: OTHER, name: 'mover', labels: { 'twine.route.10.70.0.0/16': 'gw' }, networks: [{ network: 'lan', ip: '172.30.1.4' }] });
  bed.run(GW);
  const victim = bed.run(APP);
  bed.run(OTHER, { ino: victim.ino });
  await bed.engine.syncAll('start-up');
  await bed.settle();
  for (const name of ['app', 'mover']) {
    assert.deepEqual(bed.txsOf(name).map((t) => t.result), ['refused'], name);
    assert.equal(bed.engine.container(name)?.refusal?.reason, 'shared', name);
  }
  assert.equal(bed.engine.container('mover')?.refusal?.sharedWith, 'app');
  assert.deepEqual(bed.spaces.callsIn(`ino:${victim.ino}`), []);
  assert.equal(bed.host.openHandles, 0);
});

test('namespace gone before the transaction: gone, nothing written, the container kept as applied until Docker says', async () => {
  const bed = gatewayAndApp();
  await started(bed, GW, APP);
  const n = bed.spaces.calls.length;
  // The process is gone, Docker has not said so yet (its inspect still shows it running).
  bed.kill(bed.docker.containers.get(APP)!.pid!);
  bed.engine.onEvent(dockerEvent('network', 'connect', 'net-lan', { container: APP, name: 'lan' }));
  await bed.settle();
  assert.deepEqual(bed.txsOf('app').slice(1).map((t) => t.result), ['gone']);
  assert.deepEqual(bed.spaces.calls.slice(n).filter((c) => c.ns === bed.nsOf(APP)), []);
  assert.equal(bed.host.openHandles, 0);
  bed.stop(APP);
  bed.event('die', APP);
  await bed.settle();
  assert.equal(bed.engine.container('app')?.running, false);
  assert.equal(bed.engine.container('app')?.applied, undefined);
});

test('a network disconnect of a container whose process is gone waits for its die event (Docker 28 sends it first); of a live one, it re-reads it', async () => {
  const bed = gatewayAndApp();
  await started(bed, GW, APP);
  const before = bed.txsOf('app').length;
  bed.kill(bed.docker.containers.get(APP)!.pid!);
  bed.engine.onEvent(dockerEvent('network', 'disconnect', 'net-lan', { container: APP, name: 'lan' }));
  await bed.settle();
  assert.equal(bed.txsOf('app').length, before, 'no transaction for a stopping container');
  assert.equal(bed.engine.container('app')?.running, true, 'Docker has not said it died yet');
  const gwBefore = bed.txsOf('gw').length;
  bed.engine.onEvent(dockerEvent('network', 'disconnect', 'net-lan', { container: GW, name: 'lan' }));
  await bed.settle();
  assert.ok(bed.txsOf('gw').length > gwBefore, 'a live container is read again');
});

test('namespace vanished mid-transaction: gone (not failed), nothing committed, the handle closed', async () => {
  const bed = gatewayAndApp();
  bed.run(GW);
  const app = bed.run(APP);
  bed.host.onOpen = (pid) => {
    if (pid !== app.pid) return;
    // The container stops right after its namespace was opened: its process leaves, the namespace goes.
    bed.kill(pid);
    bed.spaces.vanished.add(`ino:${app.ino}`);
  };
  await bed.engine.syncAll('start-up');
  await bed.settle();
  assert.deepEqual(bed.txsOf('app').map((t) => t.result), ['gone']);
  assert.equal(bed.engine.container('app')?.applied, undefined);
  assert.ok(bed.spaces.callsIn(`ino:${app.ino}`).length > 0, 'it did enter');
  assert.equal(bed.spaces.batchesIn(`ino:${app.ino}`).length, 0, 'no nft batch after the failed netlink step');
  assert.equal(bed.host.openHandles, 0);
  bed.stop(APP);
  bed.event('die', APP);
  await bed.settle();
  assert.equal(bed.engine.container('app')?.running, false);
  assert.deepEqual(bed.txsOf('app').map((t) => t.result), ['gone'], 'nothing retried');
});

test('a netlink failure in a namespace that is still there: failed, and retried on the next Docker event', async () => {
  const bed = gatewayAndApp();
  bed.run(GW);
  const app = bed.run(APP);
  bed.spaces.vanished.add(`ino:${app.ino}`); // every call there fails, the process stays
  await bed.engine.syncAll('start-up');
  await bed.settle();
  assert.deepEqual(bed.txsOf('app').map((t) => t.result), ['failed']);
  assert.match(bed.engine.container('app')?.lastError ?? '', /ESRCH|No such process/);
  assert.equal(bed.host.openHandles, 0);
  bed.spaces.vanished.delete(`ino:${app.ino}`);
  bed.create({ id: OTHER, name: 'other', networks: [{ network: 'lan', ip: '172.30.1.7' }] });
  bed.run(OTHER);
  bed.event('start', OTHER);
  await bed.settle();
  const last = bed.txsOf('app').at(-1)!;
  assert.equal(last.result, 'applied', `${bed.engine.container('app')?.lastError} ${JSON.stringify(bed.txsOf('app').map((t) => [t.result, t.reasons]))}`);
  assert.ok(last.reasons.some((r) => r.startsWith('retry')), last.reasons.join(','));
  assert.equal(bed.engine.container('app')?.lastError, undefined);
  assert.equal(twineRoute(bed, APP, '10.50.0.0/16')?.gateway, '172.30.1.2');
});

test('an nft batch that fails after the route was re-pointed: failed, the kill switch stays closed, the status says what is in the kernel', async () => {
  // The app's route and its forward both follow gw: a move changes both.
  const bed = gatewayAndApp({ appLabels: { 'twine.route.10.50.0.0/16': 'gw', 'twine.nat.forward.8080': 'gw:80' } });
  await started(bed, GW, APP);
  const applied = bed.engine.container('app')!.applied!;
  bed.nft.failNext = 1;
  bed.stop(GW);
  bed.event('die', GW);
  await bed.settle();
  assert.equal(bed.spaces.batchesIn(bed.nsOf(APP)).length, 2, 'the second batch was sent (and refused)');
  assert.equal(bed.txsOf('app').at(-1)?.result, 'failed');
  assert.match(bed.engine.container('app')!.lastError ?? '', /nft/);
  // The transaction's rollback goes back to what was there before it: the route re-pointed (unreachable), never via the dead gw.
  assert.equal(twineRoute(bed, APP, '10.50.0.0/16')?.type, 'unreachable');
  const now = bed.engine.container('app')!.applied!;
  const sorted = (rs: Route[]): Route[] => [...rs].sort((a, b) => `${a.table ?? 254} ${a.dst}`.localeCompare(`${b.table ?? 254} ${b.dst}`));
  assert.deepEqual(sorted(now.routes), sorted(bed.routesIn(APP).filter((r) => r.protocol === TWINE_RT_PROTO)), 'status routes = kernel routes');
  assert.deepEqual(now.table, applied.table, 'the table is the one committed before (its commit failed)');
});

test('dependents re-pointed ahead of their transactions: one route write per namespace, then the transaction reports the change', async () => {
  const bed = gatewayAndApp();
  await started(bed, GW, APP);
  const appNs = bed.nsOf(APP);
  const mark = bed.spaces.callsIn(appNs).length;
  bed.stop(GW);
  bed.event('die', GW);
  await bed.settle();
  const calls = bed.spaces.callsIn(appNs).slice(mark);
  const first = calls[0]!;
  assert.equal(first.op, 'batch');
  assert.deepEqual(
    (first.arg as { op: string; route?: Route }[]).map((st) => [st.op, st.route?.dst, st.route?.type]),
    [['routeReplace', '10.50.0.0/16', 'unreachable']],
    'the first write into the app is the re-pointed route alone',
  );
  assert.ok(calls.length > 1, 'its transaction followed');
  const tx = bed.txsOf('app').at(-1)!;
  assert.equal(tx.result, 'applied', 'the transaction reports the route change as its own');
  assert.ok(tx.reasons.some((r) => r.startsWith('dependency gw')));
  assert.equal(bed.engine.container('app')?.applied?.routes.find((r) => r.dst === '10.50.0.0/16')?.type, 'unreachable');

  // Back on a new address: the same, via the new address.
  const mark2 = bed.spaces.callsIn(appNs).length;
  bed.docker.containers.get(GW)!.networks = [{ network: 'lan', ip: '172.30.1.9' }];
  bed.run(GW);
  bed.event('start', GW);
  await bed.settle();
  const first2 = bed.spaces.callsIn(appNs)[mark2]!;
  assert.deepEqual(
    (first2.arg as { op: string; route?: Route }[]).map((st) => [st.op, st.route?.gateway]),
    [['routeReplace', '172.30.1.9']],
  );
  assert.equal(twineRoute(bed, APP, '10.50.0.0/16')?.gateway, '172.30.1.9');
  assert.equal(bed.txsOf('app').at(-1)?.result, 'applied');
  assert.equal(bed.host.openHandles, 0, 'every namespace handle closed');
});

test('re-pointing writes only into the namespace the dependent was committed in (restarted, its start not handled yet)', async () => {
  const bed = gatewayAndApp();
  await started(bed, GW, APP);
  // The app restarted in a new namespace, and its start event has not been handled yet.
  bed.stop(APP);
  const app = bed.run(APP);
  const newNs = `ino:${app.ino}`;
  bed.stop(GW);
  bed.event('die', GW);
  await bed.settle();
  assert.equal(bed.spaces.callsIn(newNs).filter((c) => c.op === 'batch' && (c.arg as { op: string }[]).every((st) => st.op === 'routeReplace')).length, 0, 'no re-point write in a namespace Twine has not committed to');
});

test('applied before the start event (early path): the start event finds it in place, one batch', async () => {
  const early = gatewayAndApp({ engine: { applyBeforeStart: true } });
  await started(early, GW);
  early.event('create', APP);
  await early.settle();
  const ready = early.nextTx((t) => t.container === 'app');
  early.run(APP);
  early.engine.onEvent(dockerEvent('network', 'connect', 'net-lan', { container: APP, name: 'lan' }));
  const first = await ready;
  assert.equal(first.result, 'applied');
  assert.deepEqual(first.reasons, ['network ready']);
  assert.equal(twineRoute(early, APP, '10.50.0.0/16')?.gateway, '172.30.1.2');
  early.event('start', APP);
  await early.settle();
  assert.deepEqual(early.txsOf('app').map((t) => t.result), ['applied', 'noop']);
  // Its network was ready before the start event: no latency to report.
  assert.equal(early.txsOf('app')[1]!.latencyMs, 0);
  assert.equal(early.engine.container('app')?.lastLatencyMs, 0);
  // No firewall content (no published port): the route is its one write.
  assert.equal(early.spaces.batchesIn(early.nsOf(APP)).length, 0);
  const writes = early.spaces.callsIn(early.nsOf(APP)).filter((c) => c.op === 'batch' && (c.arg as { op: string }[]).some((st) => st.op === 'routeReplace'));
  assert.equal(writes.length, 1);
});

test('a network connect while the early path applies queues no inspect: Docker would answer it only after the start the runtime holds', async () => {
  const early = gatewayAndApp({ engine: { applyBeforeStart: true } });
  await started(early, GW);
  early.event('create', APP);
  await early.settle();
  early.run(APP);
  let release = (): void => undefined;
  early.netns.hold = new Promise<void>((r) => (release = r));
  const alive = setInterval(() => undefined, 1000);
  early.engine.onEvent(dockerEvent('network', 'connect', 'net-lan', { container: APP, name: 'lan' }));
  while (early.netns.held === 0) await new Promise((r) => setTimeout(r, 1));
  clearInterval(alive);
  const inspects = early.docker.count(`inspect ${APP}`);
  // Docker 28 connects a second network while the first one's transaction runs.
  early.engine.onEvent(dockerEvent('network', 'connect', 'net-wan', { container: APP, name: 'wan' }));
  early.netns.hold = undefined;
  release();
  await early.settle();
  assert.deepEqual(early.txsOf('app').map((t) => [t.result, t.reasons.join(',')]), [['applied', 'network ready']]);
  assert.equal(early.docker.count(`inspect ${APP}`), inspects, 'no inspect before the start event');
  early.event('start', APP);
  await early.settle();
  assert.deepEqual(early.txsOf('app').map((t) => t.result), ['applied', 'noop']);
});

test('early path, not inspected yet (docker run on Docker 28, networks connected one by one): its networks come from the list, the first one alone is not taken as ready', async () => {
  const early = new FakeBed({ applyBeforeStart: true });
  early.network('lan', LAN);
  early.network('wan', '172.30.2.0/24');
  early.create({ id: GW, name: 'gw', labels: { 'twine.nat.interfaces': 'eth1' }, networks: [{ network: 'wan', ip: '172.30.2.2' }] });
  early.create({ id: APP, name: 'app', labels: { 'twine.route.10.50.0.0/16': 'gw' }, networks: [{ network: 'lan', ip: '172.30.1.3' }, { network: 'wan', ip: '172.30.2.3' }] });
  await started(early, GW);
  let release = (): void => undefined;
  early.docker.holdInspect = new Promise<void>((r) => (release = r));
  early.event('create', APP);
  const p = early.run(APP);
  // Only the first network is wired yet.
  const all = p.addrs!;
  p.addrs = all.filter((x) => x.ifname !== 'eth1');
  const watching = early.host.subscribedTo(p.pid);
  const alive = setInterval(() => undefined, 1000);
  early.engine.onEvent(dockerEvent('network', 'connect', 'net-lan', { container: APP, name: 'lan' }));
  await watching;
  early.host.notifyChange(p.pid);
  await early.settle();
  clearInterval(alive);
  // The list said two networks: the watch ended without a transaction.
  assert.deepEqual(early.txsOf('app'), [], 'no transaction with the first network alone');
  assert.ok(early.docker.count('get /containers/json?all=1') >= 1, 'its networks asked of the list');
  assert.equal(early.engine.busy, 1, 'only the held inspect is under way');
  p.addrs = all;
  early.docker.holdInspect = undefined;
  release();
  early.event('start', APP);
  await early.settle();
  assert.deepEqual(early.txsOf('app').map((t) => [t.result, t.reasons.join(',')]).at(-1), ['applied', 'start']);
  assert.equal(twineRoute(early, APP, '10.50.0.0/16')?.gateway, '172.30.2.2');
});

test('early path fallback: the start event comes before the namespace is ready, the start applies', async () => {
  const early = gatewayAndApp({ engine: { applyBeforeStart: true } });
  await started(early, GW);
  early.event('create', APP);
  await early.settle();
  const p = early.run(APP);
  const gateways = p.gateways;
  p.gateways = { v4: [], v6: [] }; // Docker has not added the default route yet
  const watching = early.host.subscribedTo(p.pid);
  // Keeps the process alive while the early path (unref'd timers) finds the namespace.
  const alive = setInterval(() => undefined, 1000);
  early.engine.onEvent(dockerEvent('network', 'connect', 'net-lan', { container: APP, name: 'lan' }));
  await watching;
  clearInterval(alive);
  early.host.notifyChange(p.pid); // checked: no default route yet, so it waits
  assert.deepEqual(early.txsOf('app'), []);
  early.event('start', APP);
  await early.settle();
  p.gateways = gateways;
  early.host.notifyChange(p.pid);
  await early.settle();
  const tx = early.txsOf('app');
  assert.deepEqual(tx.map((t) => [t.result, t.reasons.join(',')]), [['applied', 'start']]);
  // No firewall content (no published port): the route is its one write.
  assert.equal(early.spaces.batchesIn(early.nsOf(APP)).length, 0);
  const writes = early.spaces.callsIn(early.nsOf(APP)).filter((c) => c.op === 'batch' && (c.arg as { op: string }[]).some((st) => st.op === 'routeReplace'));
  assert.equal(writes.length, 1);
});

test('runtime hook: the start is applied before the hook is answered; a process of another container is turned away', async () => {
  const bed = gatewayAndApp();
  await started(bed, GW);
  bed.event('create', APP);
  await bed.settle();
  const p = bed.run(APP);
  const outcome = await bed.engine.runtimeApply(APP, p.pid);
  assert.deepEqual(outcome, { ok: true, applied: true, name: 'app' });
  assert.equal(twineRoute(bed, APP, '10.50.0.0/16')?.gateway, '172.30.1.2', 'in place when the hook is answered');
  assert.deepEqual(bed.txsOf('app').map((t) => t.reasons.join(',')), ['runtime hook']);
  const gwPid = bed.docker.containers.get(GW)!.pid!;
  const no = await bed.engine.runtimeApply(APP, gwPid);
  assert.equal(no.ok, false);
  await bed.settle();
});

test('runtime hook: twine.dns=required turns the start away while the lookups would leave from the host (Docker 28), and lets it go with dns: servers or on 20.10', async () => {
  const labels = { 'twine.route.0.0.0.0/0': 'gw', 'twine.dns': 'required' };
  for (const [dockerVersion, dns, ok] of [
    ['28.5.2', undefined, false],
    ['28.5.2', ['10.64.0.1'], true],
    ['20.10.24', undefined, true],
  ] as const) {
    const bed = new FakeBed({ dockerVersion });
    bed.network('lan', LAN);
    bed.create({ id: GW, name: 'gw', labels: { 'twine.nat.interfaces': 'eth0' }, networks: [{ network: 'lan', ip: '172.30.1.2' }] });
    bed.create({ id: APP, name: 'app', labels, networks: [{ network: 'lan', ip: '172.30.1.3' }], ...(dns ? { dns: [...dns] } : {}) });
    await started(bed, GW);
    bed.event('create', APP);
    await bed.settle();
    const outcome = await bed.engine.runtimeApply(APP, bed.run(APP).pid);
    assert.equal(outcome.ok, ok, `${dockerVersion} ${dns ? 'with' : 'without'} dns: ${JSON.stringify(outcome)}`);
    if (!outcome.ok) {
      assert.match(outcome.error, /app.*twine\.dns.*give the container dns: servers/s);
      assert.equal(twineRoute(bed, APP, '0.0.0.0/0'), undefined, 'nothing written');
    } else {
      assert.equal(twineRoute(bed, APP, '0.0.0.0/0')?.gateway, '172.30.1.2');
    }
    await bed.settle();
  }
});

test('runtime hook before any inspect (docker run: the inspect would wait for the start): twine.dns=required decides from the resolv.conf Docker wrote', async () => {
  const own = '# ExtServers: [10.64.0.1]\n# Overrides: [nameservers]\n';
  const host = '# ExtServers: [host(10.255.255.53)]\n# Overrides: []\n';
  for (const [conf, ok, re] of [
    [own, true, undefined],
    [host, false, /would leak/],
    [undefined, false, /not inspected/],
  ] as const) {
    const bed = new FakeBed({ dockerVersion: '28.5.2' });
    bed.network('lan', LAN);
    bed.create({ id: GW, name: 'gw', labels: { 'twine.nat.interfaces': 'eth0' }, networks: [{ network: 'lan', ip: '172.30.1.2' }] });
    bed.create({ id: APP, name: 'app', labels: { 'twine.route.0.0.0.0/0': 'gw', 'twine.dns': 'required' }, networks: [{ network: 'lan', ip: '172.30.1.3' }] });
    await started(bed, GW);
    const p = bed.run(APP);
    if (conf !== undefined) p.resolvConf = conf;
    const outcome = await bed.engine.runtimeApply(APP, p.pid);
    assert.equal(outcome.ok, ok, `${JSON.stringify(conf)}: ${JSON.stringify(outcome)}`);
    if (!outcome.ok && re) assert.match(outcome.error, re);
    await bed.settle();
  }
});

test('resolv.conf: the own DNS servers Docker wrote down; undefined when it did not say', () => {
  assert.deepEqual(dnsServersFromResolvConf('nameserver 127.0.0.11\noptions ndots:0\n\n# ExtServers: [198.18.7.7 10.64.0.1]\n# Overrides: [nameservers]\n'), ['198.18.7.7', '10.64.0.1']);
  assert.deepEqual(dnsServersFromResolvConf('nameserver 127.0.0.11\n# ExtServers: [host(10.255.255.53)]\n# Overrides: []\n# Option ndots from: internal\n'), []);
  assert.deepEqual(dnsServersFromResolvConf('# ExtServers: [host(127.0.0.53) 10.0.0.1]\n# Overrides: [search nameservers]\n'), ['10.0.0.1']);
  assert.equal(dnsServersFromResolvConf('nameserver 10.255.255.53\n# Based on host file\n# Overrides: []\n'), undefined, 'the default bridge: no embedded resolver');
  assert.equal(dnsServersFromResolvConf('nameserver 127.0.0.11\noptions ndots:0\n'), undefined, 'an engine that writes no comments');
});

test('label limits: too many routes is invalid, naming the container and the option, nothing written', async () => {
  const bed = new FakeBed({ limits: { labels: 1024, rules: 4096, routes: 2 } });
  bed.network('lan', LAN);
  const labels = { 'twine.route.10.1.0.0/16': '172.30.1.1', 'twine.route.10.2.0.0/16': '172.30.1.1', 'twine.route.10.3.0.0/16': '172.30.1.1' };
  bed.create({ id: APP, name: 'app', labels, networks: [{ network: 'lan', ip: '172.30.1.3' }] });
  await started(bed, APP);
  assert.deepEqual(bed.txsOf('app').map((t) => t.result), ['invalid']);
  const err = bed.engine.container('app')?.lastError ?? '';
  assert.match(err, /app/);
  assert.match(err, /--max-routes/);
  assert.deepEqual(bed.spaces.callsIn(bed.nsOf(APP)), []);
});

/** A bed whose daemon may change the host's routes; the host is on 192.0.2.0/24 (its own namespace: `path:`). */
function hostRoutesBed(): FakeBed {
  const bed = new FakeBed({ allowHostRoutes: true });
  bed.netns.addrs.set(`path:${HOST_NETNS}`, [{ ifindex: 2, ifname: 'eth0', family: 4, address: '192.0.2.10', prefixlen: 24 }]);
  bed.network('lan', LAN);
  return bed;
}

test('host routes: put on the host via the container, removed when it stops', async () => {
  const bed = hostRoutesBed();
  bed.create({ id: GW, name: 'gw', labels: { 'twine.host.routes': '10.80.0.0/16' }, networks: [{ network: 'lan', ip: '172.30.1.2' }] });
  await started(bed, GW);
  const host = (): Route[] => bed.spaces.get(`path:${HOST_NETNS}`).routes;
  assert.deepEqual(host().map((r) => [r.dst, r.gateway, r.protocol]), [['10.80.0.0/16', '172.30.1.2', TWINE_RT_PROTO]]);
  bed.stop(GW);
  bed.event('die', GW);
  await bed.settle();
  assert.deepEqual(host(), []);
});

test('host routes: a prefix another container holds is invalid, naming the holder; the holder keeps it', async () => {
  const bed = hostRoutesBed();
  bed.create({ id: GW, name: 'gw', labels: { 'twine.host.routes': '10.80.0.0/16' }, networks: [{ network: 'lan', ip: '172.30.1.2' }] });
  bed.create({ id: OTHER, name: 'late', labels: { 'twine.host.routes': '10.80.0.0/16' }, networks: [{ network: 'lan', ip: '172.30.1.4' }] });
  await started(bed, GW);
  bed.run(OTHER);
  bed.event('start', OTHER);
  await bed.settle();
  assert.deepEqual(bed.txsOf('late').map((t) => t.result), ['invalid']);
  assert.match(bed.engine.container('late')?.lastError ?? '', /gw/);
  assert.deepEqual(bed.spaces.get(`path:${HOST_NETNS}`).routes.map((r) => r.gateway), ['172.30.1.2']);
});

test('host routes: a prefix equal to a static route of the host is refused naming it; the host\'s route stays, also after the container is removed', async () => {
  const bed = hostRoutesBed();
  const hostNs = `path:${HOST_NETNS}`;
  const statik: Route = { family: 4, dst: '10.240.0.0/16', type: 'unicast', gateway: '192.0.2.62', dev: 'eth0', protocol: 4 };
  bed.spaces.get(hostNs).routes.push(statik);
  bed.create({ id: GW, name: 'gw', labels: { 'twine.host.routes': '10.240.0.0/16' }, networks: [{ network: 'lan', ip: '172.30.1.2' }] });
  await started(bed, GW);
  assert.deepEqual(bed.txsOf('gw').map((t) => t.result), ['invalid']);
  assert.match(bed.engine.container('gw')?.lastError ?? '', /twine\.host\.routes="10\.240\.0\.0\/16": 10\.240\.0\.0\/16 overlaps 10\.240\.0\.0\/16, a route of the host \(via 192\.0\.2\.62 dev eth0, table main, proto 4\)/);
  assert.deepEqual(bed.spaces.get(hostNs).routes, [statik]);
  assert.deepEqual(bed.spaces.callsIn(hostNs).filter((c) => !['addrList', 'routeList'].includes(c.op)), [], 'nothing written on the host');
  bed.stop(GW);
  bed.event('die', GW);
  bed.docker.containers.delete(GW);
  bed.event('destroy', GW);
  await bed.settle();
  assert.deepEqual(bed.spaces.get(hostNs).routes, [statik], "the host's route is still there");
});

test('host routes: a route of the host with the same key that came after the plan is never replaced (exclusive add), nor deleted when the container goes', async () => {
  const hostNs = { path: '/fake/host' };
  const bed = hostRoutesBed();
  const statik: Route = { family: 4, dst: '10.240.0.0/16', type: 'unicast', gateway: '192.0.2.62', dev: 'eth0', protocol: 4 };
  bed.spaces.get(`path:${hostNs.path}`).routes.push(statik);
  const mine: Route = { family: 4, dst: '10.240.0.0/16', type: 'unicast', gateway: '172.30.1.2', protocol: TWINE_RT_PROTO };
  const r = await syncHostRoutes(bed.netns, hostNs, [{ id: GW, routes: [mine] }]);
  assert.deepEqual(r.replaced, []);
  assert.deepEqual(r.failures.map((f) => [f.route?.dst, (f.error as { code?: string }).code, f.owners]), [['10.240.0.0/16', 'EEXIST', [GW]]]);
  assert.deepEqual(bed.spaces.get(`path:${hostNs.path}`).routes, [statik]);
  assert.deepEqual(bed.spaces.callsIn(`path:${hostNs.path}`).map((c) => c.op), ['routeList', 'routeAdd']);
  // The container goes: nothing of Twine's protocol there, nothing deleted.
  const gone = await syncHostRoutes(bed.netns, hostNs, []);
  assert.deepEqual([gone.deleted, gone.failures], [[], []]);
  assert.deepEqual(bed.spaces.get(`path:${hostNs.path}`).routes, [statik]);
  // Twine's own route (proto 74) changes gateway: replaced in place, as before.
  const other = { path: '/fake/host2' };
  await syncHostRoutes(bed.netns, other, [{ id: GW, routes: [mine] }]);
  await syncHostRoutes(bed.netns, other, [{ id: GW, routes: [{ ...mine, gateway: '172.30.1.9' }] }]);
  assert.deepEqual(bed.spaces.callsIn(`path:${other.path}`).map((c) => c.op), ['routeList', 'routeAdd', 'routeList', 'routeReplace']);
  assert.deepEqual(bed.spaces.get(`path:${other.path}`).routes.map((x) => x.gateway), ['172.30.1.9']);
});

test('host routes: a default route for the host is refused, nothing written there', async () => {
  const bed = hostRoutesBed();
  bed.create({ id: GW, name: 'gw', labels: { 'twine.host.routes': '0.0.0.0/0' }, networks: [{ network: 'lan', ip: '172.30.1.2' }] });
  await started(bed, GW);
  assert.deepEqual(bed.txsOf('gw').map((t) => t.result), ['invalid']);
  assert.match(bed.engine.container('gw')?.lastError ?? '', /twine\.host\.routes/);
  assert.deepEqual(bed.spaces.callsIn(`path:${HOST_NETNS}`).filter((c) => c.op !== 'addrList' && c.op !== 'routeList'), []);
});

test("drift: a rule replaced in place (its comment kept) and a base chain's policy made drop are repaired at the next re-sync", async () => {
  const bed = gatewayAndApp();
  await started(bed, GW, APP);
  const table = (): Record<string, Record<string, unknown>>[] => bed.spaces.get(bed.nsOf(GW)).table as Record<string, Record<string, unknown>>[];
  const committed = structuredClone(table());
  const victim = table().find((o) => o.rule !== undefined && typeof o.rule.comment === 'string')!;
  const original = structuredClone(victim.rule!.expr);
  victim.rule!.expr = [{ match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 8 } }, { drop: null }];
  const n = bed.txsOf('gw').length;
  await bed.engine.syncAll('resync');
  await bed.settle();
  assert.deepEqual(bed.txsOf('gw').slice(n).map((t) => t.result), ['applied']);
  const back = table().find((o) => o.rule?.comment === victim.rule!.comment)!;
  assert.deepEqual(back.rule!.expr, original, 'the statements Twine committed');

  const base = table().find((o) => o.chain !== undefined && o.chain.hook !== undefined)!;
  base.chain!.policy = 'drop';
  await bed.engine.syncAll('resync');
  await bed.settle();
  assert.deepEqual(bed.txsOf('gw').slice(n).map((t) => t.result), ['applied', 'applied']);
  assert.equal(table().find((o) => o.chain?.name === base.chain!.name)!.chain!.policy, 'accept');
  // In sync again: the next re-sync changes nothing.
  await bed.engine.syncAll('resync');
  await bed.settle();
  assert.deepEqual(bed.txsOf('gw').slice(n).map((t) => t.result), ['applied', 'applied', 'noop']);
  assert.equal(table().filter((o) => o.rule).length, committed.filter((o) => o.rule).length);
  assert.deepEqual(bed.spaces.calls.filter((c) => c.op === 'nft list'), [], 'read natively: libnftables parses nothing of the namespace');
});

test('refused: a namespace holding more than one read may take is refused (oversized), nothing written, and served once it is not', async () => {
  const bed = gatewayAndApp();
  bed.run(GW);
  bed.run(APP);
  bed.spaces.oversized.add(bed.nsOf(APP));
  await bed.engine.syncAll('start-up');
  await bed.settle();
  // The start-up sync writes a fresh namespace without reading it; the next re-sync reads it.
  bed.spaces.get(bed.nsOf(APP));
  await bed.engine.syncAll('resync');
  await bed.settle();
  const s = bed.engine.container('app')!;
  assert.equal(bed.txsOf('app').at(-1)?.result, 'refused');
  assert.equal(s.refusal?.reason, 'oversized');
  assert.match(s.lastError ?? '', /more than one read may take/);
  const writes = bed.spaces.callsIn(bed.nsOf(APP)).filter((c) => c.op === 'nft apply').length;
  await bed.engine.syncAll('resync');
  await bed.settle();
  assert.equal(bed.txsOf('app').at(-1)?.result, 'refused', 'refused again at each re-sync, not retried as drift');
  assert.equal(bed.spaces.callsIn(bed.nsOf(APP)).filter((c) => c.op === 'nft apply').length, writes, 'nothing written');
  bed.spaces.oversized.delete(bed.nsOf(APP));
  await bed.engine.syncAll('resync');
  await bed.settle();
  assert.equal(bed.engine.container('app')?.refusal, undefined);
  assert.equal(twineRoute(bed, APP, '10.50.0.0/16')?.gateway, '172.30.1.2');
});

test('a gateway with a kill switch and a whitelist: one read of its table gives both counters', async () => {
  const bed = gatewayAndApp();
  bed.docker.containers.get(GW)!.labels = { 'twine.nat.interfaces': 'eth0', 'twine.nat.whitelist.to': '10.0.0.0/8' };
  await started(bed, GW, APP);
  const gw = bed.engine.container('gw')!;
  assert.deepEqual(gw.applied?.table.counters?.slice().sort(), ['killswitch', 'whitelist']);
  const lists = (): number => bed.spaces.calls.filter((c) => c.op === 'batch' && c.ns === bed.nsOf(GW) && (c.arg as { op: string }[]).some((s) => s.op === 'nftTableRead')).length;
  const before = lists();
  assert.deepEqual(await Promise.all([bed.engine.killSwitchDrops(gw), bed.engine.whitelistDrops(gw)]), [0, 0]);
  assert.equal(lists() - before, 1, 'one read for both counters');
});

test('kill switch counter: API reads in a burst list the gateway\'s table once per COUNTER_READ_MS, not once per GET', async () => {
  const bed = gatewayAndApp();
  await started(bed, GW, APP);
  const gw = bed.engine.container('gw')!;
  // Read natively: a batch in the gateway's namespace with the table read.
  const lists = (): number => bed.spaces.calls.filter((c) => c.op === 'batch' && c.ns === bed.nsOf(GW) && (c.arg as { op: string }[]).some((s) => s.op === 'nftTableRead')).length;
  const before = lists();
  const got = await Promise.all(Array.from({ length: 100 }, () => bed.engine.killSwitchDrops(gw)));
  for (let i = 0; i < 20; i++) got.push(await bed.engine.killSwitchDrops(gw));
  assert.equal(lists() - before, 1, 'one read for 120 GETs');
  assert.ok(got.every((n) => n === 0), JSON.stringify(got.slice(0, 3)));
  // A container without a kill switch is never read.
  assert.equal(await bed.engine.killSwitchDrops(bed.engine.container('app')!), undefined);
  assert.equal(lists() - before, 1);
  assert.ok(COUNTER_READ_MS >= 1000 && COUNTER_READ_MS <= 5000);
});
