// Docker Swarm for tests: the machine's own engine becomes a swarm manager for
// the length of one test file and leaves again; further engines (second-engine.ts)
// join as workers; services are labelled and pinned to nodes by node id.
//
// Joining a swarm changes the shared engine, so a test file that calls
// swarmInit must run under the Docker lock, and leave in its after hook. The
// swarm is recorded (owner pid, and whether docker_gwbridge existed before),
// so a killed run's swarm is left and its docker_gwbridge removed by the next
// cleanup, and an engine that was already in a swarm is never taken over.

import { readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { runAllowFail } from './exec.js';
import { dockerAt, dockerAtAllowFail } from './docker.js';
import { TEST_IMAGE } from './image.js';
import { OWNER_DIR, OWNER_LABEL, ownerAlive, PREFIX, TEST_LABEL } from './owner.js';

const RECORD = path.join(OWNER_DIR, 'swarm.json');
const GWBRIDGE = 'docker_gwbridge';

interface SwarmRecord {
  owner: number;
  /** docker_gwbridge existed before the swarm was made (so leaving keeps it). */
  gwbridgeExisted: boolean;
}

export interface SwarmNode {
  /** The engine's address for `docker -H` (undefined: the machine's own engine). */
  host: string | undefined;
  /** The swarm node id (for `--constraint node.id==<id>`). */
  id: string;
  /** Its advertise address. */
  addr: string;
}

function readRecord(): SwarmRecord | undefined {
  try {
    return JSON.parse(readFileSync(RECORD, 'utf8')) as SwarmRecord;
  } catch {
    return undefined;
  }
}

async function swarmState(host: string | undefined): Promise<string> {
  return (await dockerAt(host, ['info', '--format', '{{.Swarm.LocalNodeState}}'])).trim();
}

async function nodeId(host: string | undefined): Promise<string> {
  return (await dockerAt(host, ['info', '--format', '{{.Swarm.NodeID}}'])).trim();
}

/**
 * Makes the machine's engine a single-manager swarm listening and advertising
 * on addr only (port 2377; the data path, VXLAN on 4789, also on addr).
 * Refuses an engine that is already in a swarm (a killed test run's swarm is
 * left first). defaultAddrPool (a CIDR)
 * is where Docker takes the subnets of overlay networks made without one
 * (ingress among them); Docker's default is 10.0.0.0/8.
 */
export async function swarmInit(addr: string, opts: { defaultAddrPool?: string } = {}): Promise<SwarmNode> {
  await cleanupStaleSwarm();
  const state = await swarmState(undefined);
  if (state !== 'inactive') {
    throw new Error(`the machine's Docker engine is already in a swarm (state ${state}): the swarm tests need an engine outside any swarm`);
  }
  const gw = await runAllowFail('docker', ['network', 'inspect', GWBRIDGE]);
  mkdirSync(OWNER_DIR, { recursive: true });
  writeFileSync(RECORD, JSON.stringify({ owner: process.pid, gwbridgeExisted: gw.exitCode === 0 } satisfies SwarmRecord));
  try {
    const pool = opts.defaultAddrPool === undefined ? [] : ['--default-addr-pool', opts.defaultAddrPool];
    await dockerAt(undefined, ['swarm', 'init', '--advertise-addr', addr, '--listen-addr', `${addr}:2377`, '--data-path-addr', addr, ...pool], { timeoutMs: 60_000 });
  } catch (err) {
    await swarmLeave();
    throw err;
  }
  return { host: undefined, id: await nodeId(undefined), addr };
}

/** Joins the engine at host to the swarm of manager as a worker, advertising addr. */
export async function swarmJoin(manager: SwarmNode, host: string, addr: string): Promise<SwarmNode> {
  const token = (await dockerAt(manager.host, ['swarm', 'join-token', '--quiet', 'worker'])).trim();
  await dockerAt(host, ['swarm', 'join', '--token', token, '--advertise-addr', addr, '--listen-addr', `${addr}:2377`, '--data-path-addr', addr, `${manager.addr}:2377`], {
    timeoutMs: 60_000,
  });
  return { host, id: await nodeId(host), addr };
}

/**
 * The machine's engine leaves the swarm this process made, after removing the
 * process's services and containers there (swarm networks go with the swarm),
 * and docker_gwbridge is removed unless it existed before. A no-op when this
 * process made no swarm.
 */
export async function swarmLeave(): Promise<void> {
  const rec = readRecord();
  if (rec === undefined || rec.owner !== process.pid) return;
  await leave(rec);
}

async function leave(rec: SwarmRecord): Promise<void> {
  // The test's services and containers go before the swarm does: an overlay
  // endpoint removed after leaving leaves its sandbox behind in Docker's exec root.
  const owned = `label=${OWNER_LABEL}=${rec.owner}`;
  const services = await runAllowFail('docker', ['service', 'ls', '-q', '--filter', owned]);
  const sids = services.exitCode === 0 ? lines(services.stdout) : [];
  if (sids.length > 0) await runAllowFail('docker', ['service', 'rm', ...sids]);
  const containers = lines((await runAllowFail('docker', ['ps', '-aq', '--filter', owned])).stdout);
  if (containers.length > 0) await runAllowFail('docker', ['rm', '-f', '-v', ...containers]);
  await runAllowFail('docker', ['swarm', 'leave', '--force'], { timeoutMs: 60_000 });
  if (!rec.gwbridgeExisted) await runAllowFail('docker', ['network', 'rm', GWBRIDGE]);
  rmSync(RECORD, { force: true });
}

function lines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

/** A swarm a killed test run left on the machine's engine: left. Returns whether there was one. */
export async function cleanupStaleSwarm(): Promise<boolean> {
  const rec = readRecord();
  if (rec === undefined || ownerAlive(rec.owner)) return false;
  if (rec.owner === process.pid) return false;
  await leave(rec);
  return true;
}

/** An attachable overlay network on the manager (the machine's engine) with the /24 `base`.0/24, labelled as the test bed's. */
export async function createOverlay(name: string, base: string): Promise<void> {
  await dockerAt(undefined, ['network', 'create', '--driver', 'overlay', '--attachable', '--subnet', `${base}.0/24`, '--label', `${TEST_LABEL}=1`, '--label', `${OWNER_LABEL}=${process.pid}`, name]);
}

export interface ServiceOptions {
  name: string;
  /** Overlay networks to attach. */
  networks?: string[];
  /** Pins the service's tasks to this node. */
  node?: SwarmNode;
  /** Labels on the task containers (`--container-label`): twine.* labels go here. */
  containerLabels?: Record<string, string>;
  replicas?: number;
  capAdd?: string[];
  cmd?: string[];
}

function testLabelArgs(flag: string): string[] {
  return [flag, `${TEST_LABEL}=1`, flag, `${OWNER_LABEL}=${process.pid}`];
}

/** docker service create (detached: returns before tasks run) of the test image; returns the service id. */
export async function createService(manager: SwarmNode, opts: ServiceOptions): Promise<string> {
  if (!opts.name.startsWith(PREFIX)) throw new Error(`service ${JSON.stringify(opts.name)} must start with ${PREFIX}`);
  // --no-resolve-image: there is no registry; every node has the image locally.
  const args = ['service', 'create', '--detach', '--no-resolve-image', '--name', opts.name, ...testLabelArgs('--label'), ...testLabelArgs('--container-label')];
  for (const [k, v] of Object.entries(opts.containerLabels ?? {})) args.push('--container-label', `${k}=${v}`);
  for (const n of opts.networks ?? []) args.push('--network', n);
  if (opts.node) args.push('--constraint', `node.id==${opts.node.id}`);
  if (opts.replicas !== undefined) args.push('--replicas', String(opts.replicas));
  for (const c of opts.capAdd ?? []) args.push('--cap-add', c);
  args.push('--stop-grace-period', '2s', TEST_IMAGE, ...(opts.cmd ?? []));
  return (await dockerAt(manager.host, args)).trim();
}

export async function removeService(manager: SwarmNode, name: string): Promise<void> {
  await dockerAtAllowFail(manager.host, ['service', 'rm', name]);
}

export interface TaskContainer {
  /** Container name (<service>.<slot>.<task id>). */
  name: string;
  id: string;
  pid: number;
  /** Its address on each network, by network name. */
  addresses: Record<string, string>;
}

/** The running task containers of a service on one engine. */
export async function taskContainers(host: string | undefined, service: string): Promise<TaskContainer[]> {
  const ids = (await dockerAt(host, ['ps', '-q', '--no-trunc', '--filter', `label=com.docker.swarm.service.name=${service}`])).split('\n').filter((l) => l.trim() !== '');
  if (ids.length === 0) return [];
  const raw = JSON.parse(await dockerAt(host, ['inspect', '--type', 'container', ...ids])) as Array<{
    Id: string;
    Name: string;
    State: { Running: boolean; Pid: number };
    NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
  }>;
  return raw
    .filter((c) => c.State.Running && c.State.Pid > 0)
    .map((c) => ({
      name: c.Name.replace(/^\//, ''),
      id: c.Id,
      pid: c.State.Pid,
      addresses: Object.fromEntries(Object.entries(c.NetworkSettings.Networks ?? {}).map(([n, v]) => [n, v.IPAddress])),
    }));
}
