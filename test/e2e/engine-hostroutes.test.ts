// Host routes. "The host" is an `ip netns` test namespace of
// our own (--host-netns), never the machine's: it has an address in the
// test network's subnet on a veth, so a container's address is on-link there.
// With --allow-host-routes, twine.host.routes=10.77.0.0/16 puts
// `10.77.0.0/16 via <container IP> proto 74` there while the container runs
// and takes it away when it stops or goes; a stale route of Twine's protocol
// is removed at start-up. Without the opt-in the label is refused.
// Policy: default routes, loopback, link-local, multicast, prefixes
// overlapping a subnet connected on "the host" (its addresses, and Docker's
// networks) and, with --host-routes-allow, prefixes outside the allowed ones
// are refused, one issue each; two containers claiming one prefix: the first
// keeps it (also across a restart of Twine), the other is refused naming both
// and gets it when the first stops.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  createNetworkWithSubnet,
  fakeHost,
  ip,
  LABEL_ERROR_MSG,
  removeContainer,
  routes,
  run,
  runContainer,
  setUpFile,
  startDaemon,
  tearDownFile,
  testPrefix,
  twineRoutes,
  twineTable,
  waitForLogFrom,
  waitUntil,
  type AutoNetwork,
  type TestDaemon,
} from '../bed/index.js';

const P = testPrefix('eh');
const NET = `${P}net`;
const HOST = `${P}h`;
const R = `${P}r`;
const R2 = `${P}r2`;
const BADR = `${P}bad`;
const A = `${P}a`;
const B = `${P}b`;
const NET2 = `${P}n2`;
const HOST_NS = { netns: HOST };

let net: AutoNetwork;
let net2: AutoNetwork;
let daemon: TestDaemon;
/** Every daemon this file started: all are killed in after(), whatever failed. */
const daemons: TestDaemon[] = [];

function start(args: string[]): TestDaemon {
  const d = startDaemon({ args: [...args, '--resync-interval', '0'] });
  daemons.push(d);
  return d;
}

async function hostRoutes(): Promise<string[]> {
  return (await twineRoutes(HOST_NS)).map((r) => `${r.dst} via ${r.gateway ?? '-'} dev ${r.dev ?? '-'}`).sort();
}

before(async () => {
  await setUpFile('eh');
  net = await createNetworkWithSubnet(NET);
  await fakeHost(HOST, `${P}v`, net);
  // A network Docker has that "the host" namespace has no address on: still connected.
  net2 = await createNetworkWithSubnet(NET2);
});

after(async () => {
  await tearDownFile(P, { daemons, containers: [R, R2, BADR, A, B], netns: [HOST], networks: [NET, NET2] });
});

test('with --allow-host-routes: stale routes go at start-up; the route is there while the container runs, gone when it stops or is removed', async (t) => {
  // A leftover of an earlier Twine (killed while a container with host routes ran).
  await ip(HOST_NS, ['route', 'add', '10.78.0.0/16', 'via', `${net.base}.21`, 'proto', '74']);
  assert.deepEqual(await hostRoutes(), [`10.78.0.0/16 via ${net.base}.21 dev h0`]);

  daemon = start(['--allow-host-routes', '--host-netns', `/run/netns/${HOST}`]);
  await daemon.waitForLog((l) => l.msg === 'reconciled');
  await waitUntil('the stale host route removed', async () => (await hostRoutes()).length === 0);

  const want = [`10.77.0.0/16 via ${net.base}.20 dev h0`];
  await runContainer({ name: R, networks: [{ name: NET, ipv4: `${net.base}.20` }], labels: { 'twine.host.routes': '10.77.0.0/16' } });
  await waitUntil('the host route', async () => JSON.stringify(await hostRoutes()) === JSON.stringify(want));
  const hostLine = await daemon.waitForLog((l) => l.container === '@host' && l.msg === 'host routes' && JSON.stringify(l.replaced).includes('10.77.0.0/16'));
  assert.ok(hostLine);
  // The routing decision in "the host" now goes via the container.
  const get = await routes(HOST_NS, 4, ['match', '10.77.1.1']);
  assert.ok(get.some((r) => r.dst === '10.77.0.0/16' && r.gateway === `${net.base}.20`), JSON.stringify(get));

  await run('docker', ['stop', '-t', '5', R]);
  let t0 = performance.now();
  await waitUntil('the host route gone after stop', async () => (await hostRoutes()).length === 0);
  t.diagnostic(`docker stop returned → host route gone: ${(performance.now() - t0).toFixed(0)} ms`);

  await run('docker', ['start', R]);
  await waitUntil('the host route back after start', async () => JSON.stringify(await hostRoutes()) === JSON.stringify(want));
  await removeContainer(R);
  t0 = performance.now();
  await waitUntil('the host route gone after rm -f', async () => (await hostRoutes()).length === 0);
  t.diagnostic(`docker rm -f returned → host route gone: ${(performance.now() - t0).toFixed(0)} ms`);

  const exit = await daemon.stop('SIGTERM');
  assert.equal(exit.code, 0);
});

test('without the opt-in: the label is refused, nothing reaches the host namespace or the container', async () => {
  // Even with --host-netns given, no --allow-host-routes means no host route.
  for (const d of daemons) await d.stop('SIGKILL');
  await ip(HOST_NS, ['route', 'flush', 'proto', '74']);
  daemon = start(['--host-netns', `/run/netns/${HOST}`]);
  await daemon.waitForLog((l) => l.msg === 'reconciled');
  const mark = daemon.lines.length;
  const c = await runContainer({ name: R2, networks: [NET], labels: { 'twine.host.routes': '10.77.0.0/16', 'twine.nat.interfaces': 'eth+' } });
  const err = await waitForLogFrom(daemon, mark, (l) => l.msg === LABEL_ERROR_MSG && l.container === R2);
  assert.equal(err.level, 50);
  assert.match(String(err.err), /twine\.host\.routes/);
  assert.match(String(err.err), /allow-host-routes/);
  assert.deepEqual(await hostRoutes(), []);
  assert.deepEqual(await twineRoutes({ pid: c.pid }), []);
  assert.equal(await twineTable({ pid: c.pid }), null);
  // A late write would be a job still queued: SIGTERM lets every queued job finish
  // (and leaves what was applied in place), so after a drained exit nothing is pending.
  const exit = await daemon.stop('SIGTERM');
  assert.equal(exit.code, 0);
  assert.equal(daemon.lines.find((l) => l.msg === 'twine stopped; what was applied stays in place')?.drained, true);
  assert.deepEqual(await hostRoutes(), []);
  assert.deepEqual(await twineRoutes({ pid: c.pid }), []);
});

test('policy: each refused prefix is named (default, loopback, link-local, multicast, connected, Docker network, outside --host-routes-allow); nothing applied', async () => {
  for (const d of daemons) await d.stop('SIGKILL');
  await removeContainer(R2); // it asks for 10.77.0.0/16, which the conflict test below gives to others
  await ip(HOST_NS, ['route', 'flush', 'proto', '74']);
  // A subnet connected on "the host" that no Docker network has.
  await ip(HOST_NS, ['addr', 'add', '10.79.5.1/24', 'dev', 'h1']);
  daemon = start(['--allow-host-routes', '--host-netns', `/run/netns/${HOST}`, '--host-routes-allow', '10.76.0.0/14']);
  await daemon.waitForLog((l) => l.msg === 'reconciled');
  const mark = daemon.lines.length;
  const refused = ['0.0.0.0/0', '::/0', '127.0.0.0/8', '169.254.169.254/32', 'fe80::/10', '224.0.0.0/4', '10.79.0.0/16', net2.subnet, '10.80.0.0/16'];
  const c = await runContainer({ name: BADR, networks: [{ name: NET, ipv4: `${net.base}.23` }], labels: { 'twine.host.routes': refused.join(','), 'twine.nat.interfaces': 'eth+' } });
  const err = await waitForLogFrom(daemon, mark, (l) => l.msg === LABEL_ERROR_MSG && l.container === BADR);
  const text = String(err.err);
  assert.match(text, new RegExp(`^container ${BADR}: ${refused.length} invalid labels`), text);
  const reasons: [string, RegExp][] = [
    ['0.0.0.0/0', /is the default route/],
    ['::/0', /is the default route/],
    ['127.0.0.0/8', /loopback/],
    ['169.254.169.254/32', /link-local/],
    ['fe80::/10', /link-local/],
    ['224.0.0.0/4', /multicast/],
    ['10.79.0.0/16', /overlaps 10\.79\.5\.0\/24, a subnet connected on the host \(h1 \(10\.79\.5\.1\/24\)\)/],
    [net2.subnet, new RegExp(`overlaps ${net2.subnet.replace(/\./g, '\\.')}, a subnet connected on the host \\(Docker network ${NET2}\\)`)],
    ['10.80.0.0/16', /not inside the allowed prefixes \(--host-routes-allow=10\.76\.0\.0\/14\)/],
  ];
  for (const [cidr, re] of reasons) {
    const line = text.split('\n').find((l) => l.includes(`: ${cidr} `));
    assert.ok(line && re.test(line), `${cidr}: ${line ?? '(no issue)'}\n${text}`);
    assert.ok(line.includes('twine.host.routes='), 'each issue names the label');
  }
  assert.deepEqual(await hostRoutes(), []);
  assert.deepEqual(await twineRoutes({ pid: c.pid }), []);
  assert.equal(await twineTable({ pid: c.pid }), null, 'nothing of the container is applied either');
  await removeContainer(BADR);
});

test('a prefix equal to a static route of the host is refused naming that route; the host\'s route is untouched, also after the container is removed', async (t) => {
  // "The host" has its own static route (as for a VPN or a BGP peer), on its veth's subnet.
  const statik = `10.78.0.0/16 via ${net.base}.99 dev h0 proto static`;
  await ip(HOST_NS, ['route', 'add', '10.78.0.0/16', 'via', `${net.base}.99`, 'dev', 'h0', 'proto', 'static']);
  const show = async (): Promise<string> => (await ip(HOST_NS, ['route', 'show', '10.78.0.0/16'])).trim();
  assert.equal(await show(), statik);
  const mark = daemon.lines.length;
  await runContainer({ name: R2, networks: [{ name: NET, ipv4: `${net.base}.24` }], labels: { 'twine.host.routes': '10.78.0.0/16' } });
  const err = await waitForLogFrom(daemon, mark, (l) => l.msg === LABEL_ERROR_MSG && l.container === R2);
  const text = String(err.err);
  t.diagnostic(text);
  assert.match(text, new RegExp(`10\\.78\\.0\\.0/16 overlaps 10\\.78\\.0\\.0/16, a route of the host \\(via ${net.base.replace(/\./g, '\\.')}\\.99 dev h0, table main, proto 4\\)`));
  assert.equal(await show(), statik, "the host's route as it was");
  assert.deepEqual(await hostRoutes(), []);
  await removeContainer(R2);
  // Give a late host-routes job its chance (it runs on the container's destroy event), then look again.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(await show(), statik, "the host's route still there after the container was removed");
  await ip(HOST_NS, ['route', 'del', '10.78.0.0/16']);
});

test('conflict: the container that held a prefix first keeps it (across a restart of Twine); the other is refused naming both, and gets it when the first stops', async () => {
  const viaA = [`10.77.0.0/16 via ${net.base}.21 dev h0`];
  const viaB = [`10.77.0.0/16 via ${net.base}.22 dev h0`];
  await runContainer({ name: A, networks: [{ name: NET, ipv4: `${net.base}.21` }], labels: { 'twine.host.routes': '10.77.0.0/16' } });
  await waitUntil('the host route via A', async () => JSON.stringify(await hostRoutes()) === JSON.stringify(viaA));
  let mark = daemon.lines.length;
  // B asks for the same prefix, and for one inside it: both conflict.
  await runContainer({ name: B, networks: [{ name: NET, ipv4: `${net.base}.22` }], labels: { 'twine.host.routes': '10.77.0.0/16,10.77.9.0/24' } });
  let err = await waitForLogFrom(daemon, mark, (l) => l.msg === LABEL_ERROR_MSG && l.container === B);
  assert.match(String(err.err), new RegExp(`10\\.77\\.0\\.0/16 conflicts with container ${A}, which holds it and keeps it: .*${B}'s claim is refused`));
  assert.match(String(err.err), new RegExp(`10\\.77\\.9\\.0/24 conflicts with container ${A}, which holds the overlapping 10\\.77\\.0\\.0/16`));
  assert.deepEqual(await hostRoutes(), viaA);

  // A restart: whichever container is planned first, A held it.
  await daemon.stop('SIGTERM');
  daemon = start(['--allow-host-routes', '--host-netns', `/run/netns/${HOST}`]);
  mark = 0;
  err = await waitForLogFrom(daemon, mark, (l) => l.msg === LABEL_ERROR_MSG && l.container === B, 15_000);
  assert.match(String(err.err), new RegExp(`conflicts with container ${A}`));
  await daemon.waitForLog((l) => l.msg === 'reconciled');
  assert.deepEqual(await hostRoutes(), viaA);

  // A stops: B is re-planned and takes the prefix.
  mark = daemon.lines.length;
  await run('docker', ['stop', '-t', '5', A]);
  await waitUntil('the host route via B', async () => JSON.stringify((await hostRoutes()).filter((r) => r.startsWith('10.77.0.0/16'))) === JSON.stringify(viaB), 10_000);
  assert.deepEqual((await hostRoutes()).sort(), [...viaB, `10.77.9.0/24 via ${net.base}.22 dev h0`].sort());
  // And A, started again, is now the one refused.
  await run('docker', ['start', A]);
  err = await waitForLogFrom(daemon, mark, (l) => l.msg === LABEL_ERROR_MSG && l.container === A);
  assert.match(String(err.err), new RegExp(`conflicts with container ${B}`));
  assert.deepEqual((await hostRoutes()).filter((r) => r.startsWith('10.77.0.0/16')), viaB);
});
