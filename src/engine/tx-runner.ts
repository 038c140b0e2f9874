// One container's transaction as the engine runs it: plan from its labels and
// the inventory snapshot, claim its host-route prefixes, open and check its
// namespace, apply (./transaction.ts), then record and report: the container's
// status (./statuses.ts), what was committed where (./ledger.ts), one log line
// and one TxEvent (which feeds the metrics) per outcome.

import { describeError, LabelError, NamespaceGoneError, NamespaceRefusedError } from '../errors.js';
import type { NetworkIndex } from '../docker/networks.js';
import { parseCidr, type Cidr } from '../net/cidr.js';
import { HOST_ROUTES_LABEL, type HostRoutePolicy } from '../labels/host-routes.js';
import type { LabelWarning } from '../labels/spec.js';
import { visibleLabels } from '../labels/visible.js';
import { DEFAULT_LIMITS } from '../labels/limits.js';
import type { Logger } from '../log.js';
import type { NsHandle } from '../netns/handle.js';
import type { Plan } from '../plan/types.js';
import { planPartsDiffering, plansEqual, sameRoutes } from '../plan/equal.js';
import type { ContainerInfo } from '../docker/container.js';
import { wallMs } from '../netns/clock.js';
import type { ContainerStore } from './container-store.js';
import type { EngineDeps, EngineOptions } from './deps.js';
import type { EarlyApplied } from './early.js';
import type { DependencyGraph } from './graph.js';
import { conflictReason } from './host-claims.js';
import type { HostRoutes } from './host-routes.js';
import { hostRoutePolicy } from './host-subnets.js';
import type { HostView } from './host-view.js';
import { CommitLedger } from './ledger.js';
import { openOwnNamespace, type NamespaceContext } from './ownership.js';
import { planInputs, type PlanMemo, type Planned } from './plan-memo.js';
import { planContainer } from './planner.js';
import { minEventMs, onlyConfirms, onlyResync, whys, type Reason } from './reason.js';
import type { RetrySchedule } from './retry.js';
import type { ContainerState, FrontStages, TxEvent, TxResultKind } from './state.js';
import type { Statuses } from './statuses.js';
import { Repointer, withReplaced } from './repoint.js';
import { RoutesFirst } from './routes-first.js';
import { applyPlan, type TxOptions, type TxResult } from './transaction.js';
import { nextTxId } from './tx-id.js';

/**
 * How the namespace came to be: `event`, at the container's start event (new,
 * unless the early path or the runtime hook already wrote to it); `early`,
 * before the start event (./start-paths.ts). Undefined: an ordinary re-plan.
 */
export type StartKind = 'event' | 'early';

/** During a full re-sync: plans the memo answered (not made again), containers found in sync and changed. */
export interface ResyncCounts {
  plansReused: number;
  inSync: number;
  applied: number;
}

export interface TxRunnerDeps {
  deps: Pick<EngineDeps, 'netns' | 'nft' | 'log'>;
  opts: Pick<EngineOptions, 'allowHostRoutes' | 'hostNetns' | 'limits' | 'hostRoutesAllow' | 'build' | 'dockerVersion'>;
  host: Pick<HostView, 'open' | 'netnsInode'>;
  store: ContainerStore;
  statuses: Statuses;
  networks: NetworkIndex;
  /** Namespaces no container's own process is in (the host's, Twine's). */
  hostNs: ReadonlySet<number>;
  graph: DependencyGraph;
  retries: RetrySchedule;
  hostRoutes: HostRoutes;
  early: EarlyApplied;
  /** Re-plan these containers (a host-route prefix they wait for was let go). */
  replan(ids: string[]): void;
  /** Before planning: what the snapshot must hold first (swarm tasks, port files, bridges' MACs). */
  beforePlan?(info: ContainerInfo): Promise<void>;
  emitTx(e: TxEvent): void;
  /** Plans kept by their inputs, taken during a full re-sync (./plan-memo.ts). */
  memo: PlanMemo;
}

/** One transaction's identity, for its log lines and its TxEvent. */
interface Tx {
  info: ContainerInfo;
  reasons: Reason[];
  txId: string;
  log: Logger;
  eventMs: number | undefined;
}

/** What one transaction is asked to do, beyond the container and its reasons. */
export interface TxRequest {
  info: ContainerInfo;
  reasons: Reason[];
  start: StartKind | undefined;
  front: FrontStages;
  /** Called once its routes are in (the queue's next container may start, ./queue.ts). */
  release?: () => void;
}

export class TxRunner {
  private readonly ledger = new CommitLedger();
  /** Every transaction's routes before any one's nft commit, when several run. */
  private readonly routesFirst = new RoutesFirst();
  /** Full re-syncs under way: while one runs, plans come from the memo when their inputs are unchanged. */
  private resyncing = 0;
  private counts: ResyncCounts = { plansReused: 0, inSync: 0, applied: 0 };
  /** The planner's options and Twine's build: part of every plan's inputs (with the engine's version, read at each connect). */
  private readonly saltBase: string;
  /** Dependents' routes written ahead of their transactions. */
  private readonly repointer: Repointer;

  constructor(private readonly d: TxRunnerDeps) {
    this.saltBase = JSON.stringify([d.opts.build ?? '', d.opts.allowHostRoutes, d.opts.limits ?? DEFAULT_LIMITS]);
    this.repointer = new Repointer({
      netns: d.deps.netns,
      log: d.deps.log,
      store: d.store,
      namespaces: () => this.namespaces(),
      open: d.host.open,
      lastCommit: (id) => this.ledger.lastCommit(id, d.statuses.get(id)?.applied),
      wrote: (id, routes) => {
        // The status says what is in the kernel.
        const s = d.statuses.get(id);
        if (!s?.applied) return;
        this.ledger.repointing(id, s.applied.routes);
        s.applied = { ...s.applied, routes: withReplaced(s.applied.routes, routes) };
      },
    });
  }

  /**
   * `ids` reference a container that moved: their routes are written now, ahead
   * of their transactions (./repoint.ts). `busy`: a transaction of it is running.
   */
  repoint(ids: Iterable<string>, busy: (id: string) => boolean, why: string): number {
    return this.repointer.run(ids, busy, why);
  }

  /** Runs a full re-sync's jobs (`run`): plans come from the memo while it runs. Returns what it found. */
  async resync(run: () => Promise<void>): Promise<ResyncCounts> {
    this.resyncing++;
    this.counts = { plansReused: 0, inSync: 0, applied: 0 };
    try {
      await run();
    } finally {
      this.resyncing--;
    }
    return { ...this.counts };
  }

  private namespaces(): NamespaceContext {
    return { hostInodes: this.d.hostNs, containers: this.d.store.values(), inNamespace: (ino) => this.d.store.inNamespace(ino) };
  }

  /** The container stopped (`info` undefined: it is gone): nothing applied any more, its host routes and prefixes go. */
  notRunning(id: string, info: ContainerInfo | undefined): void {
    const state = this.d.statuses.get(id);
    this.d.retries.forget(id);
    this.d.replan(this.d.hostRoutes.claims.release(id));
    this.forgetCommit(id);
    if (!info) this.forgetContainer(id);
    else if (state) {
      state.running = false;
      state.applied = undefined;
    }
    if (state?.plan?.hostRoutes.length) this.d.hostRoutes.request(`${state.name} stopped`);
  }

  /** A running container without twine labels: Twine has nothing of it to keep. */
  unlabelled(id: string): void {
    this.d.retries.forget(id);
    this.forgetCommit(id);
    this.d.replan(this.d.hostRoutes.claims.release(id));
    this.forgetContainer(id);
  }

  /** What a re-point would start from: nothing is committed in a namespace of it any more. */
  private forgetCommit(id: string): void {
    this.ledger.forget(id);
    this.repointer.forget(id);
  }

  /** Its status, its place among the dependencies and its kept plan. */
  private forgetContainer(id: string): void {
    this.d.statuses.delete(id);
    this.d.graph.remove(id);
    this.d.memo.forget(id);
  }

  /** Plans and applies the container. Returns when it committed (undefined: nothing committed). */
  async transact(req: TxRequest): Promise<number | undefined> {
    // A re-point write into this namespace goes first (./repoint.ts).
    const repointing = this.repointer.pending(req.info.id);
    if (repointing) await repointing;
    try {
      return await this.transactNow(req);
    } finally {
      // One held up while this transaction ran goes now, ahead of the next transaction.
      this.repointer.resume(req.info.id);
    }
  }

  private async transactNow(req: TxRequest): Promise<number | undefined> {
    const { info, reasons } = req;
    const txId = nextTxId();
    const tx: Tx = { info, reasons, txId, log: this.d.deps.log.child({ container: info.name, tx: txId }), eventMs: minEventMs(reasons) };
    const state = this.stateOf(info, onlyResync(reasons));
    const t0 = performance.now();
    let hostRoutes: HostRoutePolicy | undefined;
    try {
      hostRoutes = await this.hostRoutePolicy(info);
    } catch (err) {
      state.lastError = `cannot read the subnets connected on the host and its routes, which ${HOST_ROUTES_LABEL} must not overlap: ${describeError(err)}`;
      tx.log.error({ err: state.lastError, reasons: whys(reasons) }, 'transaction failed, nothing applied');
      this.report(tx, 'failed');
      return undefined;
    }
    await this.d.beforePlan?.(info);
    // From here to its routes verified: the route phase (./routes-first.ts).
    const leave = this.routesFirst.enter();
    try {
      return await this.planAndApply(tx, state, req, t0, hostRoutes, async () => {
        req.release?.();
        return leave();
      });
    } finally {
      void leave();
    }
  }

  /** Host routes may not overlap what the host is connected to: that is read first (undefined: the container has none). */
  private async hostRoutePolicy(info: ContainerInfo): Promise<HostRoutePolicy | undefined> {
    if (!this.d.opts.allowHostRoutes || info.labels[HOST_ROUTES_LABEL] === undefined) return undefined;
    const host = { path: this.d.opts.hostNetns };
    const [addrs, routes] = await Promise.all([this.d.deps.netns.addrList(host), this.d.deps.netns.routeList(host), this.d.networks.refresh()]);
    return hostRoutePolicy(addrs, this.d.networks.all(), this.d.opts.hostRoutesAllow, routes);
  }

  private async planAndApply(tx: Tx, state: ContainerState, req: TxRequest, t0: number, hostRoutes: HostRoutePolicy | undefined, routesDone: () => Promise<void>): Promise<number | undefined> {
    const { info } = tx;
    let outcome: Planned;
    try {
      outcome = this.plan(info, hostRoutes);
    } catch (err) {
      return this.invalid(tx, state, err);
    }
    if (!this.claimHostRoutes(tx, state, outcome.plan)) return undefined;
    this.d.graph.set(info.id, outcome.deps);
    state.desired = outcome.desired;
    // Once per container and change at warn (a re-check that finds the same ones logs them at debug).
    const again = sameWarnings(state.warnings, outcome.warnings);
    state.warnings = outcome.warnings;
    for (const w of outcome.warnings) tx.log[again ? 'debug' : 'warn']({ label: w.key, ...(w.leak ? { leak: w.leak } : {}) }, w.message);
    const planMs = performance.now() - t0;

    // The one namespace handle of this transaction, checked: the container's own namespace, the one recorded for it.
    let ns: NsHandle;
    try {
      ns = openOwnNamespace(info, this.namespaces(), this.d.host.open);
    } catch (err) {
      if (err instanceof NamespaceGoneError) this.gone(tx, err);
      else if (err instanceof NamespaceRefusedError) this.refuse(tx, state, err);
      else this.failed(tx, state, err);
      return undefined;
    }
    try {
      return await this.applyIn(ns, tx, state, outcome.plan, req.start, { ...req.front, planMs }, routesDone);
    } finally {
      ns.close();
    }
  }

  /** The first container to claim a host-route prefix keeps it; no await from the check to the claim. False: refused as invalid. */
  private claimHostRoutes(tx: Tx, state: ContainerState, plan: Plan): boolean {
    const { info } = tx;
    const claims = this.d.hostRoutes.claims;
    const claim = plan.hostRoutes.map((r) => parseCidr(r.dst)).filter((c): c is Cidr => typeof c !== 'string');
    const conflicts = claims.conflicts(info.id, claim);
    if (conflicts.length > 0) {
      claims.wait(info.id);
      const value = info.labels[HOST_ROUTES_LABEL] ?? '';
      this.invalid(tx, state, new LabelError(info.name, conflicts.map((c) => ({ container: info.name, key: HOST_ROUTES_LABEL, value, reason: conflictReason(info.name, c) }))));
      return false;
    }
    this.d.replan(claims.set(info.id, info.name, claim));
    return true;
  }

  /**
   * The container's plan: during a full re-sync, the memo's when it was made
   * from the same inputs (not with host routes: those also depend on the host's
   * addresses); else planned now. Throws LabelError as planContainer does.
   */
  private plan(info: ContainerInfo, hostRoutes: HostRoutePolicy | undefined): Planned {
    const inv = this.d.store.snapshot();
    const inputs = this.resyncing > 0 && hostRoutes === undefined ? planInputs(info, inv, `${this.saltBase}|${this.d.opts.dockerVersion ?? ''}`) : undefined;
    const kept = inputs !== undefined ? this.d.memo.get(info.id, inputs) : undefined;
    if (kept) {
      this.counts.plansReused++;
      return kept;
    }
    const o = planContainer(info, inv, {
      allowHostRoutes: this.d.opts.allowHostRoutes,
      limits: this.d.opts.limits ?? DEFAULT_LIMITS,
      specs: this.d.store.specs,
      ...(hostRoutes ? { hostRoutes } : {}),
      ...(this.d.opts.dockerVersion !== undefined ? { dockerVersion: this.d.opts.dockerVersion } : {}),
    });
    const planned: Planned = { plan: o.plan, desired: o.desired, deps: o.deps, warnings: o.warnings };
    if (inputs !== undefined) this.d.memo.set(info.id, inputs, planned);
    return planned;
  }

  /** The labels are invalid (or claim a held prefix): nothing applied, the last good state kept. */
  private invalid(tx: Tx, state: ContainerState, err: unknown): undefined {
    // The start path already reported these labels; the inspect after it finds them as bad.
    const again = state.lastError === describeError(err);
    if (onlyConfirms(tx.reasons) && again) return;
    state.lastError = describeError(err);
    state.labelErrors = err instanceof LabelError ? err.issues : [];
    // Once per change: the start event and each re-check find the same labels, and say so only at debug.
    tx.log[again ? 'debug' : 'error']({ err: state.lastError, labels: visibleLabels(tx.info.labels), reasons: whys(tx.reasons) }, 'labels invalid: nothing applied, last good state kept');
    this.report(tx, 'invalid');
    return undefined;
  }

  /** A real failure: rolled back, reported as the container's error, retried with backoff and on Docker events. */
  private failed(tx: Tx, state: ContainerState, err: unknown): void {
    state.lastError = describeError(err);
    const retryInMs = this.d.retries.failed(tx.info.id);
    tx.log.error({ err: state.lastError, reasons: whys(tx.reasons), retryInMs }, 'transaction failed, rolled back');
    this.report(tx, 'failed');
  }

  /** The namespace vanished under the transaction: the container stopped, and its die event follows. Nothing to retry. */
  private gone(tx: Tx, err: unknown): void {
    this.ledger.forgetNs(tx.info.id);
    this.d.retries.forget(tx.info.id);
    tx.log.info({ err: describeError(err), reasons: whys(tx.reasons) }, 'namespace gone: the container stopped during the transaction');
    this.report(tx, 'gone');
  }

  /** Not the container's own namespace: nothing written, and nothing of its plan kept as applied (its host routes go). */
  private refuse(tx: Tx, state: ContainerState, err: NamespaceRefusedError): void {
    const { info } = tx;
    const again = state.refusal?.message === err.message;
    const hadHostRoutes = (state.applied?.hostRoutes.length ?? 0) > 0;
    state.lastError = err.message;
    state.refusal = { reason: err.reason, message: err.message, ...(err.sharedWith !== undefined ? { sharedWith: err.sharedWith } : {}) };
    state.applied = undefined;
    this.ledger.forgetNs(info.id);
    this.d.replan(this.d.hostRoutes.claims.release(info.id));
    if (hadHostRoutes) this.d.hostRoutes.request(`${info.name} refused`);
    // The start path already reported it; the inspect after it finds the same.
    if (again && onlyConfirms(tx.reasons)) return;
    tx.log.error({ err: err.message, reason: err.reason, sharedWith: err.sharedWith, reasons: whys(tx.reasons) }, 'namespace refused: nothing written');
    this.report(tx, 'refused');
  }

  /** The transaction failed (rolled back): why decides what is reported. */
  private notCommitted(tx: Tx, state: ContainerState, ino: number, err: unknown): void {
    this.ledger.forgetHashes(tx.info.id);
    const tooMuch = overLimit(err);
    // The container stopped under the transaction (its process left the namespace): churn, not a failure.
    if (this.d.host.netnsInode(tx.info.pid) !== ino) this.gone(tx, err);
    else if (tooMuch) this.refuse(tx, state, new NamespaceRefusedError(`${tooMuch}: nothing read past the limit, nothing written`, tx.info.name, 'oversized'));
    else this.failed(tx, state, err);
  }

  /** Docker's view agrees with what the start path applied: nothing to do, nothing to report. */
  private confirmed(tx: Tx, state: ContainerState, plan: Plan, ino: number): boolean {
    if (!onlyConfirms(tx.reasons) || !state.applied) return false;
    if (this.ledger.wroteIn(tx.info.id, ino) && plansEqual(state.applied, plan)) {
      tx.log.debug('start confirmed by inspect');
      return true;
    }
    const differs = planPartsDiffering(state.applied, plan);
    tx.log.debug({ differs, before: differs.map((k) => state.applied![k]), after: differs.map((k) => plan[k]) }, "Docker's view gives a different plan");
    return false;
  }

  /** What the transaction may take as known of this namespace (./transaction.ts TxOptions). */
  private txOptions(id: string, ino: number, state: ContainerState, fresh: boolean, routesDone?: () => Promise<void>): TxOptions {
    const lastRoutes = this.ledger.takeBeforeRepoint(id) ?? state.applied?.routes;
    const hashes = this.ledger.hashesIn(id, ino);
    return {
      fresh,
      ...(state.applied ? { known: state.applied.table } : {}),
      // What Twine last committed in this very namespace: its routes are written with the reads.
      ...(state.applied && !fresh && this.ledger.wroteIn(id, ino) ? { lastRoutes } : {}),
      ...(hashes ? { knownHashes: hashes } : {}),
      ...(routesDone ? { routesDone } : {}),
    };
  }

  /** The transaction proper, every step through `handle`. Returns when it committed (undefined: nothing committed). */
  private async applyIn(handle: NsHandle, tx: Tx, state: ContainerState, plan: Plan, start: StartKind | undefined, stages: FrontStages & { planMs: number }, routesDone?: () => Promise<void>): Promise<number | undefined> {
    const { info } = tx;
    const ino = handle.ino;
    state.refusal = undefined;
    const fresh = start !== undefined && !this.ledger.wroteIn(info.id, ino);
    if (this.confirmed(tx, state, plan, ino)) return undefined;
    let result: TxResult;
    try {
      result = await applyPlan(this.d.deps, { ...plan, ns: handle.target }, this.txOptions(info.id, ino, state, fresh, routesDone));
    } catch (err) {
      this.notCommitted(tx, state, ino, err);
      return undefined;
    }
    this.d.retries.forget(info.id);
    this.ledger.committed(info, ino, result.ruleHashes);
    return this.committed(tx, state, plan, start === 'event' ? ino : undefined, result, { ...stages, ...result.stages }, fresh);
  }

  /**
   * Records and reports a commit. `startedIn`: the namespace a start event's
   * transaction ran in (one applied before that event and still in place counts
   * from then: the network was ready that much earlier).
   */
  private committed(tx: Tx, state: ContainerState, plan: Plan, startedIn: number | undefined, result: TxResult, stages: NonNullable<TxEvent['stages']>, fresh: boolean): number {
    const { info, log, eventMs } = tx;
    const committedAt = wallMs();
    let latencyMs = eventMs !== undefined ? committedAt - eventMs : undefined;
    let beforeStartMs: number | undefined;
    const early = startedIn !== undefined ? this.d.early.take(info.id) : undefined;
    if (early && early.ino === startedIn && result.noop && eventMs !== undefined) {
      latencyMs = Math.max(0, early.committedAt - eventMs);
      beforeStartMs = eventMs - early.committedAt;
    }
    // Against what is applied now: a stopped container has none applied (its plan is kept for
    // the status), so its host routes must be put back when it starts again.
    const hostChanged = !sameRoutes(state.applied?.hostRoutes ?? [], plan.hostRoutes);
    state.plan = plan;
    state.applied = plan;
    state.lastError = undefined;
    state.labelErrors = [];
    state.lastApplyAt = new Date(committedAt).toISOString();
    if (latencyMs !== undefined) state.lastLatencyMs = latencyMs;
    if (result.conntrackError !== undefined) {
      log.error({ err: describeError(result.conntrackError) }, 'stale conntrack entries of a moved or removed forward destination could not be deleted: flows may keep going to the old address');
    }
    // A full re-sync finds most containers in sync: that line is debug, and the re-sync's own line counts them.
    const recheck = onlyResync(tx.reasons);
    if (recheck) this.counts[result.noop ? 'inSync' : 'applied']++;
    const quiet = recheck && result.noop;
    if (!quiet || log.isLevelEnabled('debug')) {
      log[quiet ? 'debug' : 'info'](
        { reasons: whys(tx.reasons), changed: changeCounts(result), latencyMs, ...(beforeStartMs !== undefined ? { beforeStartMs } : {}), stages, fresh },
        // Not a transaction of its own: the check that the one before the start event still holds.
        beforeStartMs !== undefined ? 'start: already in place' : result.noop ? 'in sync, nothing sent' : 'applied',
      );
    }
    log.debug({ replaced: result.routesReplaced, deleted: result.routesDeleted, sysctls: result.sysctlsSet }, 'details');
    this.report(tx, result.noop ? 'noop' : 'applied', { latencyMs, stages });
    if (hostChanged) this.d.hostRoutes.request(`${info.name} host routes`);
    return committedAt;
  }

  /** `resync`: met by a full re-sync (at start-up, every container), whose own line counts them. */
  private stateOf(info: ContainerInfo, resync: boolean): ContainerState {
    const { state, added } = this.d.statuses.update(info, this.d.graph.get(info.id));
    if (added) this.d.deps.log[resync ? 'debug' : 'info']({ container: info.name, id: info.id.slice(0, 12), labels: state.labels }, `labelled container: ${info.name}`);
    return state;
  }

  private report(tx: Tx, result: TxResultKind, extra: Pick<TxEvent, 'latencyMs' | 'stages'> = { latencyMs: undefined }): void {
    this.d.emitTx({ container: tx.info.name, id: tx.info.id, txId: tx.txId, result, latencyMs: extra.latencyMs, eventMs: tx.eventMs, reasons: whys(tx.reasons), ...(extra.stages ? { stages: extra.stages } : {}) });
  }
}

function sameWarnings(a: readonly LabelWarning[], b: readonly LabelWarning[]): boolean {
  return a.length === b.length && a.every((w, i) => w.key === b[i]!.key && w.message === b[i]!.message && w.leak === b[i]!.leak);
}

/** What a commit changed, for its log line. */
function changeCounts(result: TxResult): Record<string, number> {
  return {
    routes: result.routesReplaced.length + result.routesDeleted.length,
    sysctls: result.sysctlsSet.length,
    nft: result.nftCommands,
    ...(result.conntrackDeleted !== undefined ? { conntrack: result.conntrackDeleted } : {}),
  };
}

/** The message of a read that went over what one read of a namespace may take (native code ELIMIT), anywhere in err's causes. */
function overLimit(err: unknown): string | undefined {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === 'ELIMIT') return (e as Error).message;
  }
  return undefined;
}
