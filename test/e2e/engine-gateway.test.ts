// A gateway's life seen from its dependents: while the
// gateway is stopped, the prefixes routed via it are `unreachable` (fail
// closed, nothing leaks through Docker's default route); when it comes back
// with a new address, or is recreated under the same name (new id), the
// dependents' routes point at its current address and traffic flows again,
// without anything being done to the dependents.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  createNetworkWithSubnet,
  defaultRoutes,
  dockerExec,
  inspectContainer,
  netnsAdd,
  reasonsOf,
  removeContainer,
  routeGet,
  run,
  runContainer,
  setUpFile,
  startReconciled,
  tearDownFile,
  testPrefix,
  tunnelVeth,
  twineRoutes,
  txLines,
  waitUntil,
  type AutoNetwork,
  type IpRoute,
  type TestContainer,
  type TestDaemon,
} from '../bed/index.js';

const P = testPrefix('eg');
const NET = `${P}net`;
const GW = `${P}gw`;
const APP = `${P}app`;
const APP0 = `${P}ap0`;
const SRV = `${P}srv`;
const SERVER_IP = '10.98.0.2';
/** A documentation address (TEST-NET-2): only ever used in `ip route get`. */
const ELSEWHERE = '198.51.100.7';
const GW_LABELS = { 'twine.nat.interfaces': 'wg+' };

let daemon: TestDaemon;
let net: AutoNetwork;
let app: TestContainer;
let app0: TestContainer;
let appStartedAt: string;
let app0StartedAt: string;

async function attachWg(gwPid: number): Promise<void> {
  await tunnelVeth({ vethPrefix: `${P}w`, gwPid, server: SRV }, { gw: '10.98.0.1/24', server: `${SERVER_IP}/24` });
}

function brief(rs: IpRoute[]): string[] {
  return rs.map((r) => `${r.type ?? 'unicast'} ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}`).sort();
}

/** Both dependents' Twine routes point at `gw` (or are unreachable when gw is undefined). */
async function dependentsPointAt(gw: string | undefined): Promise<boolean> {
  const want = (dst: string): string => (gw ? `unicast ${dst} via ${gw}` : `unreachable ${dst}`);
  const a = brief(await twineRoutes({ pid: app.pid }));
  const b = brief(await twineRoutes({ pid: app0.pid }));
  return JSON.stringify(a) === JSON.stringify([want('0.0.0.0/1'), want('128.0.0.0/1')]) && JSON.stringify(b) === JSON.stringify([want('default')]);
}

async function trafficFlows(): Promise<void> {
  for (const c of [APP, APP0]) {
    const ping = await dockerExec(c, ['ping', '-c1', '-W2', SERVER_IP]);
    assert.equal(ping.exitCode, 0, `ping ${SERVER_IP} from ${c}: ${ping.stdout}${ping.stderr}`);
  }
}

async function startedAt(name: string): Promise<string> {
  return (await run('docker', ['inspect', '--format', '{{.State.StartedAt}} {{.State.Pid}}', name])).trim();
}

before(async () => {
  await setUpFile('eg');
  net = await createNetworkWithSubnet(NET, { internal: false });
  await netnsAdd(SRV);
  daemon = await startReconciled({ args: ['--resync-interval', '0'] });
  const gw = await runContainer({ name: GW, networks: [{ name: NET, ipv4: `${net.base}.10` }], labels: GW_LABELS });
  await attachWg(gw.pid);
  [app, app0] = await Promise.all([
    runContainer({ name: APP, networks: [NET], labels: { 'twine.route.0.0.0.0/1': GW, 'twine.route.128.0.0.0/1': GW } }),
    runContainer({ name: APP0, networks: [NET], labels: { 'twine.route.0.0.0.0/0': GW } }),
  ]);
  await waitUntil('dependents routed via the gateway', () => dependentsPointAt(`${net.base}.10`));
  appStartedAt = await startedAt(APP);
  app0StartedAt = await startedAt(APP0);
});

after(async () => {
  await tearDownFile(P, { daemons: [daemon], containers: [GW, APP, APP0], netns: [SRV], networks: [NET] });
});

test('gateway stopped: the routed prefixes are unreachable, nothing goes via the default gateway', async (t) => {
  await trafficFlows();
  const mark = daemon.lines.length;
  await run('docker', ['stop', '-t', '5', GW]);
  const t0 = performance.now();
  await waitUntil('unreachable routes in the dependents', () => dependentsPointAt(undefined));
  const ms = performance.now() - t0;
  t.diagnostic(`docker stop returned → both dependents unreachable: ${ms.toFixed(0)} ms`);

  for (const pid of [app.pid, app0.pid]) {
    for (const dst of [SERVER_IP, ELSEWHERE, '8.8.8.8']) {
      const r = await routeGet({ pid }, dst);
      assert.equal(r.ok, false, `route get ${dst} in pid ${pid}: ${JSON.stringify(r.route)}`);
      assert.match(r.error, /unreachable|No route to host/i);
    }
    // Only Twine's unreachable route is a default route in the /0 variant; the subnet stays on-link.
    assert.equal((await routeGet({ pid }, `${net.base}.1`)).route?.gateway, undefined);
  }
  const defs = await defaultRoutes({ pid: app0.pid });
  assert.deepEqual(defs.map((r) => [r.type, r.protocol]), [['unreachable', '74']]);
  // The dependents were re-planned because of the gateway, not by anything done to them.
  for (const c of [APP, APP0]) {
    const tx = txLines(daemon, { from: mark, container: c });
    assert.ok(tx.length >= 1, `${c}: no transaction after the stop`);
    assert.ok(tx.every((l) => reasonsOf(l).every((r) => r.startsWith(`dependency ${GW}`))), JSON.stringify(tx.map(reasonsOf)));
  }
});

test('gateway restarted with a new address: dependents re-pointed, traffic flows again', async (t) => {
  // While it is stopped, move it to another address on the same network.
  await run('docker', ['network', 'disconnect', NET, GW]);
  await run('docker', ['network', 'connect', '--ip', `${net.base}.11`, NET, GW]);
  await run('docker', ['start', GW]);
  const t0 = performance.now();
  await waitUntil('dependents re-pointed to .11', () => dependentsPointAt(`${net.base}.11`));
  t.diagnostic(`docker start returned → dependents re-pointed: ${(performance.now() - t0).toFixed(0)} ms`);
  const gw = await inspectContainer(GW);
  assert.equal(gw.networks.find((n) => n.name === NET)?.ipv4, `${net.base}.11`);
  await attachWg(gw.pid);
  await trafficFlows();
  assert.equal(await startedAt(APP), appStartedAt);
  assert.equal(await startedAt(APP0), app0StartedAt);
});

test('gateway recreated (same name, new id, new address): dependents re-pointed, traffic flows again', async (t) => {
  const oldId = (await inspectContainer(GW)).id;
  await removeContainer(GW);
  await waitUntil('unreachable while the gateway is gone', () => dependentsPointAt(undefined));
  const t0 = performance.now();
  const gw = await runContainer({ name: GW, networks: [{ name: NET, ipv4: `${net.base}.12` }], labels: GW_LABELS });
  await waitUntil('dependents re-pointed to .12', () => dependentsPointAt(`${net.base}.12`));
  t.diagnostic(`docker run returned → dependents re-pointed: ${(performance.now() - t0).toFixed(0)} ms`);
  assert.notEqual(gw.id, oldId);
  await attachWg(gw.pid);
  await trafficFlows();
  assert.equal(await startedAt(APP), appStartedAt);
  assert.equal(await startedAt(APP0), app0StartedAt);
});
