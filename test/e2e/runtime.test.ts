// The twine runtime, with the real dockerd (Docker 28, which wires a
// container's interfaces between create and start, and Docker 20.10, which
// wires them in a prestart hook during create): installed with `twine runtime
// install --reload` (it changes /etc/docker/daemon.json and SIGHUPs dockerd;
// e2e files run one at a time, and `after` puts the file back as it was, also
// when a test fails). Each container's first command prints its routing table:
// with the runtime, Twine's route is in it every time.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import {
  cleanupLeftovers,
  containerIp,
  createNetwork,
  ensureImage,
  parallel,
  removeContainer,
  removeNetwork,
  run,
  runAllowFail,
  runContainer,
  startDaemon,
  tagPrefix,
  testPrefix,
  twineCli,
  waitUntil,
  OWNER_LABEL,
  TEST_LABEL,
  type TestDaemon,
} from '../bed/index.js';

const DAEMON_JSON = '/etc/docker/daemon.json';
/** A run killed before `after` leaves this: the next run restores from it first. */
const BACKUP = '/tmp/twt-runtime-daemon-json.backup';
const P = testPrefix('rt');
const NET_A = `${P}a`;
const NET_B = `${P}b`;
const GW_A = `${P}gwa`;
const GW_B = `${P}gwb`;
const DIR = `/tmp/${P}dir`;
const SOCK = `/tmp/${P}.sock`;
const DST = '10.251.0.0/16';
const BURST = 20;
const BURSTS = 2;
const TWO_NETWORKS = 10;
const RUNTIME = ['--runtime', 'twine'];
const FIRST = ['sh', '-c', 'ip route; exec sleep 3600'];

let original: string | undefined;
let daemon: TestDaemon | undefined;
const containers: string[] = [];
const gwIp: Record<string, string> = {};

function readDaemonJson(): string | undefined {
  return existsSync(DAEMON_JSON) ? readFileSync(DAEMON_JSON, 'utf8') : undefined;
}

/** The engine's data root, where the wrapper reads containers' labels (Docker 20.10 runs with one of its own here). */
let dockerRoot = '/var/lib/docker';

/** The default hook timeout (10 s); the tests of a start with no answer set a short one. */
async function install(extra: string[] = []): Promise<void> {
  const r = await twineCli(['runtime', 'install', '--dir', DIR, '--hook-socket', SOCK, '--hook-timeout', '10', '--docker-root', dockerRoot, '--reload', ...extra]);
  assert.equal(r.exitCode, 0, r.stderr);
}

async function uninstall(): Promise<void> {
  const r = await twineCli(['runtime', 'uninstall', '--dir', DIR, '--reload', '--force']);
  assert.equal(r.exitCode, 0, r.stderr);
}

async function runtimes(): Promise<string[]> {
  return Object.keys(JSON.parse(await run('docker', ['info', '--format', '{{json .Runtimes}}'])) as Record<string, unknown>);
}

/** Puts daemon.json back byte for byte (uninstall does; this is the safety net). */
async function restore(): Promise<void> {
  await parallel(containers.splice(0), 8, removeContainer);
  if ((await runtimes()).includes('twine')) await twineCli(['runtime', 'uninstall', '--dir', DIR, '--reload', '--force']);
  if (readDaemonJson() !== original) {
    if (original === undefined) unlinkSync(DAEMON_JSON);
    else writeFileSync(DAEMON_JSON, original);
  }
  rmSync(DIR, { recursive: true, force: true });
  rmSync(BACKUP, { force: true });
}

function startTwine(args: string[] = []): TestDaemon {
  daemon = startDaemon({ args: ['--resync-interval', '0', ...args], env: { TWINE_SOCKET: SOCK }, logLevel: 'debug' });
  return daemon;
}

async function stopTwine(): Promise<void> {
  if (daemon?.running) await daemon.stop();
  daemon = undefined;
}

async function twineUp(d: TestDaemon): Promise<void> {
  await d.waitForLog((l) => l.msg === 'reconciled', 30_000);
}

/** The lines of the container's first output that route DST. */
async function firstRoutes(name: string): Promise<string[]> {
  return waitUntil(`${name}'s first output`, async () => {
    const out = await run('docker', ['logs', name]);
    return out.includes('dev eth') ? out.split('\n').filter((l) => l.startsWith(DST)) : undefined;
  }, 15_000);
}

before(async () => {
  if (existsSync(BACKUP)) {
    // An earlier run was killed with the runtime installed.
    const saved = JSON.parse(readFileSync(BACKUP, 'utf8')) as { text: string | null };
    original = saved.text ?? undefined;
    await restore();
  }
  original = readDaemonJson();
  dockerRoot = (await run('docker', ['info', '--format', '{{.DockerRootDir}}'])).trim();
  writeFileSync(BACKUP, JSON.stringify({ text: original ?? null }));
  await cleanupLeftovers(tagPrefix('rt'));
  await ensureImage();
  await createNetwork(NET_A);
  await createNetwork(NET_B);
  await runContainer({ name: GW_A, networks: [NET_A] });
  await runContainer({ name: GW_B, networks: [NET_B] });
  containers.push(GW_A, GW_B);
  gwIp[NET_A] = await containerIp(GW_A, NET_A);
  gwIp[NET_B] = await containerIp(GW_B, NET_B);
  await install();
  await twineUp(startTwine());
});

after(async () => {
  await stopTwine();
  await restore();
  await removeNetwork(NET_A);
  await removeNetwork(NET_B);
  await cleanupLeftovers(P);
});

test('install registers the runtime: dockerd lists it after the reload, daemon.json keeps everything else', async () => {
  assert.ok((await runtimes()).includes('twine'));
  const now = JSON.parse(readDaemonJson()!) as Record<string, unknown>;
  assert.deepEqual(now.runtimes, { twine: { path: `${DIR}/twine-runc` } });
  const { runtimes: _r, ...rest } = now;
  const { runtimes: before = {}, ...restBefore } = original === undefined ? {} : (JSON.parse(original) as Record<string, unknown>);
  assert.deepEqual(rest, restBefore);
  assert.deepEqual(Object.keys(before as object).filter((k) => k !== 'twine'), []);
});

test(`${BURSTS} bursts of ${BURST} labelled containers on one network: each one's first command sees Twine's route`, async () => {
  for (let b = 0; b < BURSTS; b++) {
    const names = Array.from({ length: BURST }, (_, i) => `${P}one${b}x${i}`);
    containers.push(...names);
    await parallel(names, BURST, (name) =>
      runContainer({ name, networks: [NET_A], labels: { [`twine.route.${DST}`]: GW_A }, cmd: FIRST, extraArgs: RUNTIME, oneShot: true }),
    );
    for (const name of names) assert.deepEqual((await firstRoutes(name)).map((l) => l.split(' ').slice(0, 3).join(' ')), [`${DST} via ${gwIp[NET_A]}`], name);
  }
});

for (const transport of ['lib', 'exec'] as const) {
  test(`${TWO_NETWORKS} labelled containers on two networks (routed through the second), nft transport ${transport}: each one's first command sees the route`, async () => {
    await stopTwine();
    // Docker 28 connects the second network while the first one's early transaction runs (slower with exec).
    const d = startTwine(['--nft-transport', transport]);
    await twineUp(d);
    const names = Array.from({ length: TWO_NETWORKS }, (_, i) => `${P}two${transport}${i}`);
    containers.push(...names);
    const labels = { [`twine.route.${DST}`]: GW_B, 'twine.nat.interfaces': 'eth1' };
    await parallel(names, 4, (name) => runContainer({ name, networks: [NET_A, NET_B], labels, cmd: FIRST, extraArgs: RUNTIME, createOnly: true }));
    await parallel(names, TWO_NETWORKS, (name) => run('docker', ['start', name]));
    for (const name of names) {
      const routes = await firstRoutes(name);
      assert.equal(routes.length, 1, `${name}: ${JSON.stringify(routes)}`);
      assert.match(routes[0]!, new RegExp(`^${DST.replace(/\./g, '\\.')} via ${gwIp[NET_B]!.replace(/\./g, '\\.')} dev eth`), name);
    }
    const held = new Set(d.lines.filter((l) => l.msg === 'runtime hook: applied, the container may start').map((l) => l.container));
    assert.deepEqual(names.filter((n) => !held.has(n)), [], 'every start was held by the wrapper until its transaction was in place');
  });
}

test('an unlabelled container with the runtime starts as without it, even while Twine is down; with no record to read, Twine answers at once', async () => {
  const name = `${P}plain`;
  containers.push(name);
  await runContainer({ name, networks: [NET_A], cmd: FIRST, extraArgs: RUNTIME, oneShot: true });
  assert.deepEqual(await firstRoutes(name), []);
  // The wrapper read its labels from Docker's record: it needs no Twine.
  await stopTwine();
  const down = `${P}plaindown`;
  containers.push(down);
  await runContainer({ name: down, networks: [NET_A], cmd: FIRST, extraArgs: RUNTIME, oneShot: true });
  assert.deepEqual(await firstRoutes(down), []);
  // Without that record (--docker-root ""), the wrapper asks, and Twine passes it through.
  await install(['--docker-root', '']);
  try {
    const d = startTwine();
    await twineUp(d);
    const asked = `${P}plainasked`;
    containers.push(asked);
    const c = await runContainer({ name: asked, networks: [NET_A], cmd: FIRST, extraArgs: RUNTIME, oneShot: true });
    assert.deepEqual(await firstRoutes(asked), []);
    await d.waitForLog((l) => l.msg === 'runtime hook: no twine labels, passed through' && l.id === c.id.slice(0, 12));
  } finally {
    await install();
  }
});

test('Twine stopped: a labelled container with the runtime fails to start, naming Twine and the reason (closed); it starts in open mode', async () => {
  await stopTwine();
  await install(['--hook-timeout', '3']);
  const name = `${P}closed`;
  containers.push(name);
  // The bed's labels (test and owner): a leftover cleanup running elsewhere leaves a live run's container alone.
  const r = await runAllowFail('docker', ['run', '-d', '--name', name, '--label', `${TEST_LABEL}=1`, '--label', `${OWNER_LABEL}=${process.pid}`, '--label', `twine.route.${DST}=${GW_A}`, '--network', NET_A, ...RUNTIME, 'twine-test/busybox:latest', ...FIRST]);
  assert.notEqual(r.exitCode, 0);
  assert.match(r.stderr, /twine: container [0-9a-f]{12} not started \(fail-closed runtime\): no answer from the daemon within 3000 ms/);
  const state = await run('docker', ['inspect', '-f', '{{.State.Running}}', name]);
  assert.equal(state.trim(), 'false');

  // `docker start` shows it too.
  const again = await runAllowFail('docker', ['start', name]);
  assert.notEqual(again.exitCode, 0);
  assert.match(again.stderr, /twine: container [0-9a-f]{12} not started/);

  await install(['--hook-timeout', '3', '--hook-mode', 'open']);
  try {
    const open = await runAllowFail('docker', ['start', name]);
    assert.equal(open.exitCode, 0, open.stderr);
    assert.deepEqual(await firstRoutes(name), [], 'started without Twine: no route');
  } finally {
    await install();
  }
});

test('Twine restarting: runc start waits for it, and the container starts with its route in place', async () => {
  await stopTwine();
  await install(['--hook-timeout', '30']);
  try {
    const name = `${P}restart`;
    containers.push(name);
    const starting = runContainer({ name, networks: [NET_A], labels: { [`twine.route.${DST}`]: GW_A }, cmd: FIRST, extraArgs: RUNTIME, oneShot: true });
    // The wrapper holds `runc start` and waits for the socket: start Twine only then.
    const holding = (l: string): boolean => l.startsWith(`${DIR}/twine-runc `) && / start [0-9a-f]{64}$/.test(l);
    await waitUntil('runc start held', async () => (await run('ps', ['-eo', 'args'])).split('\n').some(holding), 15_000);
    const d = startTwine();
    await twineUp(d);
    await starting;
    const seen = (await firstRoutes(name)).map((l) => l.split(' ').slice(0, 3).join(' '));
    assert.deepEqual(seen, [`${DST} via ${gwIp[NET_A]}`], JSON.stringify(d.lines.filter((l) => l.container === name || String(l.msg).includes('hook'))));
  } finally {
    await install();
  }
});

test('uninstall leaves daemon.json as it was, and dockerd no longer lists the runtime', async () => {
  await stopTwine();
  await parallel(containers.splice(0), 8, removeContainer);
  await uninstall();
  assert.equal(readDaemonJson(), original);
  assert.ok(!(await runtimes()).includes('twine'));
  assert.ok(!existsSync(`${DIR}/twine-runc`));
});
