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
// container is inspected as before.

import { readFile, rename, writeFile } from 'node:fs/promises';
import type { ContainerInfo } from './container.js';
import { serialQueue } from '../util/serial.js';

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

/** What the reuse checks need of the host: the pid's cgroup names the container, the inode of its namespace now. */
export interface PidCheck {
  processInContainer(pid: number, id: string): boolean;
  netnsInode(pid: number): number | undefined;
}

const FORMAT = 1;

function same(a: string | undefined, b: string | undefined | null): boolean {
  return (a ?? '') === (b ?? '');
}

/** Inspected containers by id, with each network's endpoint id (NetworkAttachment.endpointId). */
export class InspectCache {
  private readonly byId = new Map<string, ContainerInfo>();
  /** Something the file holds changed since it was read or written. */
  private dirty = false;
  /** Resolves once the file given to load() is read (at once without one). */
  ready: Promise<void> = Promise.resolve();

  get size(): number {
    return this.byId.size;
  }

  /** The cached inspects. */
  values(): IterableIterator<ContainerInfo> {
    return this.byId.values();
  }

  /** An inspect's result: kept when the container runs and every network has its endpoint id; else forgotten. */
  remember(info: ContainerInfo): void {
    if (keepable(info)) {
      this.byId.set(info.id, info);
      this.dirty = true;
    } else this.forget(info.id);
  }

  forget(id: string): void {
    if (this.byId.delete(id)) this.dirty = true;
  }

  /** Keeps only these ids (the containers running now). */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.byId.keys()) if (!ids.has(id)) this.forget(id);
  }

  /**
   * The cached inspect of `listed`, with the inode of its namespace now, when
   * the list shows it unchanged: the same name (Docker's DNS names follow it),
   * network mode, networks and each network's endpoint id, addresses and MAC;
   * and the cached pid is still a process of the container. Undefined: inspect it.
   */
  reuse(listed: ListedRunning, host: PidCheck): ContainerInfo | undefined {
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
    if (!host.processInContainer(c.pid, c.id)) return undefined;
    const ino = host.netnsInode(c.pid);
    if (ino === undefined) return undefined;
    if (c.netnsIno === ino) return c;
    // Kept as returned: the inventory and the cache then share one object per container.
    const info = { ...c, netnsIno: ino };
    this.byId.set(c.id, info);
    return info;
  }

  /** The entries as the file holds them (the namespace inode is read again when used). */
  serialize(): string {
    const entries = [...this.byId.values()].map(({ netnsIno: _ino, ...rest }) => rest);
    return JSON.stringify({ format: FORMAT, entries });
  }

  /** Adds the entries of `serialize()`'s text; anything malformed is left out. */
  parse(text: string): void {
    let j: unknown;
    try {
      j = JSON.parse(text);
    } catch {
      return;
    }
    const o = j as { format?: unknown; entries?: unknown };
    if (o?.format !== FORMAT || !Array.isArray(o.entries)) return;
    for (const e of o.entries) if (wellFormed(e) && keepable(e) && !this.byId.has(e.id)) this.byId.set(e.id, e);
  }

  /**
   * Reads the file's entries in the background (a missing or unreadable file
   * adds none); `ready` resolves when done. The daemon starts this before
   * asking Docker for the list, which takes longer.
   */
  load(file: string): Promise<void> {
    this.ready = readFile(file, 'utf8').then(
      (text) => this.parse(text),
      () => undefined,
    );
    return this.ready;
  }

  /**
   * Writes the entries through a rename (readable only by the daemon's user),
   * when they changed since the file was read or written: a restart that found
   * every container as saved writes nothing.
   */
  save(file: string): Promise<boolean> {
    // One write at a time: two would share the temporary file.
    return this.oneWrite(() => this.write(file));
  }

  private readonly oneWrite = serialQueue();

  private async write(file: string): Promise<boolean> {
    await this.ready;
    if (!this.dirty) return false;
    this.dirty = false;
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      await writeFile(tmp, this.serialize(), { mode: 0o600 });
      await rename(tmp, file);
    } catch (err) {
      this.dirty = true;
      throw err;
    }
    return true;
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

function wellFormed(e: unknown): e is ContainerInfo {
  const c = e as Partial<Record<keyof ContainerInfo, unknown>>;
  if (typeof c !== 'object' || c === null || !str(c.id) || !str(c.name) || !Number.isInteger(c.pid) || c.running !== true) return false;
  if (typeof c.labels !== 'object' || c.labels === null || !Object.values(c.labels).every(str) || !optStr(c.networkMode)) return false;
  if (!optStr(c.composeService) || !optStr(c.composeProject) || !(c.swarm === undefined || wellFormedTask(c.swarm))) return false;
  if (!Array.isArray(c.networks)) return false;
  return c.networks.every((n: unknown) => {
    const a = n as Record<string, unknown>;
    if (typeof a !== 'object' || a === null || !str(a.networkId) || !str(a.networkName) || !str(a.endpointId)) return false;
    if (!Array.isArray(a.aliases) || !a.aliases.every(str) || !Array.isArray(a.dnsNames) || !a.dnsNames.every(str)) return false;
    return [a.ipv4, a.ipv6, a.gatewayV4, a.gatewayV6, a.mac, a.iface].every(optStr) && optNum(a.ipv4PrefixLen) && optNum(a.ipv6PrefixLen);
  });
}
