// The MAC of each Docker bridge on the host, by the bridge's address (Docker's
// gateway on that network). Every packet the host routes to a container on a
// bridge, a published port's connection among them, has that MAC as its
// source; a neighbour on the network sends with its own. The reply mark of
// published ports (plan/compile.ts) matches on it. Read from the host's
// namespace (and from Twine's own, where dockerd's is when Twine runs beside
// it without --pid host): Docker's API does not tell a bridge's MAC.

import type { NetnsBackend } from '../netns/types.js';

/** A gateway Docker's API names that no bridge on the host has is read again at most this often. */
export const BRIDGE_REREAD_MS = 5000;

export class BridgeMacs {
  private macs: ReadonlyMap<string, string> = new Map();
  private reading: Promise<void> | undefined;
  private readAt = -Infinity;
  /** A bridge may have been replaced (a network created or removed): read again before the next use. */
  private dirty = false;

  constructor(
    private readonly netns: NetnsBackend,
    /** The namespaces to look in (the host's, the daemon's own); one that cannot be read is skipped. */
    private readonly paths: readonly string[],
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Gateway address → its bridge's MAC, as last read (the same object until a read changes it). */
  get current(): ReadonlyMap<string, string> {
    return this.macs;
  }

  /**
   * Reads the host's bridges again when one of `gateways` is not known (at most
   * once per BRIDGE_REREAD_MS), or always with `force`. Throws what the read threw.
   */
  async ensure(gateways: readonly string[], force = false): Promise<void> {
    const missing = gateways.some((g) => !this.macs.has(g));
    if (!force && !this.dirty && (!missing || this.now() - this.readAt < BRIDGE_REREAD_MS)) return;
    this.reading ??= this.read().finally(() => (this.reading = undefined));
    await this.reading;
  }

  /**
   * Docker created or removed a network: a new bridge may carry an old one's address (Docker
   * reuses a removed network's subnet) with a MAC of its own.
   */
  invalidate(): void {
    this.dirty = true;
  }

  private async read(): Promise<void> {
    this.readAt = this.now();
    this.dirty = false;
    const next = new Map<string, string>();
    const read = await Promise.allSettled(this.paths.map((path) => this.readOne(path, next)));
    const failed = read.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed && read.every((r) => r.status === 'rejected')) throw failed.reason;
    const same = next.size === this.macs.size && [...next].every(([k, v]) => this.macs.get(k) === v);
    if (!same) this.macs = next;
  }

  /** The bridges of one namespace, by address, into `into`. */
  private async readOne(path: string, into: Map<string, string>): Promise<void> {
    const ns = { path };
    const [addrs, links] = await Promise.all([this.netns.addrList(ns), this.netns.linkList(ns)]);
    const bridges = new Map<number, string>();
    for (const l of links) if (l.kind === 'bridge' && l.mac) bridges.set(l.index, l.mac.toLowerCase());
    for (const a of addrs) {
      const mac = bridges.get(a.ifindex);
      if (mac !== undefined && !into.has(a.address)) into.set(a.address, mac);
    }
  }
}
