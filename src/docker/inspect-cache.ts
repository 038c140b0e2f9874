// What an earlier `docker inspect` said of a running container, reused while
// Docker's container list shows the same endpoints, so a full re-sync (a
// restart, a reconnect, the periodic drift check) inspects only containers
// that changed. Docker 20.10's list carries names, labels and each network's
// endpoint id, addresses and MAC, but neither the pid nor the network aliases
// (`Aliases: null`); references resolve by alias, so those must come from an
// inspect. Why the endpoint ids make that sound (ARCHITECTURE.md, "The
// inspect cache"): Docker creates a network's endpoint, with a new random id,
// when the container starts or is connected, and the endpoint's aliases are
// fixed when it is created; a restart, a reconnect, a new alias all make a new
// endpoint id, and the container's process (the pid) lives exactly as long as
// the endpoints of one start. The entries persist in a file across Twine's own
// restarts; an entry is taken only when every check below holds, else the
// container is inspected as before. The pids of a whole listing are checked
// in one call of the host (the daemon's reads them off the main thread).

import type { PidClaim } from './cgroup.js';
import type { ContainerInfo } from './container.js';
import { SavedMap } from '../util/saved-map.js';

/** A network of a listed container, as far as the checks read it. */
interface ListedNetwork {
  NetworkID?: string;
  EndpointID?: string;
  IPAddress?: string;
  GlobalIPv6Address?: string;
  MacAddress?: string;
}

/** One element of `GET /containers/json` (running containers), the fields the checks read. */
export interface ListedRunning {
  Id: string;
  Names?: string[] | null;
  HostConfig?: { NetworkMode?: string } | null;
  NetworkSettings?: { Networks?: Record<string, ListedNetwork> | null } | null;
}

/** What the reuse checks need of the host: per claim, the inode of the pid's namespace now when its cgroup names the container, else undefined. */
export interface PidCheck {
  pidInodes(claims: readonly PidClaim[]): Promise<(number | undefined)[]>;
}

/** Cached entries' pid checks: the namespace inode, undefined when the pid is not the entry's container's. */
export type PidAnswers = ReadonlyMap<ContainerInfo, number | undefined>;

// 2: entries carry HostConfig.Dns (dnsServers).
// 3: entries carry the published ports (an older entry would read as publishing nothing).
const FORMAT = 3;

function same(a: string | undefined, b: string | undefined | null): boolean {
  return (a ?? '') === (b ?? '');
}

/** Inspected containers by id, with each network's endpoint id (NetworkAttachment.endpointId). */
export class InspectCache extends SavedMap<ContainerInfo> {
  constructor() {
    super(FORMAT);
  }

  /** The cached inspects. */
  values(): IterableIterator<ContainerInfo> {
    return this.byId.values();
  }

  /** An inspect's result: kept when the container runs and every network has its endpoint id; else forgotten. */
  remember(info: ContainerInfo): void {
    if (keepable(info)) this.put(info.id, info);
    else this.forget(info.id);
  }

  /**
   * Every entry's pid checked now, in one call of `host`: the answers, keyed
   * by the entry. A full listing starts this while Docker builds the list, so
   * the reads overlap the request; an entry that is replaced meanwhile is
   * checked again by reuseAll. Never rejects (a failed check: no answers).
   */
  async checkAhead(host: PidCheck): Promise<PidAnswers> {
    const entries = [...this.byId.values()];
    if (entries.length === 0) return new Map();
    try {
      const inodes = await host.pidInodes(entries.map((c) => ({ pid: c.pid, id: c.id })));
      return new Map(entries.map((c, i) => [c, inodes[i]]));
    } catch {
      return new Map();
    }
  }

  /**
   * For each listed container, in order, its cached inspect with the inode of
   * its namespace, when the list shows it unchanged: the same name (Docker's
   * DNS names follow it), network mode, networks and each network's endpoint
   * id, addresses and MAC; and the cached pid is a process of the container
   * (in `ahead`, checked while the list was built, else checked here, all in
   * one call of `host`). Undefined: inspect it. When the check fails, every
   * container is inspected. Why an answer from before the list is as good as
   * one after it: ARCHITECTURE.md, "The inspect cache".
   */
  async reuseAll(listed: readonly ListedRunning[], host: PidCheck, ahead?: Promise<PidAnswers>): Promise<(ContainerInfo | undefined)[]> {
    const unchanged = listed.map((l) => this.unchanged(l));
    const answers = new Map(await ahead);
    const rest = unchanged.filter((c): c is ContainerInfo => c !== undefined && !answers.has(c));
    if (rest.length > 0) {
      try {
        const inodes = await host.pidInodes(rest.map((c) => ({ pid: c.pid, id: c.id })));
        rest.forEach((c, i) => answers.set(c, inodes[i]));
      } catch {
        return listed.map(() => undefined);
      }
    }
    return unchanged.map((c) => (c ? this.withInode(c, answers.get(c)) : undefined));
  }

  /** The cached inspect of `listed` when the list shows it unchanged (its pid not checked yet). */
  private unchanged(listed: ListedRunning): ContainerInfo | undefined {
    const c = this.byId.get(listed.Id);
    if (!c) return undefined;
    const name = (listed.Names?.[0] ?? '').replace(/^\//, '');
    if (name !== c.name || !same(c.networkMode, listed.HostConfig?.NetworkMode)) return undefined;
    const nets = listed.NetworkSettings?.Networks ?? {};
    const names = Object.keys(nets);
    if (names.length !== c.networks.length) return undefined;
    for (const a of c.networks) {
      const n = nets[a.networkName];
      if (!n || !n.EndpointID || n.EndpointID !== a.endpointId || !same(a.networkId, n.NetworkID)) return undefined;
      if (!same(a.ipv4, n.IPAddress) || !same(a.ipv6, n.GlobalIPv6Address) || !same(a.mac, n.MacAddress?.toLowerCase())) return undefined;
    }
    return c;
  }

  /** `c` with its namespace's inode now (`ino`: undefined when the pid is not the container's any more). */
  private withInode(c: ContainerInfo, ino: number | undefined): ContainerInfo | undefined {
    if (ino === undefined) return undefined;
    if (c.netnsIno === ino) return c;
    const info = { ...c, netnsIno: ino };
    // Kept as returned, so the inventory and the cache share one object per
    // container; unless an inspect replaced the entry while the pids were read.
    if (this.byId.get(c.id) === c) this.byId.set(c.id, info);
    return info;
  }

  /** The entries as the file holds them (the namespace inode is read again when used). The daemon reads the file as it starts (SavedMap.load), while Docker builds the list. */
  protected saved(): { entries: unknown[] } {
    return { entries: [...this.byId.values()].map(({ netnsIno: _ino, ...rest }) => rest) };
  }

  protected adopt(e: unknown): void {
    if (wellFormed(e) && keepable(e) && !this.byId.has(e.id)) this.byId.set(e.id, e);
  }
}

/** A running container's inspect with an endpoint id on each of its networks: what the list can vouch for. */
function keepable(info: ContainerInfo): boolean {
  return info.running && info.pid > 0 && info.networks.length > 0 && info.networks.every((n) => (n.endpointId ?? '') !== '');
}

const str = (x: unknown): boolean => typeof x === 'string';
const optStr = (x: unknown): boolean => x === undefined || typeof x === 'string';
const optNum = (x: unknown): boolean => x === undefined || typeof x === 'number';

function wellFormedTask(t: unknown): boolean {
  const s = t as Record<string, unknown>;
  return typeof s === 'object' && s !== null && [s.service, s.slot, s.name, s.taskId].every(str) && optStr(s.stack) && optStr(s.nodeAddr);
}

function wellFormedPort(x: unknown): boolean {
  const p = x as Record<string, unknown>;
  return typeof p === 'object' && p !== null && ['tcp', 'udp', 'sctp'].includes(p.proto as string) && Number.isInteger(p.port);
}

function wellFormed(e: unknown): e is ContainerInfo {
  const c = e as Partial<Record<keyof ContainerInfo, unknown>>;
  if (typeof c !== 'object' || c === null || !str(c.id) || !str(c.name) || !Number.isInteger(c.pid) || c.running !== true) return false;
  if (typeof c.labels !== 'object' || c.labels === null || !Object.values(c.labels).every(str) || !optStr(c.networkMode)) return false;
  if (!optStr(c.composeService) || !optStr(c.composeProject) || !(c.swarm === undefined || wellFormedTask(c.swarm))) return false;
  if (!Array.isArray(c.networks)) return false;
  if (c.published !== undefined && !(Array.isArray(c.published) && c.published.every(wellFormedPort))) return false;
  return c.networks.every((n: unknown) => {
    const a = n as Record<string, unknown>;
    if (typeof a !== 'object' || a === null || !str(a.networkId) || !str(a.networkName) || !str(a.endpointId)) return false;
    if (!Array.isArray(a.aliases) || !a.aliases.every(str) || !Array.isArray(a.dnsNames) || !a.dnsNames.every(str)) return false;
    return [a.ipv4, a.ipv6, a.gatewayV4, a.gatewayV6, a.mac, a.iface].every(optStr) && optNum(a.ipv4PrefixLen) && optNum(a.ipv6PrefixLen);
  });
}
