// The dnsmasq → traefik example end to end: UDP that
// container A sends to its own 127.0.0.1:5353 arrives at container B:5353
// (twine.nat.interfaces=lo, twine.nat.forward.lo.5353/udp=B:5353), and B's
// answer comes back to A, as a DNS reply would. busybox nc has no UDP, so the
// host's python3 runs inside the two namespaces (nsenter -n).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  containerIp,
  createNetwork,
  dockerExec,
  inNs,
  iptablesListings,
  runAllowFail,
  runContainer,
  setUpFile,
  startReconciled,
  sysctlIn,
  tearDownFile,
  testPrefix,
  twineTable,
  waitUntil,
  type TestContainer,
  type TestDaemon,
} from '../bed/index.js';

const P = testPrefix('ed');
const NET = `${P}net`;
const A = `${P}dns`;
const B = `${P}trf`;

let daemon: TestDaemon | undefined;
let a: TestContainer;
let b: TestContainer;

// Receives one datagram on :5353, answers "pong:<data>" to its sender, prints "<data> <sender ip>".
const LISTENER = [
  'import socket',
  's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
  "s.bind(('0.0.0.0', 5353))",
  's.settimeout(10)',
  'd, src = s.recvfrom(512)',
  "s.sendto(b'pong:' + d, src)",
  "print(d.decode(), src[0], flush=True)",
].join('\n');

// Sends one datagram to 127.0.0.1:5353 and prints the answer.
const SENDER = [
  'import socket, sys',
  's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
  's.settimeout(3)',
  "s.sendto(sys.argv[1].encode(), ('127.0.0.1', 5353))",
  'print(s.recvfrom(512)[0].decode(), flush=True)',
].join('\n');

before(async () => {
  await setUpFile('ed');
  await createNetwork(NET);
  daemon = await startReconciled({ args: ['--resync-interval', '0'] });
  [a, b] = await Promise.all([
    runContainer({ name: A, networks: [NET], labels: { 'twine.nat.interfaces': 'lo', 'twine.nat.forward.lo.5353/udp': `${B}:5353` } }),
    runContainer({ name: B, networks: [NET] }),
  ]);
  await waitUntil('the forward to B in A', async () => JSON.stringify((await twineTable({ pid: a.pid }))?.rules ?? []).includes('dnat'));
});

after(async () => {
  await tearDownFile(P, { daemons: [daemon], containers: [A, B], networks: [NET] });
});

test("dnsmasq example: UDP to A's 127.0.0.1:5353 arrives at B:5353 and B's answer comes back", async (t) => {
  const aIp = await containerIp(A, NET);
  assert.equal(await sysctlIn({ pid: a.pid }, 'net.ipv4.conf.all.route_localnet'), '1');
  const listener = inNs(b.pid, 'python3', ['-c', LISTENER]);
  // Send only once the listener is bound.
  await waitUntil('the listener in B', async () => (await inNs(b.pid, 'ss', ['-Huln', 'sport = :5353'])).includes('5353'));
  const t0 = performance.now();
  const sent = await runAllowFail('nsenter', ['-t', String(a.pid), '-n', 'python3', '-c', SENDER, 'acme-challenge?']);
  const rtt = performance.now() - t0;
  assert.equal(sent.exitCode, 0, `sender in A: ${sent.stderr}`);
  assert.equal(sent.stdout.trim(), 'pong:acme-challenge?');
  const got = (await listener).trim();
  // The forwarded datagram is masqueraded to A's address on the shared network (B can answer it).
  assert.equal(got, `acme-challenge? ${aIp}`);
  t.diagnostic(`round trip through A's lo forward: ${rtt.toFixed(0)} ms (incl. process start)`);
});

test("Docker's iptables and DNS still work in the forwarding container", async () => {
  for (const l of await iptablesListings({ pid: a.pid })) assert.equal(l.exitCode, 0, `iptables ${l.args}: ${l.stderr}`);
  const ns = await dockerExec(A, ['nslookup', B, '127.0.0.11']);
  assert.equal(ns.exitCode, 0, ns.stdout + ns.stderr);
  assert.ok(ns.stdout.includes(await containerIp(B, NET)), ns.stdout);
});
