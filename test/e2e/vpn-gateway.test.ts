// A NAT gateway's whitelists and the forward of its forwarded-port file, with real packets.
//
// The gateway's tunnel is a veth renamed wg0 to a test namespace playing the VPN
// server (which also holds an "internet" address), routed as wg-quick does it
// (vpn.ts). Its second nat interface is eth0, Docker's: one LAN prefix (a test
// namespace behind a veth on the host) is routed there, and the eth0 whitelist
// lets only that prefix out of it; the gateway-wide whitelist lets only the app
// use the gateway at all, so a second container on the same network that routes
// via the gateway too is dropped. A second "LAN" prefix is routed via eth0 as
// well but not whitelisted: it is blackholed on the host, as the tunnel's
// prefixes are, so whatever leaked would die there.
//
// The forward follows gluetun's /tmp/gluetun/forwarded_port inside the gateway:
// TCP to whatever port the file says (the app listens on each), UDP to the app's
// fixed port 9081. The server namespace connects to the gateway's wg0 address.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  addLeakCounter,
  containerPid,
  createNetwork,
  dockerExec,
  HostBlackholes,
  internetAddress,
  killSwitchDrops,
  lanClient,
  leakedByEth0,
  linkDel,
  netnsAdd,
  parseJson,
  pingWhitelisted,
  removeContainer,
  run,
  runAllowFail,
  runContainer,
  setUpFile,
  startReconciled,
  tearDownFile,
  testPrefix,
  twineCli,
  twineTable,
  unusedPrefixes24,
  waitUntil,
  wgQuickTunnel4,
  type TestContainer,
  type TestDaemon,
} from '../bed/index.js';

const P = testPrefix('gwy');
const NET = `${P}net`;
const GW = `${P}gw`;
const APP = `${P}app`;
const OTHER = `${P}oth`;
const SRV = `${P}srv`;
const LAN = `${P}lan`;
const PORT_FILE = '/tmp/gluetun/forwarded_port';
const PORTS = [40001, 40002, 40003];
const UDP_PORT = 9081;

let daemon: TestDaemon | undefined;
let gw: TestContainer;
let app: TestContainer;
let server: ChildProcess | undefined;
/** The tunnel's /24 (gateway .1, server .2), the "internet" behind the server (.5), the LAN (host .1, client .2), a LAN prefix not whitelisted. */
let tun: string;
let inet: string;
let lan: string;
let lan2: string;
const blackholes = new HostBlackholes();

/** The tunnel as wg-quick sets it up. */
async function tunnelUp(first: boolean): Promise<void> {
  await wgQuickTunnel4({ vethPrefix: `${P}w`, gwPid: gw.pid, server: SRV }, tun, { rules: first });
}

/** The app's listeners, in its namespace: TCP on each port the file will name, UDP on 9081; each answers with what it is. */
const SERVER = `
import socket, threading
def tcp(port):
    s = socket.create_server(("0.0.0.0", port))
    while True:
        c, _ = s.accept()
        c.sendall(("tcp:%d\\n" % port).encode()); c.close()
for p in ${JSON.stringify(PORTS)}:
    threading.Thread(target=tcp, args=(p,), daemon=True).start()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", ${UDP_PORT}))
while True:
    d, a = u.recvfrom(2048); u.sendto(b"udp:${UDP_PORT}:" + d, a)
`;

/** A TCP connection from the server namespace to the gateway's wg0 address: what the far end said, or the error. */
async function tcpFromServer(port: number): Promise<string> {
  const r = await runAllowFail('ip', ['netns', 'exec', SRV, 'python3', '-c', `import socket\ntry:\n s=socket.create_connection(("${tun}.1",${port}),timeout=1.5)\n print(s.recv(100).decode().strip())\nexcept Exception as e:\n print("ERR", type(e).__name__)`]);
  return r.stdout.trim();
}

/** One UDP datagram from the server namespace (from `sport`) to the gateway's wg0 address: the answer, or ERR. */
async function udpFromServer(port: number, sport: number, payload: string): Promise<string> {
  const code = `import socket\nu=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nu.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\nu.bind(("0.0.0.0",${sport}))\nu.settimeout(1.5)\nu.sendto(b"${payload}",("${tun}.1",${port}))\ntry:\n print(u.recv(200).decode())\nexcept Exception as e:\n print("ERR", type(e).__name__)`;
  const r = await runAllowFail('ip', ['netns', 'exec', SRV, 'python3', '-c', code]);
  return r.stdout.trim();
}

/** The ports the gateway's PREROUTING DNATs, as "tcp/40001". */
async function dnatPorts(): Promise<string[]> {
  const t = await twineTable({ pid: gw.pid });
  const out: string[] = [];
  for (const r of t?.rules ?? []) {
    if (r.chain !== 'PREROUTING' || !JSON.stringify(r.expr).includes('"dnat"')) continue;
    for (const e of r.expr as { match?: { left?: { payload?: { protocol?: string; field?: string } }; right?: unknown } }[]) {
      const p = e.match?.left?.payload;
      if (p?.field === 'dport' && (p.protocol === 'tcp' || p.protocol === 'udp')) out.push(`${p.protocol}/${JSON.stringify(e.match?.right)}`);
    }
  }
  return out.sort();
}

async function metric(name: string): Promise<string> {
  const r = await runAllowFail('curl', ['-s', '--unix-socket', daemon!.socket, 'http://twine/metrics']);
  return r.stdout.split('\n').filter((l) => l.startsWith(name)).join('\n');
}

async function writePortFile(text: string): Promise<void> {
  const r = await dockerExec(GW, ['sh', '-c', `mkdir -p /tmp/gluetun && printf '%s' "$1" > ${PORT_FILE}.new && mv ${PORT_FILE}.new ${PORT_FILE}`, 'sh', text]);
  assert.equal(r.exitCode, 0, r.stderr);
}

before(async () => {
  await setUpFile('gwy');
  [tun, inet, lan, lan2] = (await unusedPrefixes24(131, 4)) as [string, string, string, string];
  await blackholes.add(`${tun}.0/24`, `${inet}.0/24`, `${lan2}.0/24`);
  await createNetwork(NET, { internal: false });
  const dockerGw = (await run('docker', ['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Gateway}}', NET])).trim();
  await netnsAdd(SRV);
  await lanClient(LAN, `${P}l`, lan);
  daemon = await startReconciled({ args: ['--resync-interval', '0'] });
  gw = await runContainer({
    name: GW,
    networks: [NET],
    labels: {
      'twine.nat.interfaces': 'wg0,eth0',
      'twine.nat.whitelist.from': APP,
      'twine.nat.whitelist.eth0.to': `${lan}.0/24`,
      [`twine.route.${lan}.0/24`]: dockerGw,
      [`twine.route.${lan2}.0/24`]: dockerGw,
      'twine.nat.forward.wg0.file': APP,
      'twine.nat.forward.wg0.file/udp': `${APP}:${UDP_PORT}`,
    },
  });
  await tunnelUp(true);
  await internetAddress(SRV, `${inet}.5/32`);
  await addLeakCounter({ pid: gw.pid }, 4, `${inet}.0/24`);
  const via = { 'twine.route.0.0.0.0/1': GW, 'twine.route.128.0.0.0/1': GW };
  app = await runContainer({ name: APP, networks: [NET], labels: via });
  await runContainer({ name: OTHER, networks: [NET], labels: via });
  server = spawn('nsenter', ['-t', String(app.pid), '-n', 'python3', '-c', SERVER], { stdio: 'ignore' });
  await waitUntil('the gateway table with its whitelists', async () => (await twineTable({ pid: gw.pid }))?.chains.includes('GATEWAY') && JSON.stringify((await twineTable({ pid: gw.pid }))?.rules).includes('whitelist'), 10_000);
});

after(async () => {
  server?.kill('SIGKILL');
  await tearDownFile(P, { daemons: [daemon], containers: [GW, APP, OTHER], netns: [SRV, LAN], links: [`${P}l`], networks: [NET], blackholes });
});

/** One ping from a container: whether it was answered, and what the whitelist counted meanwhile. */
function pingCounted(from: string, to: string): Promise<{ ok: boolean; dropped: number }> {
  return pingWhitelisted({ pid: gw.pid }, from, ['ping', '-c1', '-W1', to]);
}

test('whitelist: only the allowed source reaches the allowed destinations; every other combination is dropped and counted at the gateway', async (t) => {
  const cases: [string, string, string, boolean][] = [
    ['app', APP, `${inet}.5`, true], // through the tunnel: no destination list on wg0
    ['app', APP, `${lan}.2`, true], // the LAN prefix via eth0
    ['app', APP, `${lan2}.5`, false], // via eth0, but not a whitelisted destination
    ['other', OTHER, `${inet}.5`, false], // not a whitelisted source
    ['other', OTHER, `${lan}.2`, false],
    ['other', OTHER, `${lan2}.5`, false],
  ];
  const seen: string[] = [];
  for (const [who, from, to, allowed] of cases) {
    const r = await pingCounted(from, to);
    seen.push(`${who}→${to}: ${r.ok ? 'answered' : 'no answer'}, ${r.dropped} dropped`);
    assert.equal(r.ok, allowed, seen.join('; '));
    if (allowed) assert.equal(r.dropped, 0, seen.join('; '));
    else assert.ok(r.dropped >= 1, `not counted at the gateway: ${seen.join('; ')}`);
  }
  t.diagnostic(seen.join('; '));
  assert.equal(await leakedByEth0({ pid: gw.pid }), 0);
  const status = await twineCli(['status', '--socket', daemon!.socket, GW]);
  assert.match(status.stdout, /whitelists: +\d+ packets dropped \(nft list counter inet twine whitelist\)/, status.stdout);
  assert.match(status.stdout, new RegExp(`twine.nat.whitelist.eth0.to: ${lan.replace(/\./g, '\\.')}\\.0/24`), status.stdout);
});

test('LAN access next to the tunnel; with the tunnel down the LAN still works and nothing else leaves by eth0', async (t) => {
  await linkDel({ pid: gw.pid }, 'wg0');
  const down = await pingCounted(APP, `${inet}.5`);
  const ks = await killSwitchDrops({ pid: gw.pid });
  const lanUp = await pingCounted(APP, `${lan}.2`);
  const leaked = await leakedByEth0({ pid: gw.pid });
  t.diagnostic(`tunnel down: internet ${down.ok ? 'answered' : 'no answer'} (${down.dropped} dropped by the eth0 whitelist, kill switch counter ${ks}), LAN ${lanUp.ok ? 'answered' : 'no answer'}, ${leaked} left by eth0 for the internet`);
  assert.equal(down.ok, false);
  assert.ok(down.dropped >= 1);
  assert.equal(lanUp.ok, true);
  assert.equal(leaked, 0);
  await tunnelUp(false);
  const back = await pingCounted(APP, `${inet}.5`);
  assert.equal(back.ok, true, 'the tunnel back: traffic flows again');
});

test('forwarded-port file: written, changed twice and removed; TCP and UDP follow within about a second, the old port stops forwarding', async (t) => {
  const status = async () => (await twineCli(['status', '--socket', daemon!.socket, GW])).stdout;
  await waitUntil('the status to say the file is missing', async () => /file → \S+: down, \/tmp\/gluetun\/forwarded_port does not exist in the container; not forwarded/.test(await status()), 5000, 200);
  assert.deepEqual(await dnatPorts(), []);
  const timings: string[] = [];
  let old: number | undefined;
  for (const port of PORTS) {
    // A UDP flow from a fixed source port, to be cut when the port moves.
    const t0 = performance.now();
    await writePortFile(`${port}\n`);
    await waitUntil(`the DNAT of port ${port}`, async () => (await dnatPorts()).join() === `tcp/${port},udp/${port}`, 5000, 20).catch(async (err: unknown) => {
      assert.fail(`${String(err)}; DNATs ${JSON.stringify(await dnatPorts())}; log: ${JSON.stringify(daemon!.lines.filter((l) => /forward|port|tx|transaction/i.test(l.msg)).slice(-8))}`);
    });
    const ms = Math.round(performance.now() - t0);
    timings.push(`${port}: ${ms} ms`);
    assert.ok(ms < 2500, `the forward followed the file after ${ms} ms`);
    assert.equal(await tcpFromServer(port), `tcp:${port}`);
    assert.equal(await udpFromServer(port, 45000 + port - 40000, 'ping'), `udp:${UDP_PORT}:ping`);
    if (old !== undefined) {
      assert.match(await tcpFromServer(old), /^ERR/, `TCP to the old port ${old}`);
      // The flow that went to the old port from this source port: its conntrack entry is gone, so it is not forwarded any more.
      assert.match(await udpFromServer(old, 45000 + old - 40000, 'again'), /^ERR/, `UDP to the old port ${old}`);
    }
    const s = await status();
    assert.match(s, new RegExp(`file → ${APP}: up, port ${port} from /tmp/gluetun/forwarded_port`), s);
    assert.match(await metric('twine_forwarded_port'), new RegExp(`twine_forwarded_port\\{container="${GW}",label="twine.nat.forward.wg0.file"\\} ${port}`));
    old = port;
  }
  const api = parseJson<{ desired: { forwards: Array<{ label: string; port: { lo: number }; portFile?: { port?: number } }> } }>(
    (await runAllowFail('curl', ['-s', '--unix-socket', daemon!.socket, `http://twine/api/containers/${GW}`])).stdout,
  );
  assert.deepEqual(api.desired.forwards.map((f) => [f.label, f.port.lo, f.portFile?.port]), [
    ['twine.nat.forward.wg0.file', PORTS[2], PORTS[2]],
    ['twine.nat.forward.wg0.file/udp', PORTS[2], PORTS[2]],
  ]);
  const rm = await dockerExec(GW, ['rm', PORT_FILE]);
  assert.equal(rm.exitCode, 0);
  await waitUntil('the forward to go with the file', async () => (await dnatPorts()).length === 0, 5000, 20);
  assert.match(await tcpFromServer(old!), /^ERR/);
  assert.match(await status(), /does not exist in the container; not forwarded/);
  assert.match(await metric('twine_forwarded_port'), / 0$/m);
  t.diagnostic(`file written → DNAT in place: ${timings.join(', ')}`);
});

test('forwarded-port file: a symlink out of the root, a huge file and a FIFO are refused, naming container and label, and change nothing', async () => {
  await writePortFile('40002\n');
  await waitUntil('the forward of 40002', async () => (await dnatPorts()).join() === 'tcp/40002,udp/40002', 5000, 20);
  for (const [what, cmd, why] of [
    // Each replaces the file in one rename, so that no poll sees it missing in between.
    ['a symlink climbing out of the root', `ln -sf ../../../../../../../etc/hostname ${PORT_FILE}`, /symlink on the path leads outside the container's root/],
    ['an absolute symlink', `ln -sf /etc/hostname ${PORT_FILE}`, /symlink on the path leads outside the container's root/],
    ['a huge file', `dd if=/dev/zero of=${PORT_FILE}.big bs=1024 count=1024 2>/dev/null && mv ${PORT_FILE}.big ${PORT_FILE}`, /1048576 bytes or more, larger than the 64 bytes/],
    ['a FIFO (never opened blocking)', `mkfifo ${PORT_FILE}.fifo && mv ${PORT_FILE}.fifo ${PORT_FILE}`, /not a regular file/],
  ] as const) {
    const from = daemon!.lines.length;
    const r = await dockerExec(GW, ['sh', '-c', cmd]);
    assert.equal(r.exitCode, 0, `${what}: ${r.stderr}`);
    const line = await daemon!.waitForLog((l) => l.msg.startsWith('forwarded-port file refused') && daemon!.lines.indexOf(l) >= from && l.container === GW, 5000);
    assert.deepEqual(line.labels, ['twine.nat.forward.wg0.file', 'twine.nat.forward.wg0.file/udp'], what);
    assert.match(line.msg, why, what);
    assert.deepEqual(await dnatPorts(), ['tcp/40002', 'udp/40002'], `${what}: nothing changed`);
    assert.equal(await tcpFromServer(40002), 'tcp:40002', `${what}: the forward still works`);
    const kept = /port 40002 from \/tmp\/gluetun\/forwarded_port \(kept: .*refused, nothing changed\)/;
    await waitUntil(`${what}: the status to show the refusal`, async () => kept.test((await twineCli(['status', '--socket', daemon!.socket, GW])).stdout), 5000, 100);
    // A good file again (renamed over the bad one): the reading is good, nothing kept.
    await writePortFile('40002\n');
    await waitUntil('the good reading again', async () => /file → \S+: up, port 40002 from \/tmp\/gluetun\/forwarded_port, /.test((await twineCli(['status', '--socket', daemon!.socket, GW])).stdout), 5000, 100);
  }
});

test('bad labels: a malformed whitelist network, a whitelist off the nat interfaces and a port file outside the container are errors naming container and label; nothing is applied', async () => {
  const BAD = `${P}bad`;
  await runContainer({
    name: BAD,
    networks: [NET],
    labels: {
      'twine.nat.interfaces': 'wg0',
      'twine.nat.whitelist.from': '10.1.2.3/8,app',
      'twine.nat.whitelist.eth0.to': '192.168.1.0/24',
      'twine.nat.forward.wg0.file': APP,
      'twine.nat.portfile': '/tmp/../../etc/shadow',
    },
  });
  try {
    const s = await waitUntil('the bad labels in the status', async () => {
      const out = (await twineCli(['status', '--socket', daemon!.socket, BAD])).stdout;
      return /invalid/.test(out) && /twine\.nat\.portfile/.test(out) ? out : false;
    }, 10_000, 100);
    assert.match(s, /twine\.nat\.whitelist\.from="10\.1\.2\.3\/8,app": "10\.1\.2\.3\/8" has host bits set/);
    assert.match(s, /twine\.nat\.whitelist\.eth0\.to=.*matches interfaces that are not nat interfaces/);
    assert.match(s, /twine\.nat\.portfile=.*the path may lead outside the container/);
    assert.equal(await twineTable({ pid: await containerPid(BAD) }), null, 'nothing applied');
    const line = await daemon!.waitForLog((l) => l.container === BAD && l.level >= 50, 5000);
    assert.match(JSON.stringify(line), /twine\.nat\.portfile/);
  } finally {
    await removeContainer(BAD);
  }
});
