// A routed container leaks nothing, with real packets, on the engine at hand
// (the assertions follow its version: Docker 28 and later forward a
// container's lookups from the host's namespace when it has no DNS servers of
// its own; 20.10 forwards them from the container's namespace).
//
// - DNS: a gateway whose wg0 is a veth to a test namespace running a tiny DNS
//   server (python3). Apps route 0.0.0.0/0 via the gateway: one with that
//   server as its `--dns`, one without, one without and with
//   twine.dns=required. Lookups are counted in the host's output hook (and
//   dropped there, so that a query forwarded from the host never leaves toward
//   the host's real resolver: a table of the test's own, matching only this
//   run's query name), at the gateway's forward hook and by the server. (Not
//   in the host's forward hook: with br_netfilter, the app's packets to the
//   gateway cross it on the bridge.) A query the gateway would send on by eth0
//   (the host's resolver, on 20.10) dies in its kill switch.
// - IPv6: on a --ipv6 network, an app routing 0.0.0.0/0 via the gateway with
//   twine.ipv6=block and one without; pings to a blackholed test prefix are
//   counted on the host and in the apps' own namespaces.
//
// The networks are not --internal: Docker's resolver forwards nothing for a
// container only on internal networks, and routed traffic could not cross one.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import {
  assertUnrouted6,
  containerIp,
  createNetwork,
  dockerExec,
  execIn,
  execInAllowFail,
  HostBlackholes,
  inspectContainer,
  netnsAdd,
  ruleCounters,
  run,
  runAllowFail,
  runContainer,
  setUpFile,
  startReconciled,
  tearDownFile,
  testPrefix,
  tunnelVeth,
  twineRoutes,
  unusedPrefixes24,
  waitUntil,
  type TestContainer,
  type TestDaemon,
  type TestNs,
} from '../bed/index.js';
import { getJson } from '../../src/server/client.js';
import type { ContainerDoc } from '../../src/server/api.js';
import { engineMajor, HOST_FORWARDING_MAJOR } from '../../src/resolve/leaks.js';

const P = testPrefix('lk');
const NET = `${P}net`;
const NET6 = `${P}net6`;
const GW = `${P}gw`;
const APP_DNS = `${P}dns`;
const APP_LEAK = `${P}leak`;
const APP_REQ = `${P}req`;
const APP_BLOCK = `${P}blk`;
const APP_V6 = `${P}v6`;
const SRV = `${P}srv`;
const TAG = (process.pid % 65536).toString(16).padStart(4, '0');
/** The query name's first label: exactly 7 bytes, so the host's rule can match it. */
const LABEL = `twl${TAG}`;
const QNAME = `${LABEL}.test`;
const ANSWER = '203.0.113.53';
/**
 * The engine's host namespace: the machine's own, or the `ip netns` a second
 * engine runs in (TWINE_TEST_ENGINE_NETNS, with DOCKER_HOST pointing at it).
 */
const ENGINE_NS: TestNs = process.env.TWINE_TEST_ENGINE_NETNS ? { netns: process.env.TWINE_TEST_ENGINE_NETNS } : 'root';
/** The host's own table: counts, then drops, this run's queries leaving the host. */
const HOST_TABLE = `twt_lk${TAG}`;
const SUB6 = `fd77:${TAG}::/64`;
const FAR6 = `fd78:${TAG}::/64`;
const TARGET6 = `fd78:${TAG}::5`;

// A DNS server for any name: A → ANSWER, anything else → no answers; one line per query on stdout.
const DNS_PY = [
  'import socket,sys',
  's=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)',
  "s.bind(('0.0.0.0',53))",
  'while True:',
  ' q,a=s.recvfrom(4096)',
  ' i=12',
  ' while q[i]!=0: i+=q[i]+1',
  ' t=q[i+1:i+3]',
  " print('q',flush=True)",
  " an=b'\\x00\\x01' if t==b'\\x00\\x01' else b'\\x00\\x00'",
  " ans=(b'\\xc0\\x0c\\x00\\x01\\x00\\x01\\x00\\x00\\x00\\x3c\\x00\\x04'+socket.inet_aton('" + ANSWER + "')) if t==b'\\x00\\x01' else b''",
  " s.sendto(q[:2]+b'\\x81\\x80'+q[4:6]+an+b'\\x00\\x00\\x00\\x00'+q[12:i+5]+ans,a)",
].join('\n');

let daemon: TestDaemon | undefined;
let server: ChildProcess | undefined;
let served = 0;
let gw: TestContainer;
let tun = '';
let dnsIp = '';
let hostForwards = false;
let engine = '';
const blackholes = new HostBlackholes();

/** The first label as nft matches it at the start of the question: length byte, then the characters. */
function labelHex(): string {
  return `0x${Buffer.from([LABEL.length, ...Buffer.from(LABEL)]).toString('hex')}`;
}

async function hostTable(): Promise<void> {
  const match = `udp dport 53 @th,160,${8 * (LABEL.length + 1)} ${labelHex()}`;
  await execIn(ENGINE_NS, 'nft', ['add table inet', HOST_TABLE]);
  await execIn(ENGINE_NS, 'nft', [`add chain inet ${HOST_TABLE} out { type filter hook output priority -300; }`]);
  await execIn(ENGINE_NS, 'nft', [`add rule inet ${HOST_TABLE} out ${match} counter drop`]);
  await execIn(ENGINE_NS, 'nft', [`add chain inet ${HOST_TABLE} pre { type filter hook prerouting priority -300; }`]);
  await execIn(ENGINE_NS, 'nft', [`add rule inet ${HOST_TABLE} pre ip6 daddr ${FAR6} counter`]);
}

/** [queries leaving the host's own output hook, IPv6 packets to FAR6 arriving on the host]. */
async function hostCounts(): Promise<[number, number]> {
  const [out = -1, v6 = -1] = await ruleCounters(ENGINE_NS, HOST_TABLE);
  return [out, v6];
}

/** UDP/53 the gateway forwards (any name), counted before Twine's table. */
async function gwCount(): Promise<number> {
  const [n = -1] = await ruleCounters({ pid: gw.pid }, 'twt_lk');
  return n;
}

async function doc(name: string): Promise<ContainerDoc> {
  return (await getJson<ContainerDoc>({ socket: daemon!.socket }, `/api/containers/${name}`)).body;
}

function metrics(): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath: daemon!.socket, path: '/metrics' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

async function settled(name: string): Promise<ContainerDoc> {
  return waitUntil(`${name} applied or refused`, async () => {
    const d = await doc(name).catch(() => undefined);
    return d && (d.status === 'applied' || d.status === 'invalid') ? d : undefined;
  });
}

before(async () => {
  await setUpFile('lk');
  await execInAllowFail(ENGINE_NS, 'nft', ['delete table inet', HOST_TABLE]);
  engine = (await run('docker', ['version', '--format', '{{.Server.Version}}'])).trim();
  hostForwards = (engineMajor(engine) ?? 0) >= HOST_FORWARDING_MAJOR;
  tun = (await unusedPrefixes24(77, 1))[0]!;
  dnsIp = `${tun}.2`;
  await assertUnrouted6([`fd77:${TAG}:`, `fd78:${TAG}:`]);
  await blackholes.add(`${tun}.0/24`, FAR6);
  await hostTable();
  await createNetwork(NET, { internal: false });
  await createNetwork(NET6, { internal: false, ipv6Subnet: SUB6 });
  await netnsAdd(SRV);
  daemon = await startReconciled({ args: ['--resync-interval', '0'] });
  gw = await runContainer({ name: GW, networks: [NET, NET6], labels: { 'twine.nat.interfaces': 'wg+' } });
  await tunnelVeth({ vethPrefix: `${P}w`, gwPid: gw.pid, server: SRV }, { gw: `${tun}.1/24`, server: `${dnsIp}/24` });
  const g: TestNs = { pid: gw.pid };
  await execIn(g, 'nft', ['add table inet twt_lk']);
  await execIn(g, 'nft', ['add chain inet twt_lk lkfwd { type filter hook forward priority -300; }']);
  await execIn(g, 'nft', ['add rule inet twt_lk lkfwd udp dport 53 counter']);
  server = spawn('ip', ['netns', 'exec', SRV, 'python3', '-c', DNS_PY], { stdio: ['ignore', 'pipe', 'inherit'] });
  server.stdout!.on('data', (b: Buffer) => (served += (b.toString().match(/q/g) ?? []).length));
  const route = { 'twine.route.0.0.0.0/0': GW };
  const dns = ['--dns', dnsIp];
  await Promise.all([
    runContainer({ name: APP_DNS, networks: [NET], labels: { ...route, 'twine.dns': 'required' }, extraArgs: dns }),
    runContainer({ name: APP_LEAK, networks: [NET], labels: route }),
    runContainer({ name: APP_REQ, networks: [NET], labels: { ...route, 'twine.dns': 'required' } }),
    runContainer({ name: APP_BLOCK, networks: [NET6], labels: { ...route, 'twine.ipv6': 'block' }, extraArgs: dns }),
    runContainer({ name: APP_V6, networks: [NET6], labels: route, extraArgs: dns }),
  ]);
  for (const n of [APP_DNS, APP_LEAK, APP_REQ, APP_BLOCK, APP_V6]) await settled(n);
});

after(async () => {
  server?.kill('SIGKILL');
  await tearDownFile(P, { daemons: [daemon], containers: [GW, APP_DNS, APP_LEAK, APP_REQ, APP_BLOCK, APP_V6], netns: [SRV], networks: [NET, NET6] });
  await execInAllowFail(ENGINE_NS, 'nft', ['delete table inet', HOST_TABLE]);
  await blackholes.removeAll();
});

/** One lookup of QNAME in the container (its own resolv.conf: Docker's 127.0.0.11), and what each place counted. */
async function lookup(app: string): Promise<{ out: string; host: number; gw: number; served: number }> {
  const [h0] = await hostCounts();
  const g0 = await gwCount();
  const s0 = served;
  const r = await dockerExec(app, ['nslookup', QNAME], 20_000);
  // The server's line may trail the answer by a moment.
  await new Promise((res) => setTimeout(res, 300));
  const [h1] = await hostCounts();
  return { out: r.stdout + r.stderr, host: h1 - h0, gw: (await gwCount()) - g0, served: served - s0 };
}

test('DNS with dns: servers of its own: lookups go through the gateway, none leaves from the host; Docker\'s names still resolve; no warning', async (t) => {
  const d = await doc(APP_DNS);
  assert.equal(d.status, 'applied', JSON.stringify(d.labelErrors));
  assert.deepEqual(d.warnings.filter((w) => w.leak), []);
  const r = await lookup(APP_DNS);
  t.diagnostic(`docker ${engine}: ${APP_DNS} (--dns ${dnsIp}): host output ${r.host}, gateway ${r.gw}, server ${r.served}`);
  assert.match(r.out, new RegExp(ANSWER.replace(/\./g, '\\.')), r.out);
  assert.equal(r.host, 0);
  assert.ok(r.gw >= 1, `gateway counted ${r.gw}`);
  assert.ok(r.served >= 1, `server counted ${r.served}`);
  const byName = await dockerExec(APP_DNS, ['nslookup', GW]);
  assert.ok(byName.stdout.includes(await containerIp(GW, NET)), `${GW} resolves through Docker's resolver: ${byName.stdout}${byName.stderr}`);
});

test('DNS without dns: servers: a dns-leak warning (status, API, metric, log naming the fix) exactly on engines that forward from the host, where the lookups are seen leaving the host', async (t) => {
  const d = await doc(APP_LEAK);
  assert.equal(d.status, 'applied');
  const leaks = d.warnings.flatMap((w) => (w.leak ? [w.leak] : []));
  assert.deepEqual(leaks, hostForwards ? ['dns-leak'] : []);
  const r = await lookup(APP_LEAK);
  t.diagnostic(`docker ${engine}: ${APP_LEAK} (no --dns): host output ${r.host} (dropped), gateway ${r.gw}, server ${r.served}`);
  if (hostForwards) {
    assert.ok(r.host >= 1, `the host's output hook counted ${r.host}`);
    assert.equal(r.gw, 0);
    const line = daemon!.lines.find((l) => l.container === APP_LEAK && l.leak === 'dns-leak');
    assert.ok(line, 'a log line for the leak');
    assert.equal(line.level, 40, 'at warn');
    assert.match(String(line.msg), /give the container dns: servers reachable through its gateway/);
  } else {
    assert.equal(r.host, 0);
    assert.ok(r.gw >= 1, `gateway counted ${r.gw}`);
    assert.equal(daemon!.lines.filter((l) => l.leak === 'dns-leak').length, 0);
  }
  const m = await metrics();
  assert.match(m, new RegExp(`^twine_leak_warnings\\{kind="dns-leak"\\} ${hostForwards ? 1 : 0}$`, 'm'));
  const status = await runAllowFail(process.execPath, [new URL('../../../bin/twine.js', import.meta.url).pathname, 'status', APP_LEAK, '--socket', daemon!.socket]);
  if (hostForwards) assert.match(status.stdout, /^warning: dns-leak: .*give the container dns: servers/m);
  else assert.doesNotMatch(status.stdout, /dns-leak/);
});

test('twine.dns=required without dns: servers: refused on engines that forward from the host (error naming container and label, nothing applied), applied elsewhere', async () => {
  const d = await doc(APP_REQ);
  const routes = await twineRoutes({ pid: (await inspectContainer(APP_REQ)).pid });
  if (hostForwards) {
    assert.equal(d.status, 'invalid');
    assert.equal(d.labelErrors.length, 1);
    assert.equal(d.labelErrors[0]!.key, 'twine.dns');
    assert.match(d.labelErrors[0]!.reason, /would leak.*give the container dns: servers reachable through its gateway/);
    assert.ok(daemon!.lines.some((l) => l.container === APP_REQ && /twine\.dns/.test(JSON.stringify(l))), 'the error is logged naming the label');
    assert.deepEqual(routes, []);
  } else {
    assert.equal(d.status, 'applied');
    assert.equal(routes.length, 1);
  }
});

test('IPv6: twine.ipv6=block leaves only on-link (the gateway\'s and link-local addresses answer); nothing toward the test host is counted anywhere; without it an ipv6-bypass warning, and the same ping reaches the host', async (t) => {
  const blk = await inspectContainer(APP_BLOCK);
  const v6 = await inspectContainer(APP_V6);
  const gwAddr = (await inspectContainer(GW)).networks.find((n) => n.name === NET6)?.ipv6;
  assert.ok(gwAddr, 'the gateway has an IPv6 address');
  assert.deepEqual((await doc(APP_BLOCK)).warnings.filter((w) => w.leak), []);
  assert.deepEqual((await doc(APP_V6)).warnings.flatMap((w) => (w.leak ? [w.leak] : [])), ['ipv6-bypass']);
  const def6 = await execIn({ pid: blk.pid }, 'ip', ['-6', 'route', 'show', 'default']);
  assert.match(def6, /unreachable default .*proto 74/, def6);
  for (const ns of [blk.pid, v6.pid]) {
    await execIn({ pid: ns }, 'nft', ['add table inet twt_lk6']);
    await execIn({ pid: ns }, 'nft', ['add chain inet twt_lk6 post { type filter hook postrouting priority 500; }']);
    await execIn({ pid: ns }, 'nft', [`add rule inet twt_lk6 post ip6 daddr ${FAR6} counter`]);
  }
  const [, host0] = await hostCounts();
  const blocked = await dockerExec(APP_BLOCK, ['ping6', '-c2', '-W1', TARGET6]);
  await new Promise((res) => setTimeout(res, 300));
  const [, host1] = await hostCounts();
  const [inBlk = -1] = await ruleCounters({ pid: blk.pid }, 'twt_lk6');
  t.diagnostic(`docker ${engine}: ${APP_BLOCK} ping6 ${TARGET6}: exit ${blocked.exitCode}, counted in the app ${inBlk}, on the host ${host1 - host0}`);
  assert.notEqual(blocked.exitCode, 0);
  assert.equal(inBlk, 0);
  assert.equal(host1 - host0, 0);
  // On-link still works: the gateway's global address and its link-local one.
  const onLink = await dockerExec(APP_BLOCK, ['ping6', '-c1', '-W2', gwAddr]);
  assert.equal(onLink.exitCode, 0, onLink.stdout + onLink.stderr);
  const gwAddrs = (await execIn({ pid: gw.pid }, 'ip', ['-6', '-o', 'addr', 'show'])).split('\n');
  const gwIf = gwAddrs.find((l) => l.includes(` ${gwAddr}/`))?.split(/\s+/)[1];
  const ll = gwAddrs.find((l) => l.split(/\s+/)[1] === gwIf && / fe80::/.test(l));
  const gwLl = / (fe80::[0-9a-f:]+)\//.exec(ll ?? '')?.[1];
  assert.ok(gwIf && gwLl, `the gateway's link-local address on ${NET6}: ${gwAddrs.join('\n')}`);
  const ifc = (await execIn({ pid: blk.pid }, 'ip', ['-6', '-o', 'addr', 'show', 'scope', 'global'])).split(/\s+/)[1]!;
  const llPing = await dockerExec(APP_BLOCK, ['ping6', '-c1', '-W2', `${gwLl}%${ifc}`]);
  assert.equal(llPing.exitCode, 0, llPing.stdout + llPing.stderr);
  // The control: the same ping without the label leaves through Docker's IPv6 default route (blackholed on the host).
  const h2 = (await hostCounts())[1];
  await dockerExec(APP_V6, ['ping6', '-c2', '-W1', TARGET6]);
  await new Promise((res) => setTimeout(res, 300));
  const h3 = (await hostCounts())[1];
  const [inV6 = -1] = await ruleCounters({ pid: v6.pid }, 'twt_lk6');
  t.diagnostic(`docker ${engine}: ${APP_V6} (no label) ping6 ${TARGET6}: counted in the app ${inV6}, on the host ${h3 - h2}`);
  assert.ok(h3 - h2 >= 1, `the host counted ${h3 - h2}`);
  assert.ok(inV6 >= 1);
  assert.match(await metrics(), /^twine_leak_warnings\{kind="ipv6-bypass"\} 1$/m);
});

test("twine cleanup gives a twine.ipv6=block container Docker's IPv6 default route back", async () => {
  const exit = await daemon!.stop('SIGTERM');
  assert.equal(exit.code, 0);
  const pid = (await inspectContainer(APP_BLOCK)).pid;
  const gw6 = (await run('docker', ['inspect', '-f', `{{(index .NetworkSettings.Networks "${NET6}").IPv6Gateway}}`, APP_BLOCK])).trim();
  const r = await runAllowFail(process.execPath, [new URL('../../../bin/twine.js', import.meta.url).pathname, 'cleanup', APP_BLOCK], { timeoutMs: 30_000 });
  assert.equal(r.exitCode, 0, r.stderr);
  const def6 = await execIn({ pid }, 'ip', ['-6', 'route', 'show', 'default']);
  assert.doesNotMatch(def6, /unreachable|proto 74/, def6);
  assert.match(def6, /^default via \S+ dev eth0/m, def6);
  assert.ok(gw6 !== '' && def6.includes(`via ${gw6} `), `${def6} names Docker's gateway ${gw6}`);
});
