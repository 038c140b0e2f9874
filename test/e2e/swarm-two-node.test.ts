// A two-node Docker Swarm on one machine: the machine's engine is
// the manager (node A); a second engine in a network namespace of its own
// (test/bed/second-engine.ts) joins as a worker (node B) over a veth link.
// First the bed itself: containers on an attachable overlay, one per node,
// reach each other, and the packets cross the veth link (VXLAN). Then Twine
// on both nodes (node B's in B's namespace, against B's engine): an app task
// on B routes a test prefix via a gateway service whose task runs on A; the
// route reads back with the gateway task's overlay address, and pings reach a
// test host behind the gateway, over the overlay. When the gateway task is
// replaced, B's route follows the new task and traffic flows again; while no
// task of it runs anywhere, B's route is unreachable (the kill switch).
//
// Runs under the Docker lock as one command: the swarm and the second engine
// exist only while this file runs; the after hook stops the engine and leaves
// the swarm, and a killed run's leftovers are removed by the next cleanup.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  cleanupLeftovers,
  copyImage,
  createOverlay,
  createService,
  dockerAt,
  dockerExec,
  farHost,
  farHostDel,
  ipOn,
  OWNER_LABEL,
  parseJson,
  removeContainer,
  routeGet,
  routesExactly,
  run,
  runContainer,
  setUpFile,
  startDaemon,
  startSecondEngine,
  stopSecondEngine,
  swarmInit,
  swarmJoin,
  swarmLeave,
  taskContainers,
  TEST_IMAGE,
  TEST_LABEL,
  testPrefix,
  tunnelTo,
  unusedPrefixes24,
  waitUntil,
  type SecondEngine,
  type SwarmNode,
  type TaskContainer,
  type TestDaemon,
} from '../bed/index.js';

const TAG = 'sn';
const P = testPrefix(TAG);
const OV = `${P}ov`;
const GW = `${P}gw`;
const APP = `${P}app`;
/** The test host behind the gateway (the far side of its stand-in tunnel wg0). */
const FAR = `${P}far`;
const GW_LABELS = { 'twine.nat.interfaces': 'wg+' };

let engine: SecondEngine | undefined;
let nodeA: SwarmNode;
let nodeB: SwarmNode;
/** First three octets of the overlay's /24. */
let overlayBase: string;
/** First three octets of the test host's /24: the gateway's wg0 is .1, the test host .2. */
let farBase: string;
let twineA: TestDaemon | undefined;
let twineB: TestDaemon | undefined;

const labelArgs = ['--label', `${TEST_LABEL}=1`, '--label', `${OWNER_LABEL}=${process.pid}`];

async function linkPackets(dev: string): Promise<{ rx: number; tx: number }> {
  const [l] = parseJson<Array<{ stats64: { rx: { packets: number }; tx: { packets: number } } }>>(await run('ip', ['-j', '-s', 'link', 'show', 'dev', dev]));
  if (!l) throw new Error(`no link ${dev}`);
  return { rx: l.stats64.rx.packets, tx: l.stats64.tx.packets };
}

before(async () => {
  await setUpFile(TAG);
  const [link, overlay, pool, far] = (await unusedPrefixes24(203, 4)) as [string, string, string, string];
  overlayBase = overlay;
  farBase = far;
  await farHost(FAR, farBase);
  engine = await startSecondEngine({ prefix: P, linkBase: link });
  await copyImage(engine, TEST_IMAGE);
  // Swarm's own ingress network takes its subnet from this pool, not from Docker's default 10.0.0.0/8.
  nodeA = await swarmInit(engine.hostAddr, { defaultAddrPool: `${pool}.0/24` });
  nodeB = await swarmJoin(nodeA, engine.host, engine.nodeAddr);
  await createOverlay(OV, overlayBase);
});

after(async () => {
  await Promise.all([twineA, twineB].map((d) => (d?.running ? d.stop('SIGKILL') : undefined)));
  await removeContainer(`${P}a`);
  // The second engine goes first: stopping it stops its containers; then the manager leaves.
  if (engine) await stopSecondEngine(engine);
  await swarmLeave();
  await farHostDel(FAR, farBase);
  await cleanupLeftovers(P);
});

test('two engines, one swarm: containers on an attachable overlay, one per node, reach each other over the veth link', async () => {
  assert.ok(engine);
  const nodes = (await dockerAt(undefined, ['node', 'ls', '--format', '{{.ID}} {{.Status}}'])).trim().split('\n').sort();
  assert.deepEqual(nodes, [`${nodeA.id} Ready`, `${nodeB.id} Ready`].sort());
  assert.notEqual(nodeA.id, nodeB.id);
  // The second engine keeps its state apart from the machine's engine.
  assert.equal((await dockerAt(engine.host, ['info', '--format', '{{.DockerRootDir}}'])).trim(), `${engine.dir}/data`);

  const a = await runContainer({ name: `${P}a`, networks: [OV] });
  await dockerAt(engine.host, ['run', '-d', '--name', `${P}b`, '--network', OV, ...labelArgs, TEST_IMAGE]);
  const ipOf = async (host: string | undefined, name: string): Promise<string> =>
    (await dockerAt(host, ['inspect', '--format', `{{(index .NetworkSettings.Networks "${OV}").IPAddress}}`, name])).trim();
  const ipA = await ipOf(undefined, a.name);
  const ipB = await ipOf(engine.host, `${P}b`);
  assert.ok(ipA.startsWith(`${overlayBase}.`) && ipB.startsWith(`${overlayBase}.`), `${ipA} ${ipB}`);

  const before = await linkPackets(engine.hostLink);
  const fromB = await dockerAt(engine.host, ['exec', `${P}b`, 'ping', '-c3', '-W2', ipA]).catch((err: unknown) => String(err));
  assert.match(fromB, / 0% packet loss/, `ping A from B: ${fromB}`);
  const fromA = await dockerExec(a.name, ['ping', '-c3', '-W2', ipB]);
  assert.equal(fromA.exitCode, 0, `ping B from A: ${fromA.stdout}${fromA.stderr}`);
  const afterPing = await linkPackets(engine.hostLink);
  // 6 echo requests and 6 replies crossed the link, each way 6 packets (VXLAN-encapsulated).
  assert.ok(afterPing.rx - before.rx >= 6 && afterPing.tx - before.tx >= 6, `veth counters ${JSON.stringify(before)} → ${JSON.stringify(afterPing)}`);
});

/** The one running task of a service on an engine (other than `not`, a task being replaced). */
async function oneTask(host: string | undefined, service: string, not?: TaskContainer): Promise<TaskContainer> {
  return waitUntil(
    `a running task of ${service}${not ? ` other than ${not.name}` : ''}`,
    async () => {
      const ts = (await taskContainers(host, service)).filter((t) => t.id !== not?.id);
      return ts.length === 1 ? ts[0] : undefined;
    },
    60_000,
    200,
  );
}

const overlayIp = (t: TaskContainer): string => ipOn(t, OV, overlayBase);
const attachTunnel = (gw: TaskContainer): Promise<void> => tunnelTo(`${P}w`, gw, FAR, farBase);
/** Twine's routes in the app task on B are exactly the test prefix via `gw` (unreachable when gw is undefined). */
const appRoutesVia = (app: TaskContainer, gw: string | undefined): Promise<boolean> => routesExactly(app, farBase, gw);

/** Pings the test host from the app task on B; the requests and replies cross the veth link between the nodes. */
async function pingFarFromApp(app: TaskContainer): Promise<void> {
  assert.ok(engine);
  const before = await linkPackets(engine.hostLink);
  const out = await dockerAt(engine.host, ['exec', app.name, 'ping', '-c3', '-W2', `${farBase}.2`]).catch((err: unknown) => String(err));
  assert.match(out, / 0% packet loss/, `ping ${farBase}.2 from ${app.name} on node B: ${out}`);
  const after = await linkPackets(engine.hostLink);
  assert.ok(after.rx - before.rx >= 3 && after.tx - before.tx >= 3, `veth counters ${JSON.stringify(before)} → ${JSON.stringify(after)}`);
}

let gwTask: TaskContainer;
let appTask: TaskContainer;

test('a route via a service whose task runs on the other node: the overlay address of that task, and traffic through it to the test host', async (t) => {
  assert.ok(engine);
  twineA = startDaemon();
  twineB = startDaemon({ netns: engine.netnsPath, args: ['--docker-socket', engine.host] });
  await Promise.all([twineA, twineB].map((d) => d.waitForLog((l) => l.msg === 'reconciled', 30_000)));

  const t0 = performance.now();
  await createService(nodeA, { name: GW, networks: [OV], node: nodeA, containerLabels: GW_LABELS });
  await createService(nodeA, { name: APP, networks: [OV], node: nodeB, containerLabels: { [`twine.route.${farBase}.0/24`]: GW } });
  gwTask = await oneTask(undefined, GW);
  appTask = await oneTask(engine.host, APP);
  t.diagnostic(`services created → both tasks running: ${(performance.now() - t0).toFixed(0)} ms`);
  const gwIp = overlayIp(gwTask);
  // Node B's engine does not run the gateway task: Twine on B knows it from the overlay network's view.
  assert.deepEqual(await taskContainers(engine.host, GW), []);
  await attachTunnel(gwTask);

  const t1 = performance.now();
  await waitUntil(`the app's route via ${gwIp}`, () => appRoutesVia(appTask, gwIp), 30_000);
  t.diagnostic(`app task running → its route via the gateway task on node A: ${(performance.now() - t1).toFixed(0)} ms`);
  await pingFarFromApp(appTask);
});

test('the gateway task replaced: the route on the other node follows the new task, and traffic flows again', async (t) => {
  assert.ok(engine && gwTask && appTask);
  const oldIp = overlayIp(gwTask);
  const t0 = performance.now();
  await dockerAt(nodeA.host, ['service', 'update', '--force', '--detach', GW]);
  const fresh = await oneTask(undefined, GW, gwTask);
  const newIp = overlayIp(fresh);
  assert.notEqual(newIp, oldIp, 'swarm gave the new task a new address');
  await waitUntil(`the app's route re-pointed to ${newIp}`, () => appRoutesVia(appTask, newIp), 30_000);
  t.diagnostic(`service update → the app's route re-pointed on node B: ${(performance.now() - t0).toFixed(0)} ms`);
  await attachTunnel(fresh);
  await pingFarFromApp(appTask);
  // The app task itself was left alone.
  assert.equal((await oneTask(engine.host, APP)).id, appTask.id);
});

test('no gateway task runs anywhere: the route on the other node is unreachable, and follows the task that comes back', async (t) => {
  assert.ok(engine && gwTask && appTask);
  const last = await oneTask(undefined, GW);
  await dockerAt(nodeA.host, ['service', 'scale', '--detach', `${GW}=0`]);
  await waitUntil(`the app's route unreachable`, () => appRoutesVia(appTask, undefined), 30_000);
  const r = await routeGet({ pid: appTask.pid }, `${farBase}.2`);
  assert.equal(r.ok, false, `route get in the app: ${JSON.stringify(r.route)}`);
  assert.match(r.error, /unreachable|No route to host/i);

  const t0 = performance.now();
  await dockerAt(nodeA.host, ['service', 'scale', '--detach', `${GW}=1`]);
  const back = await oneTask(undefined, GW, last);
  await waitUntil(`the app's route via ${overlayIp(back)}`, () => appRoutesVia(appTask, overlayIp(back)), 30_000);
  t.diagnostic(`service scaled 0 → 1 → the app's route re-pointed on node B: ${(performance.now() - t0).toFixed(0)} ms`);
  await attachTunnel(back);
  await pingFarFromApp(appTask);
});
