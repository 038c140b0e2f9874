// The engine's inventory: every container Twine knows, as last read from
// Docker or from the container's own namespace, and the snapshot the planner
// resolves against. Reads of Docker take time and events keep coming
// meanwhile, so every change is stamped with a sequence number (a mark): a
// read that began before a newer fact about the container is stale and must
// not overwrite it.

import { sameNetworks, type ContainerInfo, type Inventory } from '../docker/container.js';
import { SpecCache } from '../labels/spec-cache.js';
import { namesOf } from './graph.js';

/** A container's entry changed: what it was, what it is, and every name it answered to in either. */
export interface Change {
  before: ContainerInfo | undefined;
  after: ContainerInfo | undefined;
  names: Set<string>;
}

export class ContainerStore {
  /**
   * The containers' labels, parsed once per container as read (every plan of every snapshot shares them).
   * `extras`: what the snapshot adds to the containers (swarm tasks on other nodes, networks without names).
   */
  constructor(
    readonly specs = new SpecCache(),
    private readonly extras: () => Omit<Inventory, 'containers'> = () => ({}),
  ) {}

  private readonly byId = new Map<string, ContainerInfo>();
  private list: ContainerInfo[] | undefined;
  /** Running containers by the inode of their namespace, built when first asked after a change. */
  private inNs: Map<number, ContainerInfo[]> | undefined;
  /** When (a mark) the inventory last learnt about a container from an event or a read of its own. */
  private readonly touched = new Map<string, number>();
  private seq = 0;
  /** The mark when the last full listing began: a read begun before it is older than the listing. */
  private syncMark = 0;
  /** Create events' attributes (name, image, labels) until the container is read from Docker. */
  private readonly created = new Map<string, Record<string, string>>();

  get(id: string): ContainerInfo | undefined {
    return this.byId.get(id);
  }

  values(): IterableIterator<ContainerInfo> {
    return this.byId.values();
  }

  /** The inventory as the planner sees it; the same array until something changes. */
  snapshot(): Inventory {
    this.list ??= [...this.byId.values()];
    return { containers: this.list, ...this.extras() };
  }

  /** What the snapshot adds changed: planners must not reuse what they derived from the last one. */
  invalidate(): void {
    this.list = undefined;
  }

  /** Running containers recorded in namespace `ino`: what a transaction's ownership check compares with, without a scan of every container. */
  inNamespace(ino: number): readonly ContainerInfo[] {
    if (!this.inNs) {
      this.inNs = new Map();
      for (const c of this.byId.values()) {
        if (!c.running || c.netnsIno === undefined) continue;
        const l = this.inNs.get(c.netnsIno);
        if (l) l.push(c);
        else this.inNs.set(c.netnsIno, [c]);
      }
    }
    return this.inNs.get(ino) ?? [];
  }

  /** The current mark: a read that begins now is stale once anything newer is learnt. */
  get mark(): number {
    return this.seq;
  }

  /** A read begun at `mark` is older than what an event or a full listing told since. */
  staleRead(id: string, mark: number): boolean {
    return (this.touched.get(id) ?? 0) > mark || this.syncMark > mark;
  }

  /** What Twine learnt of a running container itself (a start path): a newer fact than any read under way. */
  put(info: ContainerInfo): Change {
    const before = this.byId.get(info.id);
    const names = before ? namesOf(before) : new Set<string>();
    for (const n of namesOf(info)) names.add(n);
    this.touched.set(info.id, ++this.seq);
    this.set(info);
    return { before, after: info, names };
  }

  /** What Docker said of a container (undefined: it is gone); its create event's attributes are no longer needed. */
  adopt(id: string, info: ContainerInfo | undefined): Change {
    this.created.delete(id);
    if (info) return this.put(info);
    const before = this.byId.get(id);
    this.touched.set(id, ++this.seq);
    if (before) this.delete(id);
    return { before, after: undefined, names: before ? namesOf(before) : new Set<string>() };
  }

  /**
   * A container stopped (`removed`: and is gone). Returns what it was when that
   * changed the inventory (it was running, or it is removed), else undefined.
   */
  stop(id: string, removed: boolean): ContainerInfo | undefined {
    this.touched.set(id, ++this.seq);
    const c = this.byId.get(id);
    if (!c) return undefined;
    if (removed) this.delete(id);
    else if (c.running) this.set(stopped(c));
    else return undefined;
    return c;
  }

  /**
   * A full listing of the running containers, begun at `mark`, arrived: take it,
   * except for containers an event told about since (a container that started
   * meanwhile is missing from the listing and must not be marked stopped; one
   * that died meanwhile must not come back).
   */
  sync(running: readonly ContainerInfo[], mark: number): void {
    const newer = (id: string): boolean => (this.touched.get(id) ?? 0) > mark;
    this.syncMark = mark;
    const seen = new Set<string>();
    for (const c of running) {
      seen.add(c.id);
      if (!newer(c.id)) this.set(c);
    }
    for (const [id, c] of this.byId) {
      if (!seen.has(id) && c.running && !newer(id)) this.set(stopped(c));
    }
    for (const [id, t] of this.touched) if (t <= mark) this.touched.delete(id);
  }

  noteCreated(id: string, attributes: Record<string, string>): void {
    this.created.set(id, { ...attributes });
  }

  /** The create event's attributes, while the container is not read from Docker yet. */
  createdAttributes(id: string): Record<string, string> | undefined {
    return this.created.get(id);
  }

  forgetCreated(id: string): void {
    this.created.delete(id);
  }

  private set(c: ContainerInfo): void {
    this.byId.set(c.id, c);
    this.list = undefined;
    this.inNs = undefined;
  }

  private delete(id: string): void {
    this.byId.delete(id);
    this.list = undefined;
    this.inNs = undefined;
  }
}

/** It started, stopped, was renamed or moved on its networks: what references it may resolve differently. */
export function moved({ before, after }: Change): boolean {
  const wasUp = before?.running === true;
  const isUp = after?.running === true;
  if (!wasUp && !isUp) return false;
  return !(wasUp && isUp && before.name === after.name && sameNetworks(before.networks, after.networks));
}

/** The container as stopped: no process, so no namespace recorded either. */
export function stopped(c: ContainerInfo): ContainerInfo {
  return { ...c, running: false, pid: 0, netnsIno: undefined };
}
