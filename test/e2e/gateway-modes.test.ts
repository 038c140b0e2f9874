// Docker's bridge gateway modes (com.docker.network.bridge.gateway_mode_ipv4,
// Docker 28 and later) under a VPN-style gateway container. On a network in
// `nat` (the default), `nat-unprotected` and `routed` mode, an app routed via
// the gateway reaches a server behind the gateway's tunnel, and a LAN client
// reaches the app's published port: the reply leaves through Docker's
// gateway although the app routes everything via the gateway container. In
// `routed` mode the LAN client reaches the app's address directly, as Docker
// allows there. (`isolated` exists only for --internal networks, where Docker
// drops routed traffic, so a gateway container cannot serve there in any mode;
// README, "Gateway modes".) On Docker 20.10 only the default mode runs.
//
// The tunnel's and the server's prefixes are checked unused on this machine
// and blackholed on the host before any packet is sent.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  containerIp,
  createNetwork,
  dockerExec,
  engineMajor,
  execIn,
  HostBlackholes,
  internetAddress,
  lanClient,
  ncFrom,
  netnsAdd,
  netnsDel,
  removeContainer,
  removeNetwork,
  routeGet,
  runContainer,
  setUpFile,
  startReconciled,
  tearDownFile,
  testPrefix,
  tunnelVeth,
  twineRoutes,
  unusedPrefixes24,
  waitUntil,
  type TestDaemon,
} from '../bed/index.js';

const P = testPrefix('gm');
const LAN = `${P}lan`;
const LISTEN = ['sh', '-c', 'while true; do echo hello-published | nc -l -p 8080; done'];
const ALL_MODES = ['nat', 'nat-unprotected', 'routed'] as const;

let daemon: TestDaemon | undefined;
let modes: readonly string[] = ['nat'];
let tun: string;
let inet: string;
let lan: string;
const blackholes = new HostBlackholes();

before(async () => {
  await setUpFile('gm');
  if ((await engineMajor()) >= 28) modes = ALL_MODES;
  [tun, inet, lan] = (await unusedPrefixes24(96, 3)) as [string, string, string];
  await blackholes.add(`${tun}.0/24`, `${inet}.0/24`);
  await lanClient(LAN, `${P}l`, lan);
  daemon = await startReconciled({ args: ['--resync-interval', '0'] });
});

after(async () => {
  await tearDownFile(P, { daemons: [daemon], netns: [LAN], links: [`${P}l`], blackholes });
});

/** What the LAN client reads from host:port (undefined while nothing answers). */
async function lanRead(host: string, port: string): Promise<string | false> {
  const nc = await ncFrom(LAN, host, port);
  return /hello-published/.test(nc.stdout) ? nc.stdout.trim() : false;
}

for (const [i, mode] of ALL_MODES.entries()) {
  test(`gateway mode ${mode}: the app reaches the server through the gateway's tunnel, and the LAN reaches its published port`, async (t) => {
    if (!modes.includes(mode)) {
      t.skip(`gateway mode ${mode} needs Docker 28 or later`);
      return;
    }
    const net = `${P}n${i}`;
    const gwName = `${P}gw${i}`;
    const appName = `${P}app${i}`;
    const srv = `${P}srv${i}`;
    const hostPort = String(20000 + ((process.pid + i) % 20000));
    const target = `${inet}.5`;
    try {
      await createNetwork(net, { internal: false, ...(mode === 'nat' ? {} : { driverOpts: { 'com.docker.network.bridge.gateway_mode_ipv4': mode } }) });
      await netnsAdd(srv);
      const gw = await runContainer({ name: gwName, networks: [net], labels: { 'twine.nat.interfaces': 'wg+' } });
      await tunnelVeth({ vethPrefix: `${P}w${i}`, gwPid: gw.pid, server: srv }, { gw: `${tun}.1/24`, server: `${tun}.2/24` });
      await internetAddress(srv, `${target}/32`);
      await execIn({ pid: gw.pid }, 'ip', ['route', 'add', `${inet}.0/24`, 'via', `${tun}.2`]);
      const app = await runContainer({
        name: appName,
        networks: [net],
        labels: { 'twine.route.0.0.0.0/1': gwName, 'twine.route.128.0.0.0/1': gwName },
        cmd: LISTEN,
        extraArgs: ['-p', `${lan}.1:${hostPort}:8080`],
      });
      await waitUntil('the app routes via the gateway', async () => (await twineRoutes({ pid: app.pid })).length === 2);
      const gwIp = await containerIp(gwName, net);
      assert.equal((await routeGet({ pid: app.pid }, target)).route?.gateway, gwIp);

      const ping = await dockerExec(appName, ['ping', '-c1', '-W2', target]);
      assert.equal(ping.exitCode, 0, `ping ${target} through the tunnel: ${ping.stdout}${ping.stderr}`);

      const viaHostPort = await waitUntil('the LAN client reads the published port', () => lanRead(`${lan}.1`, hostPort), 12_000, 500).catch(() => false as const);
      const appIp = await containerIp(appName, net);
      const direct = mode === 'routed' ? await waitUntil("the LAN client reads the app's address directly", () => lanRead(appIp, '8080'), 12_000, 500) : undefined;
      t.diagnostic(`${mode}: host port ${JSON.stringify(viaHostPort)}, direct ${JSON.stringify(direct)}`);
      if (mode === 'routed') assert.match(String(direct), /hello-published/);
      else assert.match(String(viaHostPort), /hello-published/);
    } finally {
      await Promise.all([gwName, appName].map(removeContainer));
      await netnsDel(srv);
      await removeNetwork(net);
    }
  });
}
