// A two-node Docker Swarm on one machine (issue 20): the machine's engine is
// the manager (node A); a second engine in a network namespace of its own
// (test/bed/second-engine.ts) joins as a worker (node B) over a veth link.
// First the bed itself: containers on an attachable overlay, one per node,
// reach each other, and the packets cross the veth link (VXLAN).
//
// Runs under the Docker lock as one command: the swarm and the second engine
// exist only while this file runs; the after hook stops the engine and leaves
// the swarm, and a killed run's leftovers are removed by the next cleanup.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  cleanupLeftovers,
  copyImage,
  dockerAt,
  dockerExec,
  ensureImage,
  OWNER_LABEL,
  parseJson,
  removeContainer,
  run,
  runContainer,
  startSecondEngine,
  stopSecondEngine,
  swarmInit,
  swarmJoin,
  swarmLeave,
  tagPrefix,
  TEST_IMAGE,
  TEST_LABEL,
  testPrefix,
  unusedPrefixes24,
  type SecondEngine,
  type SwarmNode,
} from '../bed/index.js';

const TAG = 'sn';
const P = testPrefix(TAG);
const OV = `${P}ov`;

let engine: SecondEngine | undefined;
let nodeA: SwarmNode;
let nodeB: SwarmNode;
/** First three octets of the overlay's /24. */
let overlayBase: string;

const labelArgs = ['--label', `${TEST_LABEL}=1`, '--label', `${OWNER_LABEL}=${process.pid}`];

async function linkPackets(dev: string): Promise<{ rx: number; tx: number }> {
  const [l] = parseJson<Array<{ stats64: { rx: { packets: number }; tx: { packets: number } } }>>(await run('ip', ['-j', '-s', 'link', 'show', 'dev', dev]));
  if (!l) throw new Error(`no link ${dev}`);
  return { rx: l.stats64.rx.packets, tx: l.stats64.tx.packets };
}

before(async () => {
  await cleanupLeftovers(tagPrefix(TAG));
  await ensureImage();
  const [link, overlay, pool] = (await unusedPrefixes24(203, 3)) as [string, string, string];
  overlayBase = overlay;
  engine = await startSecondEngine({ prefix: P, linkBase: link });
  await copyImage(engine, TEST_IMAGE);
  // Swarm's own ingress network takes its subnet from this pool, not from Docker's default 10.0.0.0/8.
  nodeA = await swarmInit(engine.hostAddr, { defaultAddrPool: `${pool}.0/24` });
  nodeB = await swarmJoin(nodeA, engine.host, engine.nodeAddr);
  await dockerAt(undefined, ['network', 'create', '--driver', 'overlay', '--attachable', '--subnet', `${overlayBase}.0/24`, ...labelArgs, OV]);
});

after(async () => {
  await removeContainer(`${P}a`);
  // The second engine goes first: stopping it stops its containers; then the manager leaves.
  if (engine) await stopSecondEngine(engine);
  await swarmLeave();
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
