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
import { spawn, type ChildProcess } from 'node:child_process';
import {
  cleanupLeftovers,
  createNetwork,
  dockerExec,
  ensureImage,
  execIn,
  hostBlackhole,
  hostBlackholeDel,
  netnsAdd,
  netnsDel,
  parseJson,
  removeContainer,
  removeNetwork,
  run,
  runAllowFail,
  runContainer,
  startDaemon,
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
const LISTEN_PY = 'import socket\ns=socket.create_server(("::",9080),family=socket.AF_INET6,dualstack_ipv6=True)\nwhile True:\n c,_=s.accept()\n c.sendall(b"hello-app6\\n")\n c.close()';

let daemon: TestDaemon | undefined;
let gw: TestContainer;
let listener: ChildProcess | undefined;
const blackholed: string[] = [];

async function whitelistDrops(): Promise<number> {
  const out = parseJson<{ nftables: Array<{ counter?: { packets: number } }> }>(await execIn({ pid: gw.pid }, 'nft', ['-j', 'list', 'counter', 'inet', 'twine', 'whitelist']));
  return out.nftables.find((i) => i.counter)?.counter?.packets ?? -1;
}

before(async () => {
  await cleanupLeftovers(tagPrefix('w6'));
  await ensureImage();
  const used = await run('ip', ['-6', 'route', 'show', 'table', 'all']);
  for (const p of [`fd77:${TAG}:`, `fd78:${TAG}:`, `fd79:${TAG}:`]) assert.ok(!used.includes(p), `${p}: already routed on this machine`);
  for (const p of [`${TUN6}/64`, `fd79:${TAG}::/48`]) {
    await hostBlackhole(p);
    blackholed.push(p);
  }
  await createNetwork(NET, { internal: false, ipv6Subnet: NET6 });
  await netnsAdd(SRV);
  daemon = startDaemon({ args: ['--resync-interval', '0'] });
  await daemon.waitForLog((l) => l.msg === 'reconciled');
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
  await vethPair(`${P}w`, { ns: { pid: gw.pid }, name: 'wg0' }, { ns: { netns: SRV }, name: 'eth0' });
  const g: TestNs = { pid: gw.pid };
  await execIn(g, 'sysctl', ['-qw', 'net.ipv6.conf.wg0.disable_ipv6=0']);
  await execIn(g, 'ip', ['-6', 'addr', 'add', `${TUN6}1/64`, 'dev', 'wg0', 'nodad']);
  await execIn({ netns: SRV }, 'ip', ['-6', 'addr', 'add', `${TUN6}2/64`, 'dev', 'eth0', 'nodad']);
  for (const a of [`${OK6}5/128`, `${NO6}5/128`]) await execIn({ netns: SRV }, 'ip', ['-6', 'addr', 'add', a, 'dev', 'eth0', 'nodad']);
  await wgQuickRouting(g, 6, true);
  const via = { [`twine.route.fd79:${TAG}::/48`]: GW };
  const app = await runContainer({ name: APP, networks: [NET], labels: via });
  const other = await runContainer({ name: OTHER, networks: [NET], labels: via });
  listener = spawn('nsenter', ['-t', String(app.pid), '-n', 'python3', '-c', LISTEN_PY], { stdio: 'ignore' });
  for (const c of [app, other]) await waitUntil('the IPv6 route via the gateway', async () => (await execIn({ pid: c.pid }, 'ip', ['-6', 'route', 'show', 'proto', '74'])).includes('via'), 10_000);
  await waitUntil('the whitelist in the gateway', async () => JSON.stringify((await twineTable(g))?.rules ?? []).includes('"ip6"') && JSON.stringify((await twineTable(g))?.rules ?? []).includes('whitelist'), 10_000);
});

after(async () => {
  listener?.kill('SIGKILL');
  if (daemon?.running) await daemon.stop('SIGKILL');
  await Promise.all([GW, APP, OTHER].map(removeContainer));
  await netnsDel(SRV);
  await removeNetwork(NET);
  for (const p of blackholed) await hostBlackholeDel(p);
  await cleanupLeftovers(P);
});

test('IPv6 whitelist: the listed source reaches the listed prefix; an unlisted destination and an unlisted source are dropped and counted', async (t) => {
  const seen: string[] = [];
  for (const [who, from, to, allowed] of [
    ['app', APP, `${OK6}5`, true],
    ['app', APP, `${NO6}5`, false],
    ['other', OTHER, `${OK6}5`, false],
  ] as const) {
    const before = await whitelistDrops();
    const r = await dockerExec(from, ['ping6', '-c1', '-W2', to]);
    const dropped = (await whitelistDrops()) - before;
    seen.push(`${who}→${to}: ${r.exitCode === 0 ? 'answered' : 'no answer'}, ${dropped} dropped`);
    assert.equal(r.exitCode === 0, allowed, seen.join('; '));
    if (allowed) assert.equal(dropped, 0, seen.join('; '));
    else assert.ok(dropped >= 1, seen.join('; '));
  }
  t.diagnostic(seen.join('; '));
});

test('IPv6 whitelist: a connection the gateway forwards from the tunnel side to the app passes eth0, whose whitelist lists no IPv6', async () => {
  const before = await whitelistDrops();
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
  assert.equal((await whitelistDrops()) - before, 0);
});
