// Twine's image as users run it: built from the repository's
// Dockerfile, started by docker-compose from examples/twine/docker-compose.yml
// itself (its capabilities, pid: host, security options, the internal network
// and the read-only Docker API proxy), against real labelled containers. It
// applies a route (read back in the app's namespace) and a port forward (a
// connection goes through it), with no capability beyond the example's.
//
// No registry here: the image is the Dockerfile's `prebuilt` target on local
// bases (test/bed/twine-image.ts), and the proxy's image is replaced by a
// stand-in that passes the same GET-only paths (test/fixtures/docker-api-proxy);
// the override file swaps only those images, the names, the /run/twine host
// path and the restart policy.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildTwineImage,
  cleanupLeftovers,
  compose,
  containerIp,
  containerPid,
  createNetwork,
  dockerExec,
  ensureImage,
  exampleFile,
  removeContainer,
  removeNetwork,
  run,
  runContainer,
  tagPrefix,
  testPrefix,
  twineCli,
  twineRoutes,
  twineTable,
  waitUntil,
  writeOverride,
  type ComposeOptions,
  type TestContainer,
} from '../bed/index.js';

const P = testPrefix('im');
const NET = `${P}net`;
const SRV = `${P}srv`;
const GW = `${P}gw`;
const APP = `${P}app`;
const TWINE = `${P}twine`;
const PROXY = `${P}proxy`;
const RUN_DIR = `/tmp/${P}run`;
const PROXY_JS = fileURLToPath(new URL('../../../test/fixtures/docker-api-proxy/proxy.mjs', import.meta.url));
/** Only in the app's namespace: a route, never a destination of traffic. */
const PREFIX = '10.99.77.0/24';
const LISTEN = ['sh', '-c', 'while true; do echo hello-srv | nc -l -p 9080; done'];
/** The example's cap_add (NET_ADMIN 12, SYS_PTRACE 19, SYS_ADMIN 21, SYS_NICE 23) after cap_drop ALL. */
const EXAMPLE_CAPS = (1n << 12n) | (1n << 19n) | (1n << 21n) | (1n << 23n);
/** What the proxy lets through, as the example's header lists it. */
const TWINE_READS = new Set(['/_ping', '/version', '/events', '/containers/json', '/containers/<id>/json', '/networks']);

let project: ComposeOptions;
let gw: TestContainer;
let app: TestContainer;
let built = '';

before(async () => {
  await cleanupLeftovers(tagPrefix('im'));
  await ensureImage();
  const t0 = performance.now();
  const image = await buildTwineImage();
  built = `${image.tag} in ${Math.round(performance.now() - t0)} ms (made: ${image.made.join(', ') || 'nothing, all cached'})`;
  mkdirSync(RUN_DIR, { recursive: true });
  const override = writeOverride(path.join(RUN_DIR, 'override.yml'), {
    twine: { image: image.tag, container_name: TWINE, environment: { TWINE_LOG_LEVEL: 'debug' }, volumes: [`${RUN_DIR}:/run/twine`] },
    'docker-proxy': { image: image.base, container_name: PROXY, entrypoint: ['node', '/proxy.mjs'], volumes: [`${PROXY_JS}:/proxy.mjs:ro`] },
  });
  project = { project: P.replace(/-$/, ''), files: [exampleFile('twine'), override] };
  const up = await compose(project, ['up', '-d', '--no-build']);
  assert.equal(up.exitCode, 0, `docker-compose up: ${up.stderr}`);
  await waitUntil('twine healthy in its container', async () => (await dockerExec(TWINE, ['twine', 'healthcheck', '--quiet'])).exitCode === 0, 30_000, 200);

  await createNetwork(NET, { internal: false });
  await runContainer({ name: SRV, networks: [NET], cmd: LISTEN });
  // A gateway as a VPN client is: capabilities Twine does not have (so opening its namespace needs SYS_PTRACE).
  gw = await runContainer({ name: GW, networks: [NET], capAdd: ['NET_ADMIN', 'SYS_MODULE'], labels: { 'twine.nat.forward.eth0.8080': `${SRV}:9080` } });
  app = await runContainer({ name: APP, networks: [NET], labels: { [`twine.route.${PREFIX}`]: GW } });
});

after(async () => {
  if (project) await compose(project, ['down', '-v', '-t', '2']);
  await Promise.all([SRV, GW, APP].map(removeContainer));
  await removeNetwork(NET);
  rmSync(RUN_DIR, { recursive: true, force: true });
  await cleanupLeftovers(P);
});

test('the image, run as the compose example, routes a container via another and forwards a port to a third', async (t) => {
  t.diagnostic(`image ${built}`);
  const gwIp = await containerIp(GW, NET);
  const routes = await waitUntil('the route in the app', async () => {
    const r = await twineRoutes({ pid: app.pid });
    return r.length > 0 && r;
  }, 15_000);
  assert.deepEqual(routes.map((r) => ({ dst: r.dst, gateway: r.gateway })), [{ dst: PREFIX, gateway: gwIp }]);

  await waitUntil('the forward in the gateway', async () => JSON.stringify((await twineTable({ pid: gw.pid }))?.rules ?? []).includes('dnat'), 15_000).catch(async (err: Error) => {
    throw new Error(`${err.message}\ntwine status:\n${(await twineCli(['status', '--socket', path.join(RUN_DIR, 'twine.sock')])).stdout}`);
  });
  // A packet through the forward: app → gateway:8080 → srv:9080.
  const nc = await waitUntil('an answer through the forward', async () => {
    const r = await dockerExec(APP, ['nc', '-w', '3', gwIp, '8080']);
    return /hello-srv/.test(r.stdout) && r;
  }, 15_000, 500);
  assert.match(nc.stdout, /hello-srv/);

  // The status socket is on the host through the /run/twine mount.
  const st = await twineCli(['status', '--socket', path.join(RUN_DIR, 'twine.sock'), '--json']);
  assert.equal(st.exitCode, 0, st.stderr);
  const docs = JSON.parse(st.stdout) as Array<{ name: string; status: string }>;
  for (const name of [GW, APP]) assert.equal(docs.find((d) => d.name === name)?.status, 'applied', st.stdout);
});

test("Twine runs with the example's capabilities and nothing else", async () => {
  const pid = await containerPid(TWINE);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  for (const set of ['CapEff', 'CapPrm', 'CapBnd']) {
    const hex = new RegExp(`^${set}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1];
    assert.equal(BigInt(`0x${hex}`), EXAMPLE_CAPS, `${set} of twine: ${hex}`);
  }
  // Not privileged, and Docker's seccomp profile is on.
  assert.match(status, /^Seccomp:\s*2$/m);
  const inspect = (await run('docker', ['inspect', '-f', '{{.HostConfig.Privileged}} {{.HostConfig.PidMode}}', TWINE])).trim();
  assert.equal(inspect, 'false host');
});

test('Twine reads the Docker API through the proxy, and only the paths the example lists', async () => {
  const r = await run('docker', ['logs', PROXY]);
  const lines = r.split('\n').filter((l) => /^(allowed|denied) /.test(l));
  assert.deepEqual(lines.filter((l) => l.startsWith('denied')), [], 'requests the proxy refused');
  const paths = new Set(lines.map((l) => l.split(' ')[2]!.replace(/^\/v[\d.]+/, '').replace(/^\/containers\/[^/]+\/json$/, '/containers/<id>/json')));
  for (const p of paths) assert.ok(TWINE_READS.has(p), `Twine asked for ${p}, which the example does not list`);
  for (const p of ['/events', '/containers/json']) assert.ok(paths.has(p), `no ${p} through the proxy: ${[...paths].join(', ')}`);
  // A write through the proxy is refused (the stand-in answers as the real one does: 403).
  const post = await dockerExec(TWINE, ['node', '-e', `fetch('http://docker-proxy:2375/containers/${APP}/stop', { method: 'POST' }).then((r) => console.log(r.status))`]);
  assert.equal(post.stdout.trim(), '403', post.stderr);
});
