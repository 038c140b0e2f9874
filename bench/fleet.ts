// The bench's Docker objects: one --internal network, gateway containers at
// fixed addresses and labelled "fleet" containers, all named twt-bench-* and
// carrying the test bed's owner labels (so a cleanup after a killed run finds them).

import Docker from 'dockerode';
import { dockerodeOptions } from '../src/docker/client.js';
import { resolveDockerEndpoint } from '../src/docker/endpoint.js';
import { cleanupLeftovers, ensureImage, inUse, OWNER_LABEL, TEST_IMAGE, TEST_LABEL } from '../test/bed/index.js';
import { mapLimit } from '../src/util/map-limit.js';

export const BENCH_PREFIX = 'twt-bench-';
/** Per run: a network whose removal failed (stale endpoints in dockerd) must not block the next run. */
export const NETWORK = `${BENCH_PREFIX}net-${process.pid.toString(36)}`;
/** The /16 this run got (10.88 unless an earlier network still holds it). */
let base = '10.88';
/** A fixed address below Docker's dynamic range (gateways). */
export const fixedIp = (host: number): string => `${base}.0.${host}`;
/** Routed via the gateways (never sent to: the network is internal and no traffic is sent). */
export const ROUTE_CIDR = '10.200.0.0/16';

export interface Gateway {
  name: string;
  ip: string;
  id: string;
}

export function docker(): Docker {
  return new Docker(dockerodeOptions(resolveDockerEndpoint(undefined, process.env)));
}

function ownerLabels(): Record<string, string> {
  return { [TEST_LABEL]: '1', [OWNER_LABEL]: String(process.pid) };
}

/** Labels of a fleet container: a route, a forward and a custom rule, all via/at `gw`. */
export function fleetLabels(gw: string): Record<string, string> {
  return {
    [`twine.route.${ROUTE_CIDR}`]: gw,
    'twine.nat.forward.8080': `${gw}:80`,
    'twine.iptables.rule.a': 'TWINE_INPUT -p tcp --dport 22 -j ACCEPT',
  };
}

/**
 * Removes twt-bench-* leftovers (this run's, or a killed run's). Containers go
 * first, several at a time through the API: the bed's one `docker rm -f` of
 * every name times out with ~1000 of them.
 */
export async function cleanup(d: Docker = docker()): Promise<void> {
  const list = await d.listContainers({ all: true, filters: { name: [BENCH_PREFIX] } });
  const mine = list.filter((c) => {
    if (!c.Names.some((n) => n.replace(/^\//, '').startsWith(BENCH_PREFIX))) return false;
    const owner = Number(c.Labels[OWNER_LABEL]);
    return owner === process.pid || !inUse('', owner);
  });
  await pool(mine, 8, (c) => d.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined));
  await cleanupLeftovers(BENCH_PREFIX);
}

export async function createNetwork(d: Docker): Promise<void> {
  await ensureImage();
  let last: unknown;
  for (let k = 88; k < 100; k++) {
    try {
      await d.createNetwork({
        Name: NETWORK,
        Internal: true,
        CheckDuplicate: true,
        Labels: ownerLabels(),
        // Docker hands out addresses from the upper half; fixed ones (gateways) live below it.
        IPAM: { Config: [{ Subnet: `10.${k}.0.0/16`, IPRange: `10.${k}.128.0/17` }] },
      });
      base = `10.${k}`;
      return;
    } catch (err) {
      last = err; // the subnet overlaps another network: try the next
    }
  }
  throw last;
}

export interface CreateOptions {
  name: string;
  labels?: Record<string, string>;
  ip?: string;
  /** A runtime of dockerd's daemon.json (`twine`); default Docker's. */
  runtime?: string;
}

/** docker create (not started); returns the id. */
export async function createContainer(d: Docker, o: CreateOptions): Promise<string> {
  const c = await d.createContainer({
    name: o.name,
    Image: TEST_IMAGE,
    Labels: { ...ownerLabels(), ...(o.labels ?? {}) },
    StopTimeout: 1,
    HostConfig: { NetworkMode: NETWORK, ...(o.runtime ? { Runtime: o.runtime } : {}) },
    NetworkingConfig: { EndpointsConfig: { [NETWORK]: o.ip ? { IPAMConfig: { IPv4Address: o.ip } } : {} } },
  });
  return c.id;
}

export async function startContainer(d: Docker, id: string): Promise<void> {
  await d.getContainer(id).start();
}

export async function restartContainer(d: Docker, id: string): Promise<void> {
  await d.getContainer(id).restart({ t: 1 });
}

export async function removeContainers(d: Docker, ids: readonly string[]): Promise<void> {
  await pool(ids, 4, (id) => d.getContainer(id).remove({ force: true, v: true }).catch(() => undefined));
}

/** Runs several async jobs at once, at most `limit` in flight. */
export const pool = mapLimit;

export async function createGateway(d: Docker, name: string, ip: string): Promise<Gateway> {
  const id = await createContainer(d, { name, ip });
  await startContainer(d, id);
  return { name, ip, id };
}

/** Stops gw, moves it to `ip` on the bench network (disconnect + connect --ip), leaves it stopped. */
export async function readdressGateway(d: Docker, gw: Gateway, ip: string): Promise<void> {
  const c = d.getContainer(gw.id);
  await c.stop({ t: 1 });
  const net = d.getNetwork(NETWORK);
  await net.disconnect({ Container: gw.id, Force: true });
  await net.connect({ Container: gw.id, EndpointConfig: { IPAMConfig: { IPv4Address: ip } } });
  gw.ip = ip;
}
