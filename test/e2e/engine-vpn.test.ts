// The VPN example end to end, with real traffic: an app
// routes both halves of the IPv4 space (and, in a variant, its default route)
// via a gateway container whose wg0 is a veth to a test namespace playing the
// VPN server. The app reaches the server, the server reaches the app through
// the gateway's port forward, Docker's DNS and iptables keep working, and
// `twine cleanup` gives the variant its Docker default route back.
//
// The network is not --internal: with br_netfilter, Docker's isolation rules
// drop bridged packets whose source or destination is outside an internal
// network's subnet, so routed VPN traffic could not cross it. Packets only
// ever go to test hosts (containers, the test namespace); everything else is
// checked with `ip route get`.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  containerIp,
  createNetwork,
  defaultRoutes,
  dockerExec,
  execIn,
  inspectContainer,
  iptablesListings,
  ncFrom,
  netnsAdd,
  routeGet,
  runContainer,
  setUpFile,
  startReconciled,
  sysctlIn,
  tearDownFile,
  testPrefix,
  tunnelVeth,
  twineCli,
  twineRoutes,
  twineTable,
  waitUntil,
  type TestContainer,
  type TestDaemon,
} from '../bed/index.js';

const P = testPrefix('ev');
const NET = `${P}net`;
const VPN = `${P}vpn`;
const APP = `${P}app`;
const APP0 = `${P}ap0`;
const SRV = `${P}srv`;
const SERVER_IP = '10.99.0.2';
const WG_IP = '10.99.0.1';
const LISTEN = ['sh', '-c', 'while true; do echo hello-app | nc -l -p 9080; done'];

let daemon: TestDaemon | undefined;
let vpn: TestContainer;
let app: TestContainer;
let app0: TestContainer;
let vpnIp: string;
let dockerGw: string;

before(async () => {
  await setUpFile('ev');
  await createNetwork(NET, { internal: false });
  await netnsAdd(SRV);
  daemon = await startReconciled({ args: ['--resync-interval', '0'] });
  vpn = await runContainer({
    name: VPN,
    networks: [NET],
    labels: { 'twine.nat.interfaces': 'wg+', 'twine.nat.forward.wg+.9080': `${APP}:9080` },
  });
  await tunnelVeth({ vethPrefix: `${P}w`, gwPid: vpn.pid, server: SRV }, { gw: `${WG_IP}/24`, server: `${SERVER_IP}/24` });
  const route = { 'twine.route.0.0.0.0/1': VPN, 'twine.route.128.0.0.0/1': VPN };
  [app, app0] = await Promise.all([
    runContainer({ name: APP, networks: [NET], labels: route, cmd: LISTEN }),
    runContainer({ name: APP0, networks: [NET], labels: { 'twine.route.0.0.0.0/0': VPN } }),
  ]);
  vpnIp = await containerIp(VPN, NET);
  dockerGw = (await inspectContainer(APP)).networks.find((n) => n.name === NET)!.gateway!;
  // The forward names the app, which started after the gateway: the gateway is re-planned when it appears.
  await waitUntil('the forward to the app in the gateway', async () => JSON.stringify((await twineTable({ pid: vpn.pid }))?.rules ?? []).includes('dnat'));
  await waitUntil('the app routes', async () => (await twineRoutes({ pid: app.pid })).length === 2);
  await waitUntil('the variant default route', async () => (await twineRoutes({ pid: app0.pid })).length === 1);
});

after(async () => {
  await tearDownFile(P, { daemons: [daemon], containers: [VPN, APP, APP0], netns: [SRV], networks: [NET] });
});

test('VPN example: the app routes both halves via the gateway, reaches the server, is reached through the forward, and resolves names', async (t) => {
  const mine = (await twineRoutes({ pid: app.pid })).map((r) => ({ dst: r.dst, gateway: r.gateway, dev: r.dev })).sort((a, b) => a.dst.localeCompare(b.dst));
  assert.deepEqual(mine, [
    { dst: '0.0.0.0/1', gateway: vpnIp, dev: 'eth0' },
    { dst: '128.0.0.0/1', gateway: vpnIp, dev: 'eth0' },
  ]);
  // Docker's default route is still there (the halves are more specific).
  const def = await defaultRoutes({ pid: app.pid });
  assert.equal(def.length, 1);
  assert.equal(def[0]!.gateway, dockerGw);
  assert.notEqual(def[0]!.protocol, '74');
  assert.equal((await routeGet({ pid: app.pid }, SERVER_IP)).route?.gateway, vpnIp);

  // The gateway forwards and masquerades out of wg+.
  assert.equal(await sysctlIn({ pid: vpn.pid }, 'net.ipv4.ip_forward'), '1');
  const table = await twineTable({ pid: vpn.pid });
  const post = JSON.stringify(table?.rules.filter((r) => r.chain === 'POSTROUTING'));
  assert.match(post, /masquerade/);
  assert.match(post, /wg\*/);

  // Real traffic: app → server through the tunnel stand-in ...
  const ping = await dockerExec(APP, ['ping', '-c1', '-W2', SERVER_IP]);
  assert.equal(ping.exitCode, 0, `ping ${SERVER_IP} from the app: ${ping.stdout}${ping.stderr}`);
  // ... and server → the gateway's wg0:9080 → the app.
  const nc = await ncFrom(SRV, WG_IP, 9080);
  assert.match(nc.stdout, /hello-app/, `nc from the server: exit ${nc.exitCode} ${nc.stderr}`);
  // Docker's DNS still answers inside the app.
  const ns = await dockerExec(APP, ['nslookup', VPN, '127.0.0.11']);
  assert.equal(ns.exitCode, 0, ns.stdout + ns.stderr);
  assert.ok(ns.stdout.includes(vpnIp), ns.stdout);
  t.diagnostic(`gateway ${vpnIp}, server ${SERVER_IP}: ping, forward and DNS ok`);
});

test('variant twine.route.0.0.0.0/0: the default route is replaced by one via the gateway', async () => {
  const def = await defaultRoutes({ pid: app0.pid });
  assert.deepEqual(def.map((r) => ({ gateway: r.gateway, protocol: r.protocol })), [{ gateway: vpnIp, protocol: '74' }]);
  assert.equal((await routeGet({ pid: app0.pid }, SERVER_IP)).route?.gateway, vpnIp);
  const ping = await dockerExec(APP0, ['ping', '-c1', '-W2', SERVER_IP]);
  assert.equal(ping.exitCode, 0, ping.stdout + ping.stderr);
  // The network's own subnet stays on-link (DNS, the gateway itself).
  assert.equal((await routeGet({ pid: app0.pid }, vpnIp)).route?.gateway, undefined);
  const ns = await dockerExec(APP0, ['nslookup', APP, '127.0.0.11']);
  assert.equal(ns.exitCode, 0, ns.stdout + ns.stderr);
});

test("Docker's iptables still work in every container Twine touched", async () => {
  for (const c of [vpn, app, app0]) {
    for (const l of await iptablesListings({ pid: c.pid })) {
      assert.equal(l.exitCode, 0, `iptables ${l.args} in ${c.name}: ${l.stderr}`);
    }
    // Docker's embedded-DNS rules are still listed.
    assert.match(await execIn({ pid: c.pid }, 'iptables', ['-t', 'nat', '-S']), /DOCKER_OUTPUT/);
  }
});

test("twine cleanup <container> gives the variant Docker's default route back and leaves others alone", async () => {
  const exit = await daemon!.stop('SIGTERM');
  assert.equal(exit.code, 0);
  const r = await twineCli(['cleanup', APP0]);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /cleaned 1 of 1 running containers/);
  const def = await defaultRoutes({ pid: app0.pid });
  assert.equal(def.length, 1, JSON.stringify(def));
  assert.equal(def[0]!.gateway, dockerGw);
  assert.notEqual(def[0]!.protocol, '74');
  assert.deepEqual(await twineRoutes({ pid: app0.pid }), []);
  assert.equal(await twineTable({ pid: app0.pid }), null);
  // Only the named container was cleaned.
  assert.equal((await twineRoutes({ pid: app.pid })).length, 2);
  assert.notEqual(await twineTable({ pid: vpn.pid }), null);
});
