// Re-pointing (ARCHITECTURE.md, "Dependents re-pointed"). When a container
// moves (starts on a new address, stops, changes networks), every container
// whose labels route via it needs its routes changed, and traffic leaves by
// the route: so the routes of all of them are written at once, before any of
// their transactions runs. Each such container's route labels are resolved
// against the inventory as it is now (the resolver's own lookups: a reference
// that no longer resolves to exactly one container gives `unreachable`, the
// kill switch), and the routes that differ from its last committed ones are
// replaced in its namespace, one backend batch per namespace, all submitted
// together. Its ordinary transaction follows (queued as before) and waits
// for that write to settle before it writes: it plans everything, verifies
// the routes and commits the table.
//
// Only a namespace whose state Twine knows is touched: the container was last
// committed from the very reading the inventory holds now (same labels, same
// networks), in the namespace the handle opens (same inode), by the same
// ownership checks as a transaction, and no transaction of it is running.
// Anything else is left to its transaction.

import { describeError } from '../errors.js';
import type { ContainerInfo } from '../docker/container.js';
import type { Logger } from '../log.js';
import type { NetnsBackend, NsStep, Route } from '../netns/types.js';
import type { NsHandle } from '../netns/handle.js';
import { compileRoutes } from '../plan/compile.js';
import type { Plan } from '../plan/types.js';
import { resolveRoutes } from '../resolve/resolve.js';
import type { ContainerStore } from './container-store.js';
import { openOwnNamespace, type NamespaceContext, type NsOpener } from './ownership.js';
import { diffRoutes, routeKey } from './route-diff.js';

/** What Twine last committed in a container's namespace, and the reading of the container it planned from. */
export interface LastCommit {
  info: ContainerInfo;
  plan: Plan;
  ino: number;
}

export interface RepointDeps {
  netns: Pick<NetnsBackend, 'batch'>;
  log: Logger;
  store: Pick<ContainerStore, 'get' | 'snapshot' | 'specs'>;
  /** What the ownership checks compare a namespace with (as a transaction's). */
  namespaces(): NamespaceContext;
  open: NsOpener;
  lastCommit(id: string): LastCommit | undefined;
  /** These routes of `id` are now in its namespace (they replaced the last committed ones with the same key). */
  wrote(id: string, routes: Route[]): void;
}

/** `routes` with each route of `replaced` in place of the one with its key. */
export function withReplaced(routes: readonly Route[], replaced: readonly Route[]): Route[] {
  const by = new Map(replaced.map((r) => [routeKey(r), r]));
  return routes.map((r) => by.get(routeKey(r)) ?? r);
}

export class Repointer {
  /** Writes under way, by container. */
  private readonly writes = new Map<string, Promise<void>>();
  /** Dependents that had a transaction under way when a container they reference moved: re-pointed once it ends (why). */
  private readonly deferred = new Map<string, string>();

  constructor(private readonly d: RepointDeps) {}

  /** The write into `id`'s namespace, while one is under way: a transaction of `id` must not write before it settles. */
  pending(id: string): Promise<void> | undefined {
    return this.writes.get(id);
  }

  /**
   * Writes the routes of `ids` (containers whose labels reference one that
   * moved) as the inventory resolves them now, where they differ from the last
   * committed ones. `busy`: a transaction of that container is running (it is
   * re-pointed when that one ends, ahead of the one queued after it: `left` in
   * the log line). Returns how many namespaces it writes to.
   */
  run(ids: Iterable<string>, busy: (id: string) => boolean, why: string): number {
    const t0 = performance.now();
    const inv = this.d.store.snapshot();
    const writes: Promise<void>[] = [];
    let left = 0;
    for (const id of ids) {
      if (this.writes.has(id) || busy(id)) {
        this.deferred.set(id, why);
        left++;
        continue;
      }
      const last = this.d.lastCommit(id);
      if (!last || this.d.store.get(id) !== last.info || !last.info.running) continue;
      let routes: Route[];
      try {
        routes = diffRoutes(last.plan.routes, compileRoutes(resolveRoutes(last.info, this.d.store.specs.specOf(last.info), inv))).replace;
      } catch {
        continue; // labels its transaction reports
      }
      const w = routes.length > 0 ? this.write(id, last, routes) : undefined;
      if (w) writes.push(w);
    }
    if (writes.length === 0) {
      if (left > 0) this.d.log.debug({ left, why }, 're-pointing held up: their transactions are under way');
      return 0;
    }
    // Main thread: resolving and submitting; settled: every write back from the kernel.
    const submitMs = performance.now() - t0;
    void Promise.all(writes).then(() => this.d.log.info({ count: writes.length, ...(left > 0 ? { left } : {}), why, submitMs, settledMs: performance.now() - t0 }, 'dependents re-pointed: routes written ahead of their transactions'));
    return writes.length;
  }

  /** A transaction of `id` ended (no other of it runs until its next one starts): a re-point it held up is written now. */
  resume(id: string): void {
    const why = this.deferred.get(id);
    if (why === undefined) return;
    this.deferred.delete(id);
    this.run([id], () => false, why);
  }

  /** The container stopped or lost its labels: nothing of it is re-pointed any more. */
  forget(id: string): void {
    this.deferred.delete(id);
  }

  private write(id: string, last: LastCommit, routes: Route[]): Promise<void> | undefined {
    let handle: NsHandle;
    try {
      handle = openOwnNamespace(last.info, this.d.namespaces(), this.d.open);
    } catch {
      return undefined; // gone or refused: its transaction finds out and says so
    }
    if (handle.ino !== last.ino) {
      handle.close();
      return undefined;
    }
    const log = (err: unknown): void => this.d.log.warn({ container: last.info.name, err: describeError(err) }, 're-pointing its routes failed; its transaction follows');
    const p = this.d.netns
      .batch(handle.target, routes.map((route): NsStep => ({ op: 'routeReplace', route })))
      .then(
        (out) => {
          // The steps before a failed one ran.
          const done = out.failedAt === undefined ? routes : routes.slice(0, out.failedAt);
          if (done.length > 0) this.d.wrote(id, done);
          if (out.failedAt !== undefined) log(out.error);
        },
        (err: unknown) => log(err),
      )
      .finally(() => {
        handle.close();
        this.writes.delete(id);
      });
    this.writes.set(id, p);
    return p;
  }
}
