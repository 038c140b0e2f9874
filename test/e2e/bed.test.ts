// Proves the bed end to end with a real engine: a labelled container is
// reported by a running `twine start`, containers started later show up
// through the event stream, a route written into a container's namespace is
// read back through the bed, and SIGINT stops the daemon with 0 within 2 s.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  cleanupLeftovers,
  createNetwork,
  inNs,
  removeContainer,
  removeNetwork,
  routes,
  runContainer,
  startDaemon,
  testPrefix,
  tagPrefix,
  ensureImage,
  TEST_IMAGE,
  run,
  type TestContainer,
  type TestDaemon,
} from '../bed/index.js';

const P = testPrefix('eb');
const TAG = tagPrefix('eb');
const NET = `${P}net`;
let c1: TestContainer;
let daemon: TestDaemon | undefined;

before(async () => {
  await cleanupLeftovers(TAG);
  await ensureImage();
  await createNetwork(NET);
  c1 = await runContainer({ name: `${P}c1`, networks: [{ name: NET, aliases: ['gw'] }], labels: { 'twine.nat.interfaces': 'wg+' } });
});

after(async () => {
  if (daemon?.running) await daemon.stop('SIGKILL');
  await removeContainer(`${P}c1`);
  await removeContainer(`${P}c2`);
  await removeNetwork(NET);
  await cleanupLeftovers(P);
});

test('the test image has the busybox applets tests rely on', async () => {
  const out = await run('docker', ['run', '--rm', '--name', `${P}img`, '--network', 'none', '--label', 'twine-test=1', TEST_IMAGE, 'sh', '-c', 'for a in ip nc ping nslookup wget sleep; do readlink /bin/$a; done']);
  assert.deepEqual(out.trim().split('\n'), Array(6).fill('busybox'));
});

test('twine start reports labelled containers, follows events, and exits 0 within 2 s of SIGINT', async (t) => {
  daemon = startDaemon();
  // The engine it talks to, as Docker itself reports it.
  const engine = await daemon.waitForLog((l) => l.msg === 'docker engine');
  const [version, api] = (await run('docker', ['version', '--format', '{{.Server.Version}} {{.Server.APIVersion}}'])).trim().split(' ');
  assert.deepEqual([engine.version, engine.apiVersion], [version, api]);
  t.diagnostic(`docker engine ${String(engine.version)} (API ${String(engine.apiVersion)})`);
  const seen = await daemon.waitForLog((l) => l.container === c1.name && l.msg.startsWith("labelled container"));
  assert.deepEqual(seen.labels, { 'twine.nat.interfaces': 'wg+' });

  const c2 = await runContainer({ name: `${P}c2`, networks: [NET], labels: { 'twine.route.10.250.0.0/16': 'gw' } });
  const started = await daemon.waitForLog((l) => l.container === c2.name && l.action === 'start');
  assert.equal(typeof started.timeNano, 'string');

  const exit = await daemon.stop('SIGINT');
  assert.equal(exit.code, 0, `exit ${exit.code} / ${exit.signal}`);
  assert.ok(exit.ms < 2000, `stopped in ${exit.ms.toFixed(0)} ms`);
  t.diagnostic(`SIGINT to exit: ${exit.ms.toFixed(0)} ms`);
});

test("a route written into a container's namespace is read back through the bed", async () => {
  // A private prefix no test host is on; only the routing table is touched, no packet is sent.
  await inNs(c1.pid, 'ip', ['route', 'add', '10.252.9.0/24', 'dev', 'eth0', 'proto', 'static']);
  const r = await routes({ pid: c1.pid });
  const mine = r.find((x) => x.dst === '10.252.9.0/24');
  assert.ok(mine, `route not found in ${JSON.stringify(r)}`);
  assert.equal(mine.dev, 'eth0');
  assert.equal(mine.protocol, 'static');
  const get = await inNs(c1.pid, 'ip', ['-j', 'route', 'get', '10.252.9.7']);
  assert.equal((JSON.parse(get) as Array<{ dev: string }>)[0]?.dev, 'eth0');
});
