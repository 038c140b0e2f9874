// A forward whose destination is recreated on a new address: a UDP
// sender in the forwarding container sends every 100 ms from a fixed source
// port to its lo:5353 forward (the dnsmasq → traefik case). Its conntrack entry
// would keep the flow on the old address for as long as it keeps sending, and
// the old address is taken by another container. Twine deletes the stale
// entries, so the new destination receives the flow; the time from its start
// to the first datagram is measured.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import {
  createNetworkWithSubnet,
  removeContainer,
  runContainer,
  setUpFile,
  startReconciled,
  tearDownFile,
  testPrefix,
  twineTable,
  waitUntil,
  type AutoNetwork,
  type TestContainer,
  type TestDaemon,
} from '../bed/index.js';

const P = testPrefix('ct');
const NET = `${P}net`;
const FWD = `${P}fwd`;
const DST = `${P}dst`;
const OTHER = `${P}oth`;

let daemon: TestDaemon | undefined;
let net: AutoNetwork;
let fwd: TestContainer;
const children: ChildProcess[] = [];

/** A python3 process in a container's namespace; its stdout lines go to onLine. */
function inNsPython(pid: number, code: string, onLine: (l: string) => void): ChildProcess {
  const c = spawn('nsenter', ['-t', String(pid), '-n', 'python3', '-u', '-c', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  createInterface({ input: c.stdout! }).on('line', onLine);
  children.push(c);
  return c;
}

/** A UDP receiver on :5353 in the container; resolves with the wall-clock ms of the first datagram. */
function receiver(pid: number): { ready: Promise<number>; first: Promise<number> } {
  let ready!: (ms: number) => void;
  let first!: (ms: number) => void;
  const r = { ready: new Promise<number>((res) => (ready = res)), first: new Promise<number>((res) => (first = res)) };
  inNsPython(pid, 'import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("0.0.0.0",5353))\nprint("ready",time.time()*1000)\ns.recvfrom(100)\nprint(time.time()*1000)', (l) => {
    if (l.startsWith('ready')) ready(Number(l.split(' ')[1]));
    else first(Number(l));
  });
  return r;
}

function dnatTo(addr: string): Promise<boolean> {
  return twineTable({ pid: fwd.pid }).then((t) => JSON.stringify(t?.rules ?? []).includes(`"addr":"${addr}"`));
}

before(async () => {
  await setUpFile('ct');
  net = await createNetworkWithSubnet(NET);
  daemon = await startReconciled({ args: ['--resync-interval', '0'] });
  fwd = await runContainer({ name: FWD, networks: [NET], labels: { 'twine.nat.forward.lo.5353/udp': DST } });
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await tearDownFile(P, { daemons: [daemon], containers: [FWD, DST, OTHER], networks: [NET] });
});

test('conntrack: a continuing UDP flow reaches its destination recreated on a new address within 1 s of its start', async (t) => {
  const oldIp = `${net.base}.10`;
  const newIp = `${net.base}.11`;
  const dst1 = await runContainer({ name: DST, networks: [{ name: NET, ipv4: oldIp }], oneShot: true });
  await waitUntil('the forward to the first destination', () => dnatTo(oldIp));
  const r1 = receiver(dst1.pid);
  await r1.ready;
  // The sender: one socket, one source port, a datagram every 100 ms.
  inNsPython(fwd.pid, 'import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("127.0.0.1",40053))\nwhile True:\n s.sendto(b"x",("127.0.0.1",5353))\n time.sleep(0.1)', () => {});
  await r1.first;

  // Recreated: the old one goes, another container takes its address, the destination comes back on a new one.
  await removeContainer(DST);
  await runContainer({ name: OTHER, networks: [{ name: NET, ipv4: oldIp }], oneShot: true });
  const dst2 = await runContainer({ name: DST, networks: [{ name: NET, ipv4: newIp }], oneShot: true });
  const startedAt = Date.now();
  const r2 = receiver(dst2.pid);
  const timeout = new Promise<number>((_, rej) => setTimeout(() => rej(new Error('the new destination received nothing within 10 s')), 10_000));
  const firstAt = await Promise.race([r2.first, timeout]).catch((err: unknown) => {
    const mine = daemon!.lines.filter((l) => l.container === FWD).map((l) => JSON.stringify({ msg: l.msg, reasons: l.reasons, changed: l.changed, err: l.err }));
    throw new Error(`${String(err)}; the forwarding container's log:\n${mine.join('\n')}`);
  });
  const ms = firstAt - startedAt;
  const readyMs = (await r2.ready) - startedAt;
  t.diagnostic(`new destination ${newIp}: first datagram ${ms.toFixed(0)} ms after its start (its receiver listened after ${readyMs.toFixed(0)} ms; old address ${oldIp} taken by another container)`);
  assert.ok(await dnatTo(newIp));
  // The receiver's own start-up (python3 through nsenter) is not Twine's: the flow must reach
  // it within 1 s of whichever came later, the destination's start or its receiver listening.
  assert.ok(ms - Math.max(0, readyMs) <= 1000, `first datagram ${ms} ms after the start, ${ms - readyMs} ms after the receiver listened`);
  const deleted = daemon!.lines.filter((l) => l.container === FWD && typeof (l.changed as { conntrack?: number } | undefined)?.conntrack === 'number');
  t.diagnostic(`conntrack deletions logged: ${JSON.stringify(deleted.map((l) => (l.changed as { conntrack: number }).conntrack))}`);
  assert.ok(deleted.length > 0, 'Twine deleted stale conntrack entries in the forwarding container');
});
