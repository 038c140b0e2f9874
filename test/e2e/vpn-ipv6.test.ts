// IPv6 parity, with traffic, on a Docker --ipv6 network: a route via
// a container (`twine.route.<v6 prefix>=<gateway>`, read back although the kernel
// gives IPv6 routes metric 1024), the gateway's
// masquerade out of wg0, a forward from the tunnel side to the app, and the
// kill switch when the tunnel goes down (IPv6 default route of the gateway's
// tunnel in a table of its own, as wg-quick does it; Docker's IPv6 default
// route left in main). The prefixes are checked unused on this machine and
// blackholed on the host before any packet is sent.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import {
  addLeakCounter,
  assertUnrouted6,
  createNetwork,
  dockerExec,
  execIn,
  greeter6,
  greetingFrom,
  HostBlackholes,
  inspectContainer,
  killSwitchCounted,
  killSwitchDrops,
  leakedByEth0,
  linkDel,
  netnsAdd,
  runContainer,
  setUpFile,
  startReconciled,
  tearDownFile,
  testPrefix,
  twineTable,
  waitUntil,
  wgQuickTunnel6,
  type TestContainer,
  type TestDaemon,
  type TestNs,
} from '../bed/index.js';

const P = testPrefix('v6');
const NET = `${P}net`;
const GW = `${P}gw`;
const APP = `${P}app`;
const SRV = `${P}srv`;
const TAG = (process.pid % 65536).toString(16);
/** The Docker network, the tunnel, and the "internet" behind the tunnel's far end. */
const NET6 = `fd74:${TAG}::/64`;
const TUN6 = `fd75:${TAG}::`;
const INET6 = `fd76:${TAG}::/64`;
const TARGET6 = `fd76:${TAG}::5`;

let daemon: TestDaemon | undefined;
let gw: TestContainer;
let app: TestContainer;
let listener: ChildProcess | undefined;
const blackholes = new HostBlackholes();

async function gwIp6(): Promise<string> {
  const n = (await inspectContainer(GW)).networks.find((x) => x.name === NET);
  assert.ok(n?.ipv6, 'the gateway has an IPv6 address');
  return n.ipv6;
}

before(async () => {
  await setUpFile('v6');
  await assertUnrouted6([`fd74:${TAG}:`, `fd75:${TAG}:`, `fd76:${TAG}:`]);
  // What could leak past the gateway dies on the host (the Docker network itself stays on its bridge).
  await blackholes.add(`${TUN6}/64`, INET6);
  await createNetwork(NET, { internal: false, ipv6Subnet: NET6 });
  await netnsAdd(SRV);
  daemon = await startReconciled({ args: ['--resync-interval', '0'] });
  gw = await runContainer({ name: GW, networks: [NET], labels: { 'twine.nat.interfaces': 'wg+', 'twine.nat.forward.wg+.9080': `${APP}:9080` } });
  await wgQuickTunnel6({ vethPrefix: `${P}w`, gwPid: gw.pid, server: SRV }, TUN6, [`${TARGET6}/128`]);
  const g: TestNs = { pid: gw.pid };
  await addLeakCounter(g, 6, INET6);
  app = await runContainer({ name: APP, networks: [NET], labels: { [`twine.route.${INET6}`]: GW } });
  listener = greeter6(app.pid, 9080, 'hello-app6');
  await waitUntil('the app\'s IPv6 route via the gateway', async () => (await execIn({ pid: app.pid }, 'ip', ['-6', 'route', 'show', 'proto', '74'])).includes(`via ${await gwIp6()}`));
  await waitUntil('the IPv6 forward in the gateway', async () => JSON.stringify((await twineTable(g))?.rules ?? []).includes('"ip6"'));
});

after(async () => {
  listener?.kill('SIGKILL');
  await tearDownFile(P, { daemons: [daemon], containers: [GW, APP], netns: [SRV], networks: [NET], blackholes });
});

test('IPv6: a route via a container applies (no failed transaction), and the app reaches the far end through the gateway\'s masquerade', async (t) => {
  const failed = daemon!.lines.filter((l) => l.container === APP && /fail|rolled back/i.test(String(l.msg)));
  assert.deepEqual(failed.map((l) => l.msg), []);
  const ping = await dockerExec(APP, ['ping6', '-c2', '-W2', TARGET6]);
  assert.match(ping.stdout, /[12] packets received/, `ping6 ${TARGET6}: ${ping.stdout}${ping.stderr}`);
  assert.equal(await execIn({ pid: gw.pid }, 'cat', ['/proc/sys/net/ipv6/conf/all/forwarding']).then((s) => s.trim()), '1');
  t.diagnostic(`route ${INET6} via ${await gwIp6()}: ping6 ${TARGET6} ok`);
});

test('IPv6: the tunnel side reaches the app through the gateway\'s forward', async () => {
  const nc = await greetingFrom(SRV, `${TUN6}1`, 9080, 'hello-app6');
  assert.match(nc, /hello-app6/);
});

test('IPv6 kill switch: with the tunnel down nothing leaves the gateway by eth0', async (t) => {
  await linkDel({ pid: gw.pid }, 'wg0');
  const before = await killSwitchDrops({ pid: gw.pid });
  const down = await dockerExec(APP, ['ping6', '-c3', '-W1', TARGET6]);
  assert.notEqual(down.exitCode, 0, down.stdout);
  const dropped = await killSwitchCounted({ pid: gw.pid }, before, 3);
  const leaked = await leakedByEth0({ pid: gw.pid });
  t.diagnostic(`IPv6 tunnel down: ${dropped} dropped by the kill switch, ${leaked} left the gateway by eth0`);
  assert.equal(leaked, 0);
});
