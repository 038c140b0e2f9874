// A DockerClient over an in-memory set of containers and networks: inspect
// and list answer from it (a 404 for a container that is not there), every
// request is counted, and the container list can be held open to drive
// events into the middle of a re-sync.

import { Readable } from 'node:stream';
import type { DockerClient } from '../../src/docker/client.js';
import type { ContainerSummary, EngineVersion } from '../../src/docker/api.js';
import type { DockerEndpoint } from '../../src/docker/endpoint.js';
import { wallMs } from '../../src/netns/clock.js';
import type { ContainerInspect } from '../../src/docker/inventory.js';
import type { NetworkSummary } from '../../src/docker/networks.js';
import type { DockerEvent, DockerEventType } from '../../src/docker/events.js';
import type { VerboseNetwork } from '../../src/docker/swarm.js';

export interface FakeNetworkSpec {
  name: string;
  /** e.g. 172.30.1.0/24; Docker's gateway is its .1. */
  subnet: string;
  /** Default bridge; `overlay` networks answer a verbose inspect from `FakeDocker.views`. */
  driver?: string;
}

export interface FakeAttachment {
  network: string;
  ip: string;
}

export interface FakeContainerSpec {
  id: string;
  name: string;
  labels?: Record<string, string>;
  networks?: FakeAttachment[];
  networkMode?: string;
  /** HostConfig.Dns: the container's own DNS servers. */
  dns?: string[];
  running?: boolean;
  pid?: number;
  /** Docker's endpoints of this start (a new value at every start, as Docker makes new endpoint ids); none: no EndpointID. */
  endpoints?: string;
}

export function gatewayOf(subnet: string): string {
  const base = subnet.split('/')[0]!.split('.');
  return [...base.slice(0, 3), '1'].join('.');
}

class NotFound extends Error {
  readonly statusCode = 404;
}

export class FakeDocker implements DockerClient {
  readonly endpoint: DockerEndpoint = { kind: 'unix', socketPath: '/fake/docker.sock' };
  readonly containers = new Map<string, FakeContainerSpec>();
  readonly networks = new Map<string, FakeNetworkSpec>();
  /** Requests in order: `list`, `inspect <id>`, `networks`, `get <path>`. */
  readonly requests: string[] = [];
  /** Network id → what `GET /networks/<id>?verbose=true` answers (swarm tasks of every node); none: 404. */
  readonly views = new Map<string, VerboseNetwork>();
  /** While set, listContainers waits for it (after taking its snapshot of the running containers). */
  holdList: Promise<void> | undefined;
  /** While set, inspects wait for it (Docker answers an inspect of a container it is starting only after the start). */
  holdInspect: Promise<void> | undefined;

  addNetwork(n: FakeNetworkSpec): void {
    this.networks.set(n.name, n);
  }

  put(c: FakeContainerSpec): FakeContainerSpec {
    this.containers.set(c.id, c);
    return c;
  }

  count(prefix: string): number {
    return this.requests.filter((r) => r.startsWith(prefix)).length;
  }

  async ping(): Promise<void> {}
  async version(): Promise<EngineVersion> {
    return { Version: 'fake', ApiVersion: '1.44' } as EngineVersion;
  }

  async listContainers(): Promise<ContainerSummary[]> {
    this.requests.push('list');
    // What Docker 20.10 lists: names, labels, network mode and networks with endpoint ids and addresses, no aliases, no pid.
    const out = [...this.containers.values()]
      .filter((c) => c.running)
      .map((c): ContainerSummary => {
        const i = this.inspectOf(c);
        const nets = Object.fromEntries(Object.entries(i.NetworkSettings?.Networks ?? {}).map(([k, n]) => [k, { ...n, Aliases: null, DNSNames: null }]));
        return { Id: c.id, Names: [`/${c.name}`], Labels: c.labels ?? {}, State: 'running', HostConfig: i.HostConfig, NetworkSettings: { Networks: nets } };
      });
    if (this.holdList) await this.holdList;
    return out;
  }

  async inspectContainer(idOrName: string): Promise<unknown> {
    this.requests.push(`inspect ${idOrName}`);
    if (this.holdInspect) await this.holdInspect;
    const c = this.containers.get(idOrName) ?? [...this.containers.values()].find((x) => x.name === idOrName);
    if (!c) throw new NotFound(`No such container: ${idOrName}`);
    return this.inspectOf(c);
  }

  inspectOf(c: FakeContainerSpec): ContainerInspect {
    const running = c.running === true;
    const networks: NonNullable<NonNullable<ContainerInspect['NetworkSettings']>['Networks']> = {};
    for (const a of c.networks ?? []) {
      const n = this.networks.get(a.network);
      if (!n) throw new Error(`fake: no network ${a.network}`);
      networks[a.network] = {
        NetworkID: `net-${a.network}`,
        ...(running && c.endpoints !== undefined ? { EndpointID: `${c.endpoints}-${a.network}` } : {}),
        IPAddress: running ? a.ip : '',
        IPPrefixLen: Number(n.subnet.split('/')[1]),
        Gateway: running ? gatewayOf(n.subnet) : '',
        Aliases: [],
        DNSNames: [c.name],
      };
    }
    return {
      Id: c.id,
      Name: `/${c.name}`,
      State: { Running: running, Pid: running ? (c.pid ?? 0) : 0, Status: running ? 'running' : 'exited' },
      Config: { Labels: c.labels ?? {} },
      HostConfig: { NetworkMode: c.networkMode ?? c.networks?.[0]?.network ?? 'bridge', Dns: c.dns ?? null },
      NetworkSettings: { Networks: networks },
    };
  }

  async getJson<T>(path: string): Promise<T> {
    if (path === '/networks') {
      this.requests.push('networks');
      const list: NetworkSummary[] = [...this.networks.values()].map((n) => ({
        Id: `net-${n.name}`,
        Name: n.name,
        Driver: n.driver ?? 'bridge',
        IPAM: { Config: [{ Subnet: n.subnet, Gateway: gatewayOf(n.subnet) }] },
      }));
      return list as T;
    }
    this.requests.push(`get ${path}`);
    if (path.startsWith('/containers/json?all=1')) {
      const id = /"id":\["([^"]+)"\]/.exec(decodeURIComponent(path))?.[1];
      const c = id === undefined ? undefined : this.containers.get(id);
      if (!c) return [] as T;
      const i = this.inspectOf(c);
      return [{ Id: c.id, Names: [`/${c.name}`], Labels: c.labels ?? {}, NetworkSettings: i.NetworkSettings }] as T;
    }
    const verbose = /^\/networks\/([^/?]+)\?verbose=true$/.exec(path);
    const view = verbose && this.views.get(decodeURIComponent(verbose[1]!));
    if (view) return structuredClone(view) as T;
    throw new NotFound(`fake: ${path}`);
  }

  async events(): Promise<Readable> {
    return Readable.from([]);
  }

  close(): void {}
}

/** A Docker event as the event stream hands it to the engine, stamped now (Docker's clock is the host's). */
export function dockerEvent(type: DockerEventType, action: string, id: string, attributes: Record<string, string> = {}): DockerEvent {
  const timeMs = wallMs();
  return { type, action, id, attributes, timeNano: BigInt(Math.round(timeMs * 1e6)), timeMs };
}
