// Docker's inspect JSON → ContainerInfo (./container.ts).
//
// Network order. Docker's inspect output keeps a container's networks in a map
// (serialized sorted by network name), and the order in which they were given
// at create/connect time is not kept either: measured here with dockerd 20.10,
// a container created on network "b" and then connected to "a" before its
// first start gets eth0 on "a" and eth1 on "b". The only faithful order is the
// one the container itself sees, so Twine orders a container's networks by the
// interface index of the matching interface in its namespace (matched by MAC
// address): eth0 first, then eth1, ... in the order the kernel created them.
// Networks whose interface is unknown (no namespace data, container stopped,
// or no match) come after those, in Docker's serialized order (by name), so
// the result is always deterministic.

import type { ContainerInfo, NetworkAttachment, PublishedPort } from './container.js';
import type { Addr, Link } from '../netns/types.js';
import { dockerError, type DockerClient } from './client.js';
import { mapLimit } from '../util/map-limit.js';
import { netnsInode } from './cgroup.js';
import { COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL, isTwineLabel, STACK_LABEL, SWARM_SERVICE_LABEL, SWARM_TASK_ID_LABEL, SWARM_TASK_NAME_LABEL, visibleLabels } from '../labels/visible.js';
import { taskFromName } from './swarm-task.js';
import type { InspectCache, ListedRunning, PidCheck } from './inspect-cache.js';

/** The part of `GET /containers/<id>/json` that Twine reads. */
export interface InspectNetwork {
  NetworkID?: string;
  EndpointID?: string;
  Gateway?: string;
  IPAddress?: string;
  IPPrefixLen?: number;
  IPv6Gateway?: string;
  GlobalIPv6Address?: string;
  GlobalIPv6PrefixLen?: number;
  MacAddress?: string;
  Aliases?: string[] | null;
  DNSNames?: string[] | null;
}

/** Docker's port map: "8080/tcp" → the host bindings (null or empty: exposed, not published). */
type PortMap = Record<string, readonly unknown[] | null> | null;

export interface ContainerInspect {
  Id: string;
  Name: string;
  State?: { Running?: boolean; Pid?: number; Status?: string };
  Config?: { Labels?: Record<string, string> | null };
  HostConfig?: { NetworkMode?: string; Dns?: string[] | null; PortBindings?: PortMap };
  NetworkSettings?: { Networks?: Record<string, InspectNetwork> | null; Ports?: PortMap };
}

/** The container ports published on the host: each "<port>/<proto>" key with at least one binding, in either map. */
export function publishedPorts(inspect: ContainerInspect): PublishedPort[] {
  const out = new Map<string, PublishedPort>();
  for (const map of [inspect.HostConfig?.PortBindings, inspect.NetworkSettings?.Ports]) {
    for (const [key, bindings] of Object.entries(map ?? {})) {
      const m = /^([0-9]{1,5})\/(tcp|udp|sctp)$/.exec(key);
      const port = Number(m?.[1]);
      if (!m || !Array.isArray(bindings) || bindings.length === 0 || port < 1 || port > 65535) continue;
      out.set(key, { proto: m[2] as PublishedPort['proto'], port });
    }
  }
  return [...out.values()].sort((a, b) => (a.proto < b.proto ? -1 : a.proto > b.proto ? 1 : a.port - b.port));
}

/** An interface seen inside the container's namespace (a subset of netns Link). */
/** An interface in a container's namespace, known by its MAC (a link dump) or by its addresses (/proc). */
export type NsInterface = Pick<Link, 'index' | 'name' | 'mac'> & { addresses?: readonly string[] };

function nonEmpty(s: string | undefined | null): string | undefined {
  return s === undefined || s === null || s === '' ? undefined : s;
}

function attachment(networkName: string, n: InspectNetwork): NetworkAttachment {
  const a: NetworkAttachment = {
    networkId: n.NetworkID ?? '',
    networkName,
    aliases: [...(n.Aliases ?? [])],
    dnsNames: [...(n.DNSNames ?? [])],
  };
  const endpoint = nonEmpty(n.EndpointID);
  if (endpoint !== undefined) a.endpointId = endpoint;
  const ipv4 = nonEmpty(n.IPAddress);
  if (ipv4 !== undefined) {
    a.ipv4 = ipv4;
    a.ipv4PrefixLen = n.IPPrefixLen;
  }
  const ipv6 = nonEmpty(n.GlobalIPv6Address);
  if (ipv6 !== undefined) {
    a.ipv6 = ipv6;
    a.ipv6PrefixLen = n.GlobalIPv6PrefixLen;
  }
  const gw4 = nonEmpty(n.Gateway);
  if (gw4 !== undefined) a.gatewayV4 = gw4;
  const gw6 = nonEmpty(n.IPv6Gateway);
  if (gw6 !== undefined) a.gatewayV6 = gw6;
  const mac = nonEmpty(n.MacAddress);
  if (mac !== undefined) a.mac = mac.toLowerCase();
  return a;
}

/**
 * Converts inspect output into a ContainerInfo. `ifaces` are the container's
 * interfaces as read from its namespace (`ip link show` there); with them the
 * networks come in the container's own order and carry their interface name.
 */
export function toContainerInfo(inspect: ContainerInspect, ifaces?: readonly NsInterface[]): ContainerInfo {
  const running = inspect.State?.Running === true;
  // Only Twine's own labels and the compose names go further (../labels/visible.ts).
  const labels = visibleLabels(inspect.Config?.Labels);
  const byMac = new Map<string, NsInterface>();
  const byAddr = new Map<string, NsInterface>();
  for (const i of ifaces ?? []) {
    if (i.mac) byMac.set(i.mac.toLowerCase(), i);
    for (const a of i.addresses ?? []) byAddr.set(a, i);
  }

  const entries = Object.entries(inspect.NetworkSettings?.Networks ?? {});
  const nets = entries.map(([name, n], serial) => {
    const a = attachment(name, n);
    const iface = (a.mac === undefined ? undefined : byMac.get(a.mac)) ?? byAddr.get(a.ipv4 ?? '') ?? byAddr.get(a.ipv6 ?? '');
    if (iface) a.iface = iface.name;
    return { a, index: iface?.index, serial };
  });
  nets.sort((x, y) => {
    if (x.index !== undefined && y.index !== undefined) return x.index - y.index;
    if (x.index !== undefined) return -1;
    if (y.index !== undefined) return 1;
    return x.serial - y.serial;
  });

  const info: ContainerInfo = {
    id: inspect.Id,
    name: inspect.Name.replace(/^\//, ''),
    pid: running ? (inspect.State?.Pid ?? 0) : 0,
    running,
    labels,
    networks: nets.map((n) => n.a),
  };
  const mode = nonEmpty(inspect.HostConfig?.NetworkMode);
  if (mode !== undefined) info.networkMode = mode;
  if (inspect.HostConfig) info.dnsServers = (inspect.HostConfig.Dns ?? []).filter((s) => typeof s === 'string' && s !== '');
  if (inspect.HostConfig !== undefined || inspect.NetworkSettings?.Ports !== undefined) info.published = publishedPorts(inspect);
  return withCompose(info);
}

/** Sets composeService / composeProject from the container's compose labels, and the swarm task it runs. */
function withCompose(info: ContainerInfo): ContainerInfo {
  const svc = info.labels[COMPOSE_SERVICE_LABEL];
  if (svc !== undefined) info.composeService = svc;
  const proj = info.labels[COMPOSE_PROJECT_LABEL];
  if (proj !== undefined) info.composeProject = proj;
  const service = info.labels[SWARM_SERVICE_LABEL];
  const taskName = info.labels[SWARM_TASK_NAME_LABEL];
  const task = service !== undefined && taskName !== undefined ? taskFromName(service, taskName) : undefined;
  // The task id in the name is the task's: one that disagrees with the label is not a swarm task's name.
  if (task && task.taskId === info.labels[SWARM_TASK_ID_LABEL]) {
    const stack = info.labels[STACK_LABEL];
    info.swarm = stack !== undefined && stack !== '' ? { ...task, stack } : task;
  }
  return info;
}

/** True when any label key starts with `twine.`. */
export function hasTwineLabels(labels: Record<string, string>): boolean {
  return Object.keys(labels).some(isTwineLabel);
}

/** Reads a running container's interfaces (the engine passes the netns backend's linkList). */
export type LinkLister = (pid: number) => Promise<readonly NsInterface[]>;

/**
 * Inspects one container and converts it. With `listLinks`, a running
 * container's networks are ordered by its interfaces; if reading them fails
 * (the container just died) the Docker order is used. `readIno` reads the
 * namespace inode of its pid (tests substitute one).
 */
export async function inspectContainer(docker: DockerClient, idOrName: string, listLinks?: LinkLister, readIno: (pid: number) => number | undefined = netnsInode): Promise<ContainerInfo> {
  let raw: ContainerInspect;
  try {
    raw = (await docker.inspectContainer(idOrName)) as ContainerInspect;
  } catch (err) {
    throw dockerError(`inspect container ${idOrName}`, err);
  }
  let ifaces: readonly NsInterface[] | undefined;
  const pid = raw.State?.Running === true ? (raw.State.Pid ?? 0) : 0;
  // Right after Docker named the pid: the namespace every later transaction must find there.
  const ino = pid > 0 ? readIno(pid) : undefined;
  if (listLinks && pid > 0) {
    try {
      ifaces = await listLinks(pid);
    } catch {
      ifaces = undefined;
    }
  }
  const info = toContainerInfo(raw, ifaces);
  if (ino !== undefined) info.netnsIno = ino;
  return info;
}

/** The running containers as Docker lists them (`docker ps --no-trunc`). */
async function listRunning(docker: DockerClient): Promise<ListedRunning[]> {
  try {
    return (await docker.listContainers()) as ListedRunning[];
  } catch (err) {
    throw dockerError('list containers', err);
  }
}

/** How a full listing reuses earlier inspects (./inspect-cache.ts): the cache, and the host checks of a cached pid. */
export interface ListReuse {
  cache: InspectCache;
  host: PidCheck;
  /** Counted here: containers taken from the cache, and inspected. */
  counts?: { reused: number; inspected: number };
}

/**
 * Every running container (in parallel, bounded). With `reuse`, a container
 * the list shows unchanged since its cached inspect is not inspected again;
 * every inspect made here is remembered, and the cache keeps only the
 * containers running now.
 */
export async function listRunningContainers(
  docker: DockerClient,
  listLinks?: LinkLister,
  concurrency = 8,
  readIno: (pid: number) => number | undefined = netnsInode,
  reuse?: ListReuse,
): Promise<ContainerInfo[]> {
  const listing = listRunning(docker);
  // The cached pids are checked while Docker builds the list.
  const ahead = reuse?.cache.ready.then(() => reuse.cache.checkAhead(reuse.host));
  const listed = await listing;
  await reuse?.cache.ready;
  const cached = reuse ? await reuse.cache.reuseAll(listed, reuse.host, ahead) : [];
  const reused = cached.filter((c): c is ContainerInfo => c !== undefined);
  const toInspect = listed.filter((_, i) => cached[i] === undefined);
  if (reuse?.counts) {
    reuse.counts.reused += reused.length;
    reuse.counts.inspected += toInspect.length;
  }
  const found = await mapLimit(toInspect, concurrency, async (l) => {
    try {
      const info = await inspectContainer(docker, l.Id, listLinks, readIno);
      reuse?.cache.remember(info);
      return info;
    } catch (err) {
      // Gone between list and inspect: not running any more, nothing to report.
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
      return undefined;
    }
  });
  reuse?.cache.retain(new Set(listed.map((l) => l.Id)));
  const out = [...reused, ...found.filter((c): c is ContainerInfo => c !== undefined)];
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * A container as its create event describes it (Docker puts its name, image
 * and labels in the event's attributes) on the networks its connect events
 * named: what the start path needs when the create event's inspect has not
 * come back yet (with `docker run`, that inspect waits for the start to end).
 * Aliases and MACs are unknown; the inspect after the start fills them in.
 */
export function createdInfo(id: string, attributes: Record<string, string>, networks: readonly { name: string; id: string }[]): ContainerInfo {
  // The attributes mix Docker's own keys (name, image) with every label: keep Twine's.
  const labels = visibleLabels(attributes);
  const info: ContainerInfo = {
    id,
    name: attributes.name ?? id.slice(0, 12),
    pid: 0,
    running: false,
    labels,
    networks: networks.map((n) => ({ networkId: n.id, networkName: n.name, aliases: [], dnsNames: [] })),
  };
  // The event does not say the network mode; the connects do: Docker's host network puts it in the host's namespace.
  if (networks.some((n) => n.name === 'host')) info.networkMode = 'host';
  else if (networks.length > 0) info.networkMode = networks[0]!.name;
  return withCompose(info);
}

/** A container's interfaces and their addresses from /proc/<pid>/net; undefined when that cannot be read. */
export function procInterfaces(addrs: readonly Addr[] | undefined): NsInterface[] | undefined {
  if (!addrs) return undefined;
  const byIndex = new Map<number, { index: number; name: string; addresses: string[] }>();
  for (const a of addrs) {
    const i = byIndex.get(a.ifindex) ?? { index: a.ifindex, name: a.ifname, addresses: [] };
    i.addresses.push(a.address);
    byIndex.set(a.ifindex, i);
  }
  return [...byIndex.values()];
}

/** The part of a `GET /containers/json?all=1` entry that Twine reads. */
interface ListedContainer {
  Id: string;
  Names?: string[] | null;
  Labels?: Record<string, string> | null;
  HostConfig?: { NetworkMode?: string } | null;
  NetworkSettings?: { Networks?: Record<string, InspectNetwork> | null } | null;
}

/**
 * One container, running or not, from Docker's container list: its name,
 * labels and networks (addresses only once it runs). Unlike inspect, the list
 * does not wait while Docker is starting that container. Undefined: no such
 * container.
 */
export async function listedContainer(docker: DockerClient, id: string): Promise<ContainerInfo | undefined> {
  let list: ListedContainer[];
  try {
    list = await docker.getJson<ListedContainer[]>(`/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ id: [id] }))}`);
  } catch (err) {
    throw dockerError(`list container ${id}`, err);
  }
  const c = list.find((x) => x.Id === id);
  if (!c) return undefined;
  return toContainerInfo({
    Id: c.Id,
    Name: c.Names?.[0] ?? id.slice(0, 12),
    State: { Running: false },
    Config: { Labels: c.Labels ?? {} },
    ...(c.HostConfig?.NetworkMode ? { HostConfig: { NetworkMode: c.HostConfig.NetworkMode } } : {}),
    NetworkSettings: { Networks: c.NetworkSettings?.Networks ?? {} },
  });
}
