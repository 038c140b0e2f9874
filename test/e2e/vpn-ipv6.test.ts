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
import { spawn, type ChildProcess } from 'node:child_process';
import {
  cleanupLeftovers,
  createNetwork,
  dockerExec,
  ensureImage,
  execIn,
  hostBlackhole,
  hostBlackholeDel,
  inspectContainer,
  linkDel,
  netnsAdd,
  netnsDel,
  removeContainer,
  removeNetwork,
  run,
  runAllowFail,
  runContainer,
  startDaemon,
  addLeakCounter,
  killSwitchDrops,
  leakedByEth0,
  tagPrefix,
  testPrefix,
  twineTable,
  vethPair,
  waitUntil,
  wgQuickRouting,
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
const LISTEN_PY = 'import socket\ns=socket.create_server(("::",9080),family=socket.AF_INET6,dualstack_ipv6=True)\nwhile True:\n c,_=s.accept()\n c.sendall(b"hello-app6\\n")\n c.close()';

let daemon: TestDaemon | undefined;
let gw: TestContainer;
let app: TestContainer;
let listener: ChildProcess | undefined;
const blackholed: string[] = [];

async function gwIp6(): Promise<string> {
  const n = (await inspectContainer(GW)).networks.find((x) => x.name === NET);
  assert.ok(n?.ipv6, 'the gateway has an IPv6 address');
  return n.ipv6;
}

before(async () => {
  await cleanupLeftovers(tagPrefix('v6'));
  await ensureImage();
  const used = await run('ip', ['-6', 'route', 'show', 'table', 'all']);
  for (const p of [`fd74:${TAG}:`, `fd75:${TAG}:`, `fd76:${TAG}:`]) assert.ok(!used.includes(p), `${p}: already routed on this machine`);
  // What could leak past the gateway dies on the host (the Docker network itself stays on its bridge).
  for (const p of [`${TUN6}/64`, INET6]) {
    await hostBlackhole(p);
    blackholed.push(p);
  }
  await createNetwork(NET, { internal: false, ipv6Subnet: NET6 });
  await netnsAdd(SRV);
  daemon = startDaemon({ args: ['--resync-interval', '0'] });
  await daemon.waitForLog((l) => l.msg === 'reconciled');
  gw = await runContainer({ name: GW, networks: [NET], labels: { 'twine.nat.interfaces': 'wg+', 'twine.nat.forward.wg+.9080': `${APP}:9080` } });
  await vethPair(`${P}w`, { ns: { pid: gw.pid }, name: 'wg0' }, { ns: { netns: SRV }, name: 'eth0' });
  const g: TestNs = { pid: gw.pid };
  // Docker turns IPv6 off for interfaces that appear later in a container (default.disable_ipv6): a VPN client turns it on for its own.
  await execIn(g, 'sysctl', ['-qw', 'net.ipv6.conf.wg0.disable_ipv6=0']);
  await execIn(g, 'ip', ['-6', 'addr', 'add', `${TUN6}1/64`, 'dev', 'wg0', 'nodad']);
  await execIn({ netns: SRV }, 'ip', ['-6', 'addr', 'add', `${TUN6}2/64`, 'dev', 'eth0', 'nodad']);
  // On the tunnel's interface: the gateway's route into the tunnel has no next hop, and IPv6
  // neighbour discovery answers only for addresses of the interface asked on.
  await execIn({ netns: SRV }, 'ip', ['-6', 'addr', 'add', `${TARGET6}/128`, 'dev', 'eth0', 'nodad']);
  await wgQuickRouting(g, 6, true);
  await addLeakCounter(g, 6, INET6);
  app = await runContainer({ name: APP, networks: [NET], labels: { [`twine.route.${INET6}`]: GW } });
  listener = spawn('nsenter', ['-t', String(app.pid), '-n', 'python3', '-c', LISTEN_PY], { stdio: 'ignore' });
  await waitUntil('the app\'s IPv6 route via the gateway', async () => (await execIn({ pid: app.pid }, 'ip', ['-6', 'route', 'show', 'proto', '74'])).includes(`via ${await gwIp6()}`));
  await waitUntil('the IPv6 forward in the gateway', async () => JSON.stringify((await twineTable(g))?.rules ?? []).includes('"ip6"'));
});

after(async () => {
  listener?.kill('SIGKILL');
  if (daemon?.running) await daemon.stop('SIGKILL');
  await Promise.all([GW, APP].map(removeContainer));
  await netnsDel(SRV);
  await removeNetwork(NET);
  for (const p of blackholed) await hostBlackholeDel(p);
  await cleanupLeftovers(P);
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
  const nc = await waitUntil(
    'the IPv6 forward to answer',
    async () => {
      const r = await runAllowFail('ip', ['netns', 'exec', SRV, 'busybox', 'nc', '-w', '3', `${TUN6}1`, '9080'], { input: '' });
      return /hello-app6/.test(r.stdout) ? r.stdout : false;
    },
    10_000,
    200,
  );
  assert.match(nc, /hello-app6/);
});

test('IPv6 kill switch: with the tunnel down nothing leaves the gateway by eth0', async (t) => {
  await linkDel({ pid: gw.pid }, 'wg0');
  const before = await killSwitchDrops({ pid: gw.pid });
  const down = await dockerExec(APP, ['ping6', '-c3', '-W1', TARGET6]);
  assert.notEqual(down.exitCode, 0, down.stdout);
  const dropped = await waitUntil('the kill switch to count the pings', async () => {
    const n = (await killSwitchDrops({ pid: gw.pid })) - before;
    return n >= 3 ? n : false;
  });
  const leaked = await leakedByEth0({ pid: gw.pid });
  t.diagnostic(`IPv6 tunnel down: ${dropped} dropped by the kill switch, ${leaked} left the gateway by eth0`);
  assert.equal(leaked, 0);
});
