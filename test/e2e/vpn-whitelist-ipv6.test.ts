// A NAT gateway's whitelists with IPv6 packets, on a Docker --ipv6 network: the
// gateway-wide `from` names the app (a reference: its IPv4 and IPv6 addresses),
// the wg0 `to` lists one IPv6 prefix of the "internet" behind the tunnel and an
// IPv4 one. The app reaches the listed IPv6 prefix; the app to an unlisted IPv6
// address behind the tunnel, and a second container (not in `from`) to the
// listed one, are dropped and counted at the gateway. eth0 is a nat interface
// too, whose `to` lists no IPv6 network: the forward from the tunnel side to the
// app leaves through it and keeps working (DNAT'ed connections are not checked).
// The tunnel is set up as in vpn-ipv6.test.ts; its prefixes are checked unused
// and blackholed on the host before any packet is sent.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import {
  assertUnrouted6,
  createNetwork,
  execIn,
  greeter6,
  greetingFrom,
  HostBlackholes,
  netnsAdd,
  pingWhitelisted,
  runContainer,
  setUpFile,
  startReconciled,
  tearDownFile,
  testPrefix,
  twineTable,
  waitUntil,
  wgQuickTunnel6,
  whitelistDrops,
  type TestContainer,
  type TestDaemon,
  type TestNs,
} from '../bed/index.js';

const P = testPrefix('w6');
const NET = `${P}net`;
const GW = `${P}gw`;
const APP = `${P}app`;
const OTHER = `${P}oth`;
const SRV = `${P}srv`;
const TAG = ((process.pid + 7) % 65536).toString(16);
const NET6 = `fd77:${TAG}::/64`;
const TUN6 = `fd78:${TAG}::`;
/** Behind the tunnel: a whitelisted /64 and one that is not. */
const OK6 = `fd79:${TAG}:0:1::`;
const NO6 = `fd79:${TAG}:0:2::`;

let daemon: TestDaemon | undefined;
let gw: TestContainer;
let listener: ChildProcess | undefined;
const blackholes = new HostBlackholes();

before(async () => {
  await setUpFile('w6');
  await assertUnrouted6([`fd77:${TAG}:`, `fd78:${TAG}:`, `fd79:${TAG}:`]);
  await blackholes.add(`${TUN6}/64`, `fd79:${TAG}::/48`);
  await createNetwork(NET, { internal: false, ipv6Subnet: NET6 });
  await netnsAdd(SRV);
  daemon = await startReconciled({ args: ['--resync-interval', '0'] });
  gw = await runContainer({
    name: GW,
    networks: [NET],
    labels: {
      'twine.nat.interfaces': 'wg0,eth0',
      'twine.nat.whitelist.from': APP,
      // No IPv6 network: eth0 carries no IPv6 the gateway forwards, except what a forward DNATs.
      'twine.nat.whitelist.eth0.to': '10.0.0.0/8',
      'twine.nat.whitelist.wg0.to': `${OK6}/64,10.0.0.0/8`,
      'twine.nat.forward.wg0.9080': `${APP}:9080`,
    },
  });
  await wgQuickTunnel6({ vethPrefix: `${P}w`, gwPid: gw.pid, server: SRV }, TUN6, [`${OK6}5/128`, `${NO6}5/128`]);
  const g: TestNs = { pid: gw.pid };
  const via = { [`twine.route.fd79:${TAG}::/48`]: GW };
  const app = await runContainer({ name: APP, networks: [NET], labels: via });
  const other = await runContainer({ name: OTHER, networks: [NET], labels: via });
  listener = greeter6(app.pid, 9080, 'hello-app6');
  for (const c of [app, other]) await waitUntil('the IPv6 route via the gateway', async () => (await execIn({ pid: c.pid }, 'ip', ['-6', 'route', 'show', 'proto', '74'])).includes('via'), 10_000);
  await waitUntil('the whitelist in the gateway', async () => JSON.stringify((await twineTable(g))?.rules ?? []).includes('"ip6"') && JSON.stringify((await twineTable(g))?.rules ?? []).includes('whitelist'), 10_000);
});

after(async () => {
  listener?.kill('SIGKILL');
  await tearDownFile(P, { daemons: [daemon], containers: [GW, APP, OTHER], netns: [SRV], networks: [NET], blackholes });
});

test('IPv6 whitelist: the listed source reaches the listed prefix; an unlisted destination and an unlisted source are dropped and counted', async (t) => {
  const seen: string[] = [];
  for (const [who, from, to, allowed] of [
    ['app', APP, `${OK6}5`, true],
    ['app', APP, `${NO6}5`, false],
    ['other', OTHER, `${OK6}5`, false],
  ] as const) {
    const { ok, dropped } = await pingWhitelisted({ pid: gw.pid }, from, ['ping6', '-c1', '-W2', to]);
    seen.push(`${who}→${to}: ${ok ? 'answered' : 'no answer'}, ${dropped} dropped`);
    assert.equal(ok, allowed, seen.join('; '));
    if (allowed) assert.equal(dropped, 0, seen.join('; '));
    else assert.ok(dropped >= 1, seen.join('; '));
  }
  t.diagnostic(seen.join('; '));
});

test('IPv6 whitelist: a connection the gateway forwards from the tunnel side to the app passes eth0, whose whitelist lists no IPv6', async () => {
  const before = await whitelistDrops({ pid: gw.pid });
  const nc = await greetingFrom(SRV, `${TUN6}1`, 9080, 'hello-app6');
  assert.match(nc, /hello-app6/);
  assert.equal((await whitelistDrops({ pid: gw.pid })) - before, 0);
});
