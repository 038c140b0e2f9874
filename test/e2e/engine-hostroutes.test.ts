// Host routes (issue 5, e2e 8). "The host" is an `ip netns` test namespace of
// our own (--host-netns), never the machine's: it has an address in the
// test network's subnet on a veth, so a container's address is on-link there.
// With --allow-host-routes, twine.host.routes=10.77.0.0/16 puts
// `10.77.0.0/16 via <container IP> proto 74` there while the container runs
// and takes it away when it stops or goes; a stale route of Twine's protocol
// is removed at start-up. Without the opt-in the label is refused.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  cleanupLeftovers,
  createNetworkWithSubnet,
  ensureImage,
  fakeHost,
  ip,
  LABEL_ERROR_MSG,
  netnsDel,
  removeContainer,
  removeNetwork,
  routes,
  run,
  runContainer,
  startDaemon,
  tagPrefix,
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
const HOST_NS = { netns: HOST };

let net: AutoNetwork;
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
  await cleanupLeftovers(tagPrefix('eh'));
  await ensureImage();
  net = await createNetworkWithSubnet(NET);
  await fakeHost(HOST, `${P}v`, net);
});

after(async () => {
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
  await Promise.all([R, R2].map(removeContainer));
  await netnsDel(HOST);
  await removeNetwork(NET);
  await cleanupLeftovers(P);
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
