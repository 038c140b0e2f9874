// Swarm tasks on other nodes. Twine runs on every node, workers included, and
// a worker is no manager: it can list no services or tasks, and it gets no
// service or node events. What every node attached to an overlay network does
// have is the network's own view, gossiped between its nodes:
// `GET /networks/<id>?verbose=true` lists each service's tasks on the network
// (task name, endpoint address, the address of the node it runs on) beside
// this node's own endpoints (`Containers`). Twine reads it for the overlay
// networks its labelled containers are on: at every full re-sync, when a
// service or node event (managers only) or a local task's container event says
// something moved, and every `pollMs`, since nothing announces on this node
// that a task on another one was replaced. Tasks of this node are left out:
// their containers are in the inventory, which their own events keep current.
// The view lists IPv4 endpoint addresses only, so tasks on other nodes resolve
// for IPv4 only.

import { ipFamily } from '../net/ip.js';
import type { ContainerInfo } from './container.js';
import { taskFromName, taskNames } from './swarm-task.js';
import type { DockerError } from '../errors.js';
import { dockerError, isNotFound, type DockerClient } from './client.js';

/** The part of `GET /networks/<id>?verbose=true` that Twine reads. */
export interface VerboseNetwork {
  /** This node's endpoints on the network. */
  Containers?: Record<string, { EndpointID?: string } | null> | null;
  /** Every service with tasks on the network, on any node. */
  Services?: Record<
    string,
    { Tasks?: ({ Name?: string; EndpointID?: string; EndpointIP?: string; Info?: Record<string, string> | null } | null)[] | null } | null
  > | null;
}

/** The tasks of other nodes in one network's view, each as a container of its own (resolve/inventory.ts, SwarmTask). */
export function remoteTasksOf(view: VerboseNetwork, networkId: string, networkName: string): ContainerInfo[] {
  const local = new Set<string>();
  for (const c of Object.values(view.Containers ?? {})) if (typeof c?.EndpointID === 'string') local.add(c.EndpointID);
  const out: ContainerInfo[] = [];
  for (const [service, s] of Object.entries(view.Services ?? {})) {
    for (const t of s?.Tasks ?? []) {
      if (typeof t?.Name !== 'string' || typeof t.EndpointIP !== 'string' || ipFamily(t.EndpointIP) !== 4) continue;
      if (typeof t.EndpointID === 'string' && local.has(t.EndpointID)) continue;
      const task = taskFromName(service, t.Name);
      if (!task) continue;
      const nodeAddr = t.Info?.['Host IP'];
      out.push({
        id: task.taskId,
        name: task.name,
        pid: 0,
        running: true,
        labels: {},
        networks: [{ networkId, networkName, ipv4: t.EndpointIP, aliases: [], dnsNames: [] }],
        swarm: typeof nodeAddr === 'string' && ipFamily(nodeAddr) !== undefined ? { ...task, nodeAddr } : task,
      });
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export interface SwarmViewOptions {
  docker: DockerClient;
  /** The overlay networks to read now (id → name): those Twine's labelled containers are on. */
  watched: () => ReadonlyMap<string, string>;
  /** After a read that changed the view: every name a reference to a task that came, went or moved may use. */
  onChange: (names: Set<string>) => void;
  /** A network's view could not be read (its last view is kept). */
  onError: (err: DockerError) => void;
  /** Read every watched network this often (0: only when asked). */
  pollMs: number;
}

/** Tasks on other nodes, per watched overlay network. */
export class SwarmView {
  private byNetwork = new Map<string, ContainerInfo[]>();
  private list: readonly ContainerInfo[] = [];
  private reading: Promise<void> = Promise.resolve();
  private queued: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: SwarmViewOptions) {}

  /** Every task on another node, as last read: the same array until a read changes it. */
  tasks(): readonly ContainerInfo[] {
    return this.list;
  }

  /** Whether the last read covered this network. */
  has(networkId: string): boolean {
    return this.byNetwork.has(networkId);
  }

  /** Starts polling (idempotent). */
  start(): void {
    if (this.timer || this.opts.pollMs <= 0) return;
    this.timer = setInterval(() => void this.refresh(), this.opts.pollMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the watched networks once the read under way (if any) is done; callers meanwhile share that one read. Never rejects. */
  refresh(): Promise<void> {
    this.queued ??= this.reading.then(() => {
      this.queued = undefined;
      this.reading = this.read();
      return this.reading;
    });
    return this.queued;
  }

  private async read(): Promise<void> {
    const watched = this.opts.watched();
    const next = new Map<string, ContainerInfo[]>();
    await Promise.all(
      [...watched].map(async ([id, name]) => {
        try {
          const view = await this.opts.docker.getJson<VerboseNetwork>(`/networks/${encodeURIComponent(id)}?verbose=true`);
          next.set(id, remoteTasksOf(view ?? {}, id, name));
        } catch (err) {
          // Gone (or never instantiated on this node): no tasks seen through it.
          if (isNotFound(err)) next.set(id, []);
          else {
            next.set(id, this.byNetwork.get(id) ?? []);
            this.opts.onError(dockerError(`inspect network ${name}`, err));
          }
        }
      }),
    );
    const changed = changedNames(this.byNetwork, next);
    this.byNetwork = next;
    if (changed.size === 0) return;
    this.list = [...next.values()].flat();
    try {
      this.opts.onChange(changed);
    } catch {
      // The owner reports its own failures; the view stays current.
    }
  }
}

/** Names of the tasks whose presence or address differs between two views. */
function changedNames(before: ReadonlyMap<string, ContainerInfo[]>, after: ReadonlyMap<string, ContainerInfo[]>): Set<string> {
  const keyed = (m: ReadonlyMap<string, ContainerInfo[]>): Map<string, ContainerInfo> => {
    const out = new Map<string, ContainerInfo>();
    for (const [id, tasks] of m) for (const t of tasks) out.set(`${id}/${t.name}/${t.networks[0]?.ipv4 ?? ''}`, t);
    return out;
  };
  const a = keyed(before);
  const b = keyed(after);
  const names = new Set<string>();
  for (const [k, t] of a) if (!b.has(k) && t.swarm) for (const n of taskNames(t.swarm)) names.add(n);
  for (const [k, t] of b) if (!a.has(k) && t.swarm) for (const n of taskNames(t.swarm)) names.add(n);
  return names;
}
