// Docker Swarm on one node: the machine's engine becomes a
// single-manager swarm for the length of this file. A stack deploys a gateway
// and an app whose label names the gateway by its short name (`gw`, as inside
// the stack); Twine resolves it to the gateway task's address on the shared
// overlay network (not the service's virtual IP), and traffic flows through
// that task to a test host behind it. Replacing the task (`service update
// --force`) re-points the route; with two gateway tasks the reference is
// ambiguous, so the route is held unreachable and the status names both
// tasks, while a label naming a slot (`<service>.1`) picks one; with none
// running, the route is unreachable (the kill switch) and nothing leaks.
// Here every task is local: Twine follows them through their containers'
// events (the two-node test covers tasks on another node).
//
// Runs under the Docker lock as one command; the after hook leaves the swarm
// (test/bed/swarm.ts) even when a test failed.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  cleanupLeftovers,
  createOverlay,
  createService,
  dockerAt,
  dockerExec,
  farHost,
  farHostDel,
  ipOn,
  OWNER_LABEL,
  routeGet,
  routesExactly,
  run,
  setUpFile,
  startReconciled,
  swarmInit,
  swarmLeave,
  taskContainers,
  TEST_IMAGE,
  TEST_LABEL,
  testPrefix,
  tunnelTo,
  unusedPrefixes24,
  waitUntil,
  type SwarmNode,
  type TaskContainer,
  type TestDaemon,
} from '../bed/index.js';
import { getJson } from '../../src/server/client.js';

const TAG = 'sw';
const P = testPrefix(TAG);
const OV = `${P}ov`;
const STACK = `${P}st`;
const GW = `${STACK}_gw`;
const APP = `${STACK}_app`;
/** A service outside the stack whose label names one slot of the gateway service. */
const PICK = `${P}pick`;
const FAR = `${P}far`;

let node: SwarmNode;
let overlayBase: string;
let farBase: string;
let twine: TestDaemon | undefined;
let dir: string | undefined;
let gwTask: TaskContainer;
let appTask: TaskContainer;

before(async () => {
  await setUpFile(TAG);
  const [overlay, pool, far] = (await unusedPrefixes24(204, 3)) as [string, string, string];
  overlayBase = overlay;
  farBase = far;
  await farHost(FAR, farBase);
  // Swarm's ingress network takes its subnet from this pool (Docker's default is 10.0.0.0/8).
  node = await swarmInit('127.0.0.1', { defaultAddrPool: `${pool}.0/24` });
  await createOverlay(OV, overlayBase);
  twine = await startReconciled({}, 30_000);
});

after(async () => {
  if (twine?.running) await twine.stop('SIGKILL');
  // Removes this process's services (the stack's too: they carry its owner label), then leaves.
  await swarmLeave();
  await farHostDel(FAR, farBase);
  if (dir) rmSync(dir, { recursive: true, force: true });
  await cleanupLeftovers(P);
});

/** The running tasks of a service once there are `n` (none of `not`). */
async function tasks(service: string, n: number, not: TaskContainer[] = []): Promise<TaskContainer[]> {
  return waitUntil(
    `${n} running tasks of ${service}`,
    async () => {
      const ts = (await taskContainers(undefined, service)).filter((t) => !not.some((x) => x.id === t.id));
      return ts.length === n ? ts.sort((a, b) => (a.name < b.name ? -1 : 1)) : undefined;
    },
    60_000,
    200,
  );
}

const overlayIp = (t: TaskContainer): string => ipOn(t, OV, overlayBase);
const attachTunnel = (gw: TaskContainer): Promise<void> => tunnelTo(`${P}w`, gw, FAR, farBase);
const routesVia = (t: TaskContainer, gw: string | undefined): Promise<boolean> => routesExactly(t, farBase, gw);

async function pingFar(task: TaskContainer): Promise<void> {
  const r = await dockerExec(task.name, ['ping', '-c2', '-W2', `${farBase}.2`]);
  assert.equal(r.exitCode, 0, `ping ${farBase}.2 from ${task.name}: ${r.stdout}${r.stderr}`);
}

test("a stack's app routes via its gateway service named as inside the stack: the gateway task's overlay address, traffic through it", async (t) => {
  assert.ok(twine);
  dir = mkdtempSync(path.join(tmpdir(), 'twt-sw-'));
  const owner = { [TEST_LABEL]: '1', [OWNER_LABEL]: String(process.pid) };
  const service = (labels: Record<string, string>) => ({
    image: TEST_IMAGE,
    networks: ['ov'],
    stop_grace_period: '2s',
    labels: { ...owner, ...labels },
    deploy: { labels: owner },
  });
  // JSON is YAML: the stack file without a YAML writer.
  const stack = {
    version: '3.8',
    services: { gw: service({ 'twine.nat.interfaces': 'wg+' }), app: service({ [`twine.route.${farBase}.0/24`]: 'gw' }) },
    networks: { ov: { external: true, name: OV } },
  };
  const file = path.join(dir, 'stack.yml');
  writeFileSync(file, JSON.stringify(stack, null, 2));
  const t0 = performance.now();
  await dockerAt(undefined, ['stack', 'deploy', '--resolve-image', 'never', '-c', file, STACK]);
  [gwTask] = (await tasks(GW, 1)) as [TaskContainer];
  [appTask] = (await tasks(APP, 1)) as [TaskContainer];
  t.diagnostic(`stack deployed → both tasks running: ${(performance.now() - t0).toFixed(0)} ms`);
  assert.equal((await run('docker', ['inspect', '--format', '{{index .Config.Labels "com.docker.stack.namespace"}}', appTask.id])).trim(), STACK);
  await attachTunnel(gwTask);
  const gwIp = overlayIp(gwTask);
  await waitUntil(`the app's route via ${gwIp}`, () => routesVia(appTask, gwIp), 30_000);
  await pingFar(appTask);
});

test('the gateway task replaced (service update --force): the route follows the new task, traffic flows again', async (t) => {
  assert.ok(gwTask && appTask);
  const t0 = performance.now();
  await dockerAt(node.host, ['service', 'update', '--force', '--detach', GW]);
  const [fresh] = (await tasks(GW, 1, [gwTask])) as [TaskContainer];
  assert.notEqual(overlayIp(fresh), overlayIp(gwTask), 'swarm gave the new task a new address');
  await waitUntil(`the app's route re-pointed to ${overlayIp(fresh)}`, () => routesVia(appTask, overlayIp(fresh)), 30_000);
  t.diagnostic(`service update → the app's route re-pointed: ${(performance.now() - t0).toFixed(0)} ms`);
  gwTask = fresh;
  await attachTunnel(gwTask);
  await pingFar(appTask);
  assert.equal((await tasks(APP, 1))[0]?.id, appTask.id, 'the app task was left alone');
});

test('two gateway tasks: the service name is ambiguous (unreachable, the status names both), a slot picks one', async () => {
  assert.ok(twine && appTask);
  await dockerAt(node.host, ['service', 'scale', '--detach', `${GW}=2`]);
  const both = await tasks(GW, 2);
  await waitUntil("the app's route unreachable", () => routesVia(appTask, undefined), 30_000);
  const doc = await getJson<{ desired?: { routes?: { state: string; reason?: string }[] } }>({ socket: twine.socket }, `/api/containers/${appTask.name}`);
  const reason = doc.body.desired?.routes?.[0]?.reason ?? '';
  assert.match(reason, /"gw" matches 2 running tasks/);
  for (const t of both) assert.ok(reason.includes(`(task ${t.name}) at ${overlayIp(t)}`), reason);
  assert.match(reason, /name one in the label, e\.g\. .*_gw\.1/);

  const slot1 = both.find((t) => t.name.startsWith(`${GW}.1.`));
  assert.ok(slot1, both.map((t) => t.name).join(', '));
  await createService(node, { name: PICK, networks: [OV], containerLabels: { [`twine.route.${farBase}.0/24`]: `${GW}.1` } });
  const [pick] = (await tasks(PICK, 1)) as [TaskContainer];
  await waitUntil(`${PICK}'s route via slot 1 (${overlayIp(slot1)})`, () => routesVia(pick, overlayIp(slot1)), 30_000);
});

test('no gateway task: the routes are unreachable (kill switch), nothing reaches the test host', async () => {
  assert.ok(appTask);
  const [pick] = (await tasks(PICK, 1)) as [TaskContainer];
  await dockerAt(node.host, ['service', 'scale', '--detach', `${GW}=0`]);
  // The app's route is already unreachable (two tasks made "gw" ambiguous), and
  // the two tasks stop one after the other: while only one runs, "gw" rightly
  // names it. So the routes are checked once no gateway task runs.
  await tasks(GW, 0);
  await waitUntil('both routes unreachable', async () => (await routesVia(appTask, undefined)) && routesVia(pick, undefined), 30_000);
  for (const task of [appTask, pick]) {
    const r = await routeGet({ pid: task.pid }, `${farBase}.2`);
    assert.equal(r.ok, false, `route get in ${task.name}: ${JSON.stringify(r.route)}`);
    assert.match(r.error, /unreachable|No route to host/i);
    const ping = await dockerExec(task.name, ['ping', '-c1', '-W1', `${farBase}.2`]);
    assert.notEqual(ping.exitCode, 0, `ping from ${task.name} must fail: ${ping.stdout}`);
  }
});
