// What Twine has committed in each container's namespace, beyond the plan the
// status shows: the namespace (by inode) it wrote to, the kernel's hashes of
// its rules right after the commit, the reading of the container the commit
// was planned from, and routes a re-point replaced since. A transaction reads
// it to know whether a namespace is fresh and what it may skip reading; a
// re-point (./repoint.ts) only writes where it says what is there.

import type { ContainerInfo } from '../docker/container.js';
import type { RuleHashes } from '../firewall/live.js';
import type { Route } from '../netns/types.js';
import type { Plan } from '../plan/types.js';
import type { LastCommit } from './repoint.js';

export class CommitLedger {
  /** The namespace inode Twine last committed to, per container: a fresh namespace is one not here. */
  private readonly ns = new Map<string, number>();
  private readonly hashes = new Map<string, { ino: number; hashes: RuleHashes }>();
  private readonly from = new Map<string, ContainerInfo>();
  /** Committed routes as they were before a re-point replaced some (the next transaction reports those as its changes). */
  private readonly beforeRepoint = new Map<string, Route[]>();

  /** The transaction in namespace `ino` committed, planned from `info`; `hashes`: its rules' hashes read back. */
  committed(info: ContainerInfo, ino: number, hashes: RuleHashes | undefined): void {
    this.ns.set(info.id, ino);
    this.from.set(info.id, info);
    if (hashes) this.hashes.set(info.id, { ino, hashes });
    else this.hashes.delete(info.id);
  }

  /** Twine last committed in this namespace of the container. */
  wroteIn(id: string, ino: number): boolean {
    return this.ns.get(id) === ino;
  }

  /** The rules' hashes recorded in namespace `ino` of the container. */
  hashesIn(id: string, ino: number): RuleHashes | undefined {
    const h = this.hashes.get(id);
    return h?.ino === ino ? h.hashes : undefined;
  }

  /** A transaction failed: the rules may not be as recorded. */
  forgetHashes(id: string): void {
    this.hashes.delete(id);
  }

  /** The namespace is not one Twine wrote to any more (gone, or refused). */
  forgetNs(id: string): void {
    this.ns.delete(id);
  }

  /** Nothing is committed in a namespace of the container any more (it stopped, or lost its labels). */
  forget(id: string): void {
    this.ns.delete(id);
    this.hashes.delete(id);
    this.from.delete(id);
    this.beforeRepoint.delete(id);
  }

  /** What a re-point starts from: undefined unless the namespace, the plan and its reading are all known. */
  lastCommit(id: string, plan: Plan | undefined): LastCommit | undefined {
    const ino = this.ns.get(id);
    const info = this.from.get(id);
    return ino !== undefined && plan && info ? { info, plan, ino } : undefined;
  }

  /** A re-point is about to replace some of `routes`, the committed ones (the first re-point since the commit counts). */
  repointing(id: string, routes: Route[]): void {
    if (!this.beforeRepoint.has(id)) this.beforeRepoint.set(id, routes);
  }

  /** The committed routes before any re-point since, once: the transaction now running reports the difference. */
  takeBeforeRepoint(id: string): Route[] | undefined {
    const r = this.beforeRepoint.get(id);
    this.beforeRepoint.delete(id);
    return r;
  }
}
