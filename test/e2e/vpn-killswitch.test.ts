// A NAT gateway's kill switch and MSS clamping, with real traffic.
//
// The gateway's tunnel is set up the way wg-quick does it: its default route
// in a table of its own (51820), a rule to that table, and Docker's default
// route left in main. The tunnel is a veth named wg0 (MTU 1280) to a test
// namespace playing the VPN server, which also holds an "internet" address.
// When wg0 is deleted inside the gateway, the gateway's own routing falls back
// to Docker's default route: without the kill switch, a dependent's traffic
// then leaves the gateway by eth0, which the test checks does not happen.
// The prefixes are checked unused on this machine and blackholed on the host
// before any packet is sent, so a leak would die there.
//
// The app also publishes a port on the host's end of a veth to a "LAN client"
// namespace: the client's connection arrives through Docker's DNAT on the
// app's eth0, and must be answered through Docker's gateway although the app
// routes everything via the gateway container.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  addLeakCounter,
  containerIp,
  createNetwork,
  dockerExec,
  execIn,
  execInAllowFail,
  HostBlackholes,
  internetAddress,
  killSwitchCounted,
  killSwitchDrops,
  lanClient,
  leakedByEth0,
  linkDel,
  ncFrom,
  netnsAdd,
  removeContainer,
  routeGet,
  ruleCounters,
  runAllowFail,
  runContainer,
  setUpFile,
  startReconciled,
  tearDownFile,
  testPrefix,
  twineCli,
  twineRoutes,
  twineTable,
  txLines,
  unusedPrefixes24,
  waitUntil,
  wgQuickTunnel4,
  type TestContainer,
  type TestDaemon,
  type TestNs,
} from '../bed/index.js';

const P = testPrefix('ks');
const NET = `${P}net`;
const GW = `${P}gw`;
const APP = `${P}app`;
const SRV = `${P}srv`;
const LAN = `${P}lan`;
const NEIGH = `${P}nb`;
const LISTEN = ['sh', '-c', 'while true; do echo hello-app | nc -l -p 9080; done & while true; do echo hello-published | nc -l -p 8080; done'];
/** The host port the app's 8080 is published on (on the LAN veth's host address only). */
const HOST_PORT = String(20000 + (process.pid % 20000));

let daemon: TestDaemon | undefined;
let gw: TestContainer;
let app: TestContainer;
/** The tunnel's /24 (gateway .1, server .2) and the "internet" /24 behind the server (.5). */
let tun: string;
let inet: string;
let lan: string;
let target: string;
/** An unused /24 a neighbour forges its source from (blackholed on the host: an answer that leaks dies there). */
let spoof: string;
const blackholes = new HostBlackholes();

/** The tunnel as wg-quick sets it up: wg0, its default route in table 51820, the two rules. */
async function tunnelUp(first: boolean): Promise<void> {
  await wgQuickTunnel4({ vethPrefix: `${P}w`, gwPid: gw.pid, server: SRV }, tun, { rules: first, mtu: 1280 });
}

before(async () => {
  await setUpFile('ks');
  [tun, inet, lan, spoof] = (await unusedPrefixes24(97, 4)) as [string, string, string, string];
  target = `${inet}.5`;
  // Before any packet: whatever leaks dies on the host.
  await blackholes.add(`${tun}.0/24`, `${inet}.0/24`, `${spoof}.0/24`);
  await createNetwork(NET, { internal: false });
  await netnsAdd(SRV);
  // The LAN client, before the app publishes on the host's end.
  await lanClient(LAN, `${P}l`, lan);
  daemon = await startReconciled({ args: ['--resync-interval', '0'] });
  gw = await runContainer({ name: GW, networks: [NET], labels: { 'twine.nat.interfaces': 'wg+', 'twine.nat.forward.wg+.9080': `${APP}:9080` } });
  await tunnelUp(true);
  await internetAddress(SRV, `${target}/32`);
  await addLeakCounter({ pid: gw.pid }, 4, `${inet}.0/24`);
  app = await runContainer({
    name: APP,
    networks: [NET],
    labels: { 'twine.route.0.0.0.0/1': GW, 'twine.route.128.0.0.0/1': GW },
    cmd: LISTEN,
    extraArgs: ['-p', `${lan}.1:${HOST_PORT}:8080`],
  });
  await waitUntil('the app routes', async () => (await twineRoutes({ pid: app.pid })).length === 2);
  await waitUntil('the forward in the gateway', async () => JSON.stringify((await twineTable({ pid: gw.pid }))?.rules ?? []).includes('dnat'));
});

after(async () => {
  await tearDownFile(P, { daemons: [daemon], containers: [GW, APP, NEIGH], netns: [SRV, LAN], links: [`${P}l`], networks: [NET], blackholes });
});

test('kill switch: with the tunnel down, nothing a dependent sends leaves the gateway; with it back, traffic flows without Twine touching the dependent', async (t) => {
  const table = await twineTable({ pid: gw.pid });
  assert.ok(table?.chains.includes('GATEWAY'), JSON.stringify(table?.chains));
  // Tunnel up: the dependent reaches the internet address through it, and the server reaches the app through the forward.
  const up = await dockerExec(APP, ['ping', '-c1', '-W2', target]);
  assert.equal(up.exitCode, 0, `ping ${target} with the tunnel up: ${up.stdout}${up.stderr}`);
  const nc = await ncFrom(SRV, `${tun}.1`, 9080);
  assert.match(nc.stdout, /hello-app/, `the forward from the tunnel side: exit ${nc.exitCode} ${nc.stderr}`);
  assert.equal(await leakedByEth0({ pid: gw.pid }), 0);

  // Tunnel down: the VPN client's interface is gone, its table empty, Docker's default route left in main.
  await linkDel({ pid: gw.pid }, 'wg0');
  const gwRoute = await routeGet({ pid: gw.pid }, target);
  assert.equal(gwRoute.route?.dev, 'eth0', `the gateway's own routing now points at eth0: ${JSON.stringify(gwRoute)}`);
  const from = daemon!.lines.length;
  const dropsBefore = await killSwitchDrops({ pid: gw.pid });
  const down = await dockerExec(APP, ['ping', '-c3', '-W1', target]);
  assert.notEqual(down.exitCode, 0, `no reply with the tunnel down: ${down.stdout}`);
  // The positive signal that the pings reached the gateway: the kill switch counted them.
  const dropped = await killSwitchCounted({ pid: gw.pid }, dropsBefore, 3);
  const leaked = await leakedByEth0({ pid: gw.pid });
  t.diagnostic(`tunnel down: ${dropped} packets dropped by the kill switch, ${leaked} left the gateway by eth0`);
  assert.equal(leaked, 0);
  // What the kernel counted is what `twine status` says.
  const status = await twineCli(['status', '--socket', daemon!.socket, GW]);
  assert.match(status.stdout, new RegExp(`kill switch: +${dropsBefore + dropped} packets dropped`), status.stdout + status.stderr);
  // The dependent still routes via the gateway (no redirect taught it Docker's gateway).
  assert.equal((await routeGet({ pid: app.pid }, target)).route?.gateway, await containerIp(GW, NET));

  // Tunnel back (as a reconnecting VPN client does it): traffic flows, and Twine did nothing to the dependent.
  await tunnelUp(false);
  const back = await dockerExec(APP, ['ping', '-c1', '-W2', target]);
  assert.equal(back.exitCode, 0, `ping ${target} with the tunnel back: ${back.stdout}${back.stderr}`);
  assert.deepEqual(txLines(daemon!, { from, container: APP }), []);
  assert.equal(await leakedByEth0({ pid: gw.pid }), 0);
});

test('MSS: a TCP SYN through the gateway reaches the peer behind wg0 (MTU 1280) with MSS ≤ 1240, and 1 MB transfers', async (t) => {
  const srv: TestNs = { netns: SRV };
  await execIn(srv, 'nft', ['add table inet twt_mss']);
  await execIn(srv, 'nft', ['add chain inet twt_mss in { type filter hook input priority 0; }']);
  await execIn(srv, 'nft', ['add rule inet twt_mss in tcp dport 9090 tcp flags & (syn|ack) == syn tcp option maxseg size <= 1240 counter']);
  await execIn(srv, 'nft', ['add rule inet twt_mss in tcp dport 9090 tcp flags & (syn|ack) == syn tcp option maxseg size > 1240 counter']);
  const server = runAllowFail(
    'ip',
    ['netns', 'exec', SRV, 'python3', '-c', 'import socket\ns=socket.create_server(("0.0.0.0",9090))\nc,_=s.accept()\nc.sendall(b"x"*1048576)\nc.close()'],
    { timeoutMs: 20_000 },
  );
  const client = await waitUntil(
    'the 1 MB download from the peer',
    async () => {
      const r = await execInAllowFail({ pid: app.pid }, 'python3', [
        '-c',
        `import socket\ns=socket.create_connection(("${target}",9090),timeout=10)\nn=0\nwhile True:\n b=s.recv(65536)\n if not b: break\n n+=len(b)\nprint(n)`,
      ]);
      return r.exitCode === 0 ? r.stdout.trim() : false;
    },
    15_000,
    200,
  );
  await server;
  assert.equal(client, '1048576');
  const counters = await ruleCounters(srv, 'twt_mss');
  t.diagnostic(`SYNs at the peer with MSS <= 1240: ${counters[0]}, with MSS > 1240: ${counters[1]}; 1048576 bytes received`);
  assert.ok((counters[0] ?? 0) >= 1, `SYN counters ${JSON.stringify(counters)}`);
  assert.equal(counters[1], 0);
});

test('published port: a LAN client reaches the app through Docker\'s DNAT while the app routes everything via the gateway; the app\'s own traffic still goes via the gateway', async (t) => {
  const nsApp: TestNs = { pid: app.pid };
  assert.match(await execIn(nsApp, 'ip', ['rule', 'show']), /7474:\s+from all fwmark 0x20000000\/0x20000000 lookup 7474 proto 74/);
  const dockerGw = (await execIn(nsApp, 'ip', ['route', 'show', 'table', '7474'])).trim();
  assert.match(dockerGw, /^default via \S+ dev eth0 proto 74/);
  // A few tries: the app's listener is a shell loop that restarts nc after each connection.
  const tries: string[] = [];
  const got = await waitUntil(
    'the LAN client to get the app\'s answer',
    async () => {
      const nc = await ncFrom(LAN, `${lan}.1`, HOST_PORT);
      tries.push(`exit ${nc.exitCode} ${JSON.stringify(nc.stdout.trim())} ${nc.stderr.trim()}`);
      return /hello-published/.test(nc.stdout) ? nc.stdout.trim() : false;
    },
    12_000,
    500,
  ).catch((err: unknown) => assert.fail(`${String(err)}; tries: ${tries.join(' | ')}`));
  t.diagnostic(`LAN client ${lan}.2 → ${lan}.1:${HOST_PORT} → app:8080: ${JSON.stringify(got)} after ${tries.length} tries (${tries.join(' | ')}); replies by ${dockerGw}`);
  // The app's own traffic: via the gateway, through the tunnel.
  assert.equal((await routeGet(nsApp, target)).route?.gateway, await containerIp(GW, NET));
  const ping = await dockerExec(APP, ['ping', '-c1', '-W2', target]);
  assert.equal(ping.exitCode, 0, `ping ${target} from the app: ${ping.stdout}${ping.stderr}`);
});

/** Sends `n` TCP SYNs from `src` (forged) to `dst`:`port` through a raw socket in `ns`. */
async function forgedSyns(ns: TestNs, src: string, dst: string, port: number, n: number): Promise<void> {
  const py = [
    'import socket, struct, sys',
    'src, dst, dport, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])',
    'def csum(b):',
    '    b += bytes(len(b) % 2)',
    '    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))',
    '    s = (s >> 16) + (s & 0xffff)',
    '    return ~(s + (s >> 16)) & 0xffff',
    's = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)',
    'for i in range(n):',
    '    tcp = struct.pack("!HHLLBBHHH", 41000 + i, dport, 7000 + i, 0, 5 << 4, 0x02, 64240, 0, 0)',
    '    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))',
    '    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]',
    '    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 100 + i, 0, 64, 6, 0, socket.inet_aton(src), socket.inet_aton(dst))',
    '    s.sendto(ip + tcp, (dst, 0))',
  ].join('\n');
  await execIn(ns, 'python3', ['-c', py, src, dst, String(port), String(n)]);
}

test('published port: a neighbour forging an off-subnet source is answered through the gateway, never through Docker\'s gateway (the bridge\'s MAC and the published ports are what is marked)', async (t) => {
  const nsApp: TestNs = { pid: app.pid };
  const neigh = await runContainer({ name: NEIGH, networks: [NET], cmd: ['sleep', '3600'] });
  const appIp = await containerIp(APP, NET);
  const gwIp = await containerIp(GW, NET);
  const dockerGw = (await execIn(nsApp, 'ip', ['route', 'show', 'table', '7474'])).trim().split(/\s+/)[2]!;
  const forged = `${spoof}.5`;
  // The app's answers (SYN-ACKs) to the forged source, by next hop, as they leave it; and at the gateway container.
  await execIn(nsApp, 'nft', ['add table inet twt_spoof']);
  await execIn(nsApp, 'nft', ['add chain inet twt_spoof post { type filter hook postrouting priority 500; }']);
  await execIn(nsApp, 'nft', [`add rule inet twt_spoof post ip daddr ${forged} tcp flags & (syn|ack) == syn|ack rt ip nexthop ${dockerGw} counter`]);
  await execIn(nsApp, 'nft', [`add rule inet twt_spoof post ip daddr ${forged} tcp flags & (syn|ack) == syn|ack rt ip nexthop ${gwIp} counter`]);
  await execIn({ pid: gw.pid }, 'nft', ['add table inet twt_spoof']);
  await execIn({ pid: gw.pid }, 'nft', ['add chain inet twt_spoof pre { type filter hook prerouting priority -500; }']);
  await execIn({ pid: gw.pid }, 'nft', [`add rule inet twt_spoof pre ip daddr ${forged} tcp flags & (syn|ack) == syn|ack counter`]);
  const counts = async (): Promise<{ viaDocker: number; viaGateway: number; atGateway: number }> => {
    const [viaDocker, viaGateway] = await ruleCounters(nsApp, 'twt_spoof');
    const [atGateway] = await ruleCounters({ pid: gw.pid }, 'twt_spoof');
    return { viaDocker: viaDocker ?? -1, viaGateway: viaGateway ?? -1, atGateway: atGateway ?? -1 };
  };
  const rp = async (): Promise<string> => (await execIn(nsApp, 'sh', ['-c', 'echo all=$(cat /proc/sys/net/ipv4/conf/all/rp_filter) eth0=$(cat /proc/sys/net/ipv4/conf/eth0/rp_filter)'])).trim();
  const rpDefault = await rp();
  // 5 SYNs to the published port, 5 to a port that is not published.
  await forgedSyns({ pid: neigh.pid }, forged, appIp, 8080, 5);
  await forgedSyns({ pid: neigh.pid }, forged, appIp, 9080, 5);
  const first = await waitUntil('the app\'s 10 answers counted', async () => {
    const c = await counts();
    return c.viaDocker + c.viaGateway >= 10 ? c : false;
  }, 8000).catch(async () => counts());
  t.diagnostic(`rp_filter in the app (${rpDefault}): 10 forged SYNs from ${forged} → answers via Docker's gateway ${dockerGw}: ${first.viaDocker}, via the gateway ${gwIp}: ${first.viaGateway}; seen at the gateway: ${first.atGateway}`);
  // Strict reverse-path filtering in the app does not help: the forged source routes back out of eth0, where it came in.
  await execIn(nsApp, 'sh', ['-c', 'echo 1 > /proc/sys/net/ipv4/conf/all/rp_filter; echo 1 > /proc/sys/net/ipv4/conf/eth0/rp_filter']);
  await forgedSyns({ pid: neigh.pid }, forged, appIp, 8080, 5);
  const strict = await waitUntil('5 more answers with strict rp_filter', async () => {
    const c = await counts();
    return c.viaDocker + c.viaGateway >= first.viaDocker + first.viaGateway + 5 ? c : false;
  }, 8000).catch(async () => counts());
  t.diagnostic(`rp_filter strict (${await rp()}): 5 more forged SYNs → via Docker's gateway: ${strict.viaDocker - first.viaDocker}, via the gateway: ${strict.viaGateway - first.viaGateway}`);
  await execIn(nsApp, 'sh', ['-c', 'echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter; echo 0 > /proc/sys/net/ipv4/conf/eth0/rp_filter']);
  await execIn(nsApp, 'nft', ['delete table inet twt_spoof']);
  await execIn({ pid: gw.pid }, 'nft', ['delete table inet twt_spoof']);
  await removeContainer(NEIGH);
  assert.equal(strict.viaDocker, 0, 'no answer to a forged source left through Docker\'s gateway');
  assert.ok(first.viaGateway >= 10, `the answers went the labels' way: ${JSON.stringify(first)}`);
  assert.ok(first.atGateway >= 10, `and reached the gateway: ${JSON.stringify(first)}`);
  // The LAN client's connection through the published port still gets its answer through Docker (the earlier test), again now:
  const nc = await waitUntil('the LAN client again', async () => {
    const r = await ncFrom(LAN, `${lan}.1`, HOST_PORT);
    return /hello-published/.test(r.stdout) ? r.stdout.trim() : false;
  }, 12_000, 500);
  assert.match(nc, /hello-published/);
});

test('published port: twine cleanup of the app takes its policy rule and reply table away', async () => {
  const exit = await daemon!.stop('SIGTERM');
  assert.equal(exit.code, 0);
  const r = await twineCli(['cleanup', APP]);
  assert.equal(r.exitCode, 0, r.stderr);
  const nsApp: TestNs = { pid: app.pid };
  assert.doesNotMatch(await execIn(nsApp, 'ip', ['rule', 'show']), /7474/);
  assert.equal((await execIn(nsApp, 'ip', ['route', 'show', 'table', 'all', 'proto', '74'])).trim(), '');
  assert.equal(await twineTable(nsApp), null);
});
