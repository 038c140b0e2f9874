// The daemon's core: keeps the inventory (./container-store.ts) current from
// Docker's events and routes each event to the keys it affects: the container
// itself and those whose labels reference it (./graph.ts), plus the host
// routes. Requests for a key coalesce in the queue (./queue.ts) and a job runs
// per key with bounded concurrency; a container's job picks its start path
// (./start-paths.ts) or reads it from Docker, then runs its transaction
// (./tx-runner.ts). The host routes have a job of their own (./host-routes.ts).

import { EventEmitter } from 'node:events';
import type { DockerEvent } from '../docker/events.js';
import { hasTwineLabels } from '../docker/inventory.js';
import { NetworkIndex } from '../docker/networks.js';
import { describeError } from '../errors.js';
import { DEFAULT_LIMITS } from '../labels/limits.js';
import { SpecCache } from '../labels/spec-cache.js';
import type { ContainerInfo, Inventory } from '../docker/container.js';
import { wallMs } from '../netns/clock.js';
import { ContainerStore, moved, type Change } from './container-store.js';
import type { EngineDeps, EngineOptions } from './deps.js';
import { BridgeMacs } from './bridge-macs.js';
import { DockerReads } from './docker-reads.js';
import { EarlyApplied } from './early.js';
import { DependencyGraph, namesOf } from './graph.js';
import { HOST_KEY, HostRoutes } from './host-routes.js';
import { hostView, type HostView } from './host-view.js';
import { KILLSWITCH_COUNTER, WHITELIST_COUNTER } from '../firewall/nft.js';
import { CounterReads } from './counters.js';
import { PlanMemo } from './plan-memo.js';
import { PortFiles } from './port-files.js';
import { KeyedQueue } from './queue.js';
import { frontStages, minEventMs, minReceived, newestRead, onlyConfirms, sortReasons, wantsInspect, type HookOutcome, type JobReasons, type Reason, type ReasonOf } from './reason.js';
import { RetrySchedule } from './retry.js';
import { StartPaths } from './start-paths.js';
import { Statuses } from './statuses.js';
import { SwarmTasks } from './swarm-tasks.js';
import type { ContainerState, FrontStages, TxEvent } from './state.js';
import { TxRunner, type ResyncCounts, type TxRequest } from './tx-runner.js';

export type { EngineDeps, EngineOptions } from './deps.js';
export type { HookOutcome } from './reason.js';

export interface EngineEvents {
  transaction: [TxEvent];
}

/** What an event says of when it happened, carried by the reasons it causes. */
type EventTimes = Pick<Reason, 'why' | 'eventMs' | 'receivedMs'>;

/** Docker's gateways on a container's networks. */
function gatewaysOf(c: ContainerInfo): string[] {
  return c.networks.flatMap((n) => [n.gatewayV4, n.gatewayV6]).filter((g): g is string => g !== undefined);
}

export class Engine extends EventEmitter<EngineEvents> {
  private readonly store: ContainerStore;
  private readonly graph = new DependencyGraph();
  private readonly queue: KeyedQueue<Reason>;
  private readonly reads: DockerReads;
  private readonly networks: NetworkIndex;
  /** Namespaces a container's process is not in once it runs: the host's and Twine's own. */
  private readonly hostNs = new Set<number>();
  private readonly host: HostView;
  /** Containers whose transaction failed, and the host routes when one failed: retried with backoff. */
  private readonly retries: RetrySchedule;
  private readonly early: EarlyApplied;
  private readonly hostRoutes: HostRoutes;
  private readonly statuses = new Statuses();
  private readonly runner: TxRunner;
  private readonly starts: StartPaths;
  /** Swarm tasks on other nodes. */
  private readonly swarm: SwarmTasks;
  /** Gateways' forwarded-port files, as last read. */
  private readonly portFiles: PortFiles;
  private readonly bridges: BridgeMacs;
  private readonly counters: CounterReads;
  /** True once the first full re-sync finished (the API's `reconciled`). */
  firstSyncDone = false;
  /** Docker events handled so far. */
  eventsHandled = 0;
  /** The last full re-sync: running containers taken from the inspect cache and inspected; plans taken from the memo; containers found in sync and changed. */
  lastResync: { reused: number; inspected: number } & ResyncCounts = { reused: 0, inspected: 0, plansReused: 0, inSync: 0, applied: 0 };
  private readonly memo: PlanMemo;
  private markFirstSync: () => void = () => undefined;
  /** Resolves when the first full re-sync finished: before it, names of running containers may not resolve yet. */
  private readonly firstSync = new Promise<void>((resolve) => (this.markFirstSync = resolve));

  constructor(
    private readonly deps: EngineDeps,
    private readonly opts: EngineOptions,
  ) {
    super();
    this.bridges = new BridgeMacs(deps.netns, [opts.hostNetns, '/proc/self/ns/net']);
    this.store = new ContainerStore(new SpecCache(opts.limits ?? DEFAULT_LIMITS, deps.parseLabels), () => this.extras());
    const host = (this.host = deps.host ?? hostView);
    this.portFiles = new PortFiles({
      specs: this.store.specs,
      containers: () => this.store.values(),
      read: host.readRootFile,
      log: deps.log,
      pollMs: opts.portFilePollMs ?? 1000,
      invalidate: () => this.store.invalidate(),
      replan: (ids, why) => this.replan(ids, why),
    });
    this.queue = new KeyedQueue<Reason>(
      (key, reasons, release) => (key === HOST_KEY ? this.hostRoutes.run() : this.containerJob(key, reasons, release)),
      opts.concurrency,
      (key, err) => deps.log.error({ err, key }, 'job failed'),
    );
    this.retries = new RetrySchedule((key, attempt) => this.retry(key, `retry ${attempt}`));
    this.reads = new DockerReads({ deps, host, store: this.store, request: (id, reason) => void this.queue.request(id, reason) });
    this.networks = new NetworkIndex(deps.docker);
    for (const ino of host.hostInodes(opts.hostNetns)) this.hostNs.add(ino);
    const emitTx = (e: TxEvent): void => this.emitTx(e);
    this.early = new EarlyApplied((id) => void this.queue.request(id, { kind: 'inspect', why: 'no start event after its network was ready' }));
    const queueHost = (why: string): void => void this.queue.request(HOST_KEY, { kind: 'replan', why });
    const states = (): Iterable<ContainerState> => this.statuses.values();
    this.hostRoutes = new HostRoutes({ netns: deps.netns, log: deps.log, allow: opts.allowHostRoutes, hostNetns: opts.hostNetns, retries: this.retries, emitTx, queue: queueHost, states });
    const parts = { store: this.store, networks: this.networks, hostNs: this.hostNs, graph: this.graph, early: this.early, host };
    this.swarm = new SwarmTasks({ ...parts, deps, pollMs: opts.swarmPollMs ?? 2000, replan: (ids, why) => this.replan(ids, why) });
    const replan = (ids: string[]): void => this.replan(ids, 'a host-route prefix was let go');
    this.memo = deps.planMemo ?? new PlanMemo();
    this.runner = new TxRunner({ ...parts, deps, opts, statuses: this.statuses, retries: this.retries, hostRoutes: this.hostRoutes, replan, emitTx, memo: this.memo, beforePlan: (info) => this.beforePlan(info) });
    const onReady = (id: string, info: ContainerInfo, ino: number): void => void this.queue.request(id, { kind: 'prestart', why: 'network ready', info, ino });
    this.starts = new StartPaths({ ...parts, deps, onReady });
    this.counters = new CounterReads(deps.netns);
  }

  /** What the planner's snapshot holds besides the containers. */
  private extras(): Omit<Inventory, 'containers'> {
    const portFiles = this.portFiles.current();
    return { remoteTasks: this.swarm.tasks(), noDns: this.networks.ingress(), bridgeMacs: this.bridges.current, ...(portFiles.size > 0 ? { portFiles } : {}) };
  }

  /** Per-container status, for the API and `twine status`, sorted by name. */
  containers(): ContainerState[] {
    return this.statuses.list();
  }

  /** By name, full id, or an id prefix of at least 4 characters. */
  container(nameOrId: string): ContainerState | undefined {
    return this.statuses.find(nameOrId);
  }

  /** Packets a NAT gateway's kill switch dropped (./counters.ts); undefined when it has none. */
  killSwitchDrops(c: ContainerState): Promise<number | undefined> {
    return this.counters.packets(c, KILLSWITCH_COUNTER);
  }

  /** Packets a NAT gateway's whitelists dropped; undefined when it has none. */
  whitelistDrops(c: ContainerState): Promise<number | undefined> {
    return this.counters.packets(c, WHITELIST_COUNTER);
  }

  /** Work under way: jobs queued or running, Docker reads whose job is not queued yet, starts watched. 0: idle. */
  get busy(): number {
    return this.queue.pending + this.reads.pending + this.starts.watching;
  }

  /**
   * Full re-sync: re-read every running container and re-plan every labelled
   * one. Used at start-up, after Docker reconnects, and for the periodic drift check.
   */
  async syncAll(why: string): Promise<void> {
    // Events handled while the listing runs (it can take a while on a busy host) are newer than the listing.
    const mark = this.store.mark;
    const counts = { reused: 0, inspected: 0 };
    const [running] = await Promise.all([
      this.reads.listRunning(counts),
      this.networks.refresh(true).catch((err: unknown) => this.deps.log.warn({ err: describeError(err) }, 'listing networks failed; starts are inspected')),
    ]);
    this.store.sync(running, mark);
    // A bridge recreated with the same address has a new MAC: read them again at every re-sync (when some container publishes ports).
    const publishing = [...this.store.values()].filter((c) => c.running && c.published?.length);
    const bridges = publishing.length === 0 ? undefined : this.bridges.ensure(publishing.flatMap(gatewaysOf), true).catch((err: unknown) => this.bridgeReadFailed(err));
    await Promise.all([this.swarm.refresh(), bridges]);
    this.portFiles.start();
    if (!this.firstSyncDone && this.opts.allowHostRoutes) await this.hostRoutes.seed(this.store.values());
    await this.memo.ready;
    this.memo.retain(new Set(running.map((c) => c.id)));
    const found = await this.runner.resync(async () => {
      const jobs: Promise<void>[] = [];
      for (const c of this.store.values()) {
        if (hasTwineLabels(c.labels) || this.statuses.has(c.id)) jobs.push(this.queue.request(c.id, { kind: 'replan', why, resync: true }));
      }
      await Promise.all(jobs);
    });
    this.lastResync = { ...counts, ...found };
    // Host routes last: they are the union of every container's, and a container
    // not yet re-planned would otherwise look as if its host routes had to go.
    await this.queue.request(HOST_KEY, { kind: 'replan', why });
    this.firstSyncDone = true;
    this.markFirstSync();
    // Host-route changes of containers that started while the start-up sync ran.
    this.hostRoutes.goLive();
  }

  /** What a plan needs read first: swarm tasks, a gateway's forwarded-port file, and the bridges' MACs for a container with published ports. */
  private async beforePlan(info: ContainerInfo): Promise<void> {
    await this.swarm.before(info);
    await this.portFiles.before(info);
    if (!info.running || !info.published?.length) return;
    await this.bridges.ensure(gatewaysOf(info)).catch((err: unknown) => this.bridgeReadFailed(err));
  }

  private bridgeReadFailed(err: unknown): void {
    this.deps.log.warn({ err: describeError(err) }, "reading Docker's bridges in the host's namespace failed: replies from published ports follow the labels' routes");
  }

  private replan(ids: Iterable<string>, why: string): void {
    for (const id of ids) void this.queue.request(id, { kind: 'replan', why });
  }

  /** Queues a retry of a failed key (a container, or the host routes). */
  private retry(key: string, why: string): void {
    if (key === HOST_KEY) this.hostRoutes.request(why);
    else void this.queue.request(key, { kind: 'replan', why });
  }

  /** Route one Docker event to the keys it affects. Never throws. */
  onEvent(ev: DockerEvent): void {
    this.eventsHandled++;
    try {
      // A container starting, stopping or moving between networks may be what a failure lacked.
      for (const key of this.retries.keys()) if (key !== ev.id) this.retry(key, `retry: ${ev.type} ${ev.action}`);
      this.swarm.onEvent(ev);
      if (ev.type === 'container') this.onContainerEvent(ev);
      else if (ev.type === 'network' && (ev.action === 'create' || ev.action === 'destroy')) {
        this.bridges.invalidate();
        this.networks.refresh(true).catch((err: unknown) => this.deps.log.warn({ err: describeError(err) }, 'listing networks failed'));
      } else if (ev.type === 'network' && (ev.action === 'connect' || ev.action === 'disconnect')) {
        // Only a running container's networks matter now. Docker connects networks while
        // starting a container, before its start event, and inspecting it then waits for
        // Docker to finish starting it: the start event's job reads it promptly instead.
        const id = ev.attributes.container;
        const known = id ? this.store.get(id) : undefined;
        // Docker 28 releases a stopped container's networks before its die event: with its process gone, the die event says it.
        if (ev.action === 'disconnect' && known?.running === true && known.pid > 0 && this.host.netnsInode(known.pid) === undefined) return;
        // One applied before its start event (runtime hook or early path) is still starting: its start event re-reads it.
        if (id && known?.running === true && !this.early.has(id)) {
          void this.queue.request(id, { kind: 'inspect', why: `network ${ev.action}`, eventMs: ev.timeMs, receivedMs: wallMs() });
        } else if (id && ev.action === 'connect' && ev.attributes.name && this.opts.applyBeforeStart !== false) {
          // The first sign of a start: apply as soon as Docker's set-up is done, before the process runs.
          this.starts.watch(id, ev.attributes.name);
        }
      }
    } catch (err) {
      this.deps.log.error({ err, event: ev.action, id: ev.id }, 'event handling failed');
    }
  }

  private onContainerEvent(ev: DockerEvent): void {
    const base: EventTimes = { eventMs: ev.timeMs, why: ev.action, receivedMs: wallMs() };
    switch (ev.action) {
      // `docker restart` sends die, start, restart: start alone carries the new namespace,
      // so restart (and unpause, which keeps the namespace) would only cost a no-op check.
      case 'start':
        this.starts.cancel(ev.id);
        void this.queue.request(ev.id, { ...base, kind: 'start', name: ev.attributes.name });
        break;
      case 'create':
        // Read it now, while Docker is not busy starting it: its start then needs no inspect.
        // With `docker run` the start is already under way and this inspect waits for it to
        // end; meanwhile the event's own attributes stand in, and if the container was
        // applied before its start with them, the inspect only confirms.
        this.store.noteCreated(ev.id, ev.attributes);
        this.reads.inspectThenConfirm(ev.id, base);
        break;
      case 'die':
      case 'destroy':
        // The event says all there is to know: no inspect (during a restart it would
        // wait for Docker to start the container again). Dependents fail closed now.
        this.starts.cancel(ev.id);
        this.early.take(ev.id);
        if (ev.action === 'destroy') this.store.forgetCreated(ev.id);
        this.markGone(ev.id, ev.action === 'destroy', base);
        void this.queue.request(ev.id, { ...base, kind: 'replan' });
        break;
      case 'rename':
        void this.queue.request(ev.id, { ...base, kind: 'inspect' });
        break;
      default:
        break;
    }
  }

  /** A container stopped (or was removed): update the inventory and re-plan its dependents. */
  private markGone(id: string, removed: boolean, base: EventTimes): void {
    const c = this.store.stop(id, removed);
    if (!c) return;
    this.dependentsMoved(this.graph.dependentsOf({ id, names: namesOf(c) }), `${c.name} ${base.why}`, base);
  }

  /**
   * A container (`what`: its name and what happened) moved or went: its
   * dependents' routes are written now, every one at once, ahead of their
   * transactions (./repoint.ts: unreachable when it went), then each is re-planned.
   */
  private dependentsMoved(deps: Set<string>, what: string, times: Omit<EventTimes, 'why'>): void {
    this.runner.repoint(deps, (key) => this.queue.running(key), what);
    for (const dep of deps) void this.queue.request(dep, { eventMs: times.eventMs, receivedMs: times.receivedMs, kind: 'replan', why: `dependency ${what}` });
  }

  /** Resolves once no job is queued or running; unlike drain, stops nothing (watches and retries go on). */
  async idle(): Promise<void> {
    await this.queue.idle();
  }

  /** Wait for every queued transaction to finish (graceful shutdown). */
  async drain(): Promise<void> {
    this.starts.close();
    this.swarm.stop();
    this.portFiles.stop();
    this.retries.clear();
    await this.queue.idle();
    this.early.clear();
  }

  /** Twine's runtime holds the start of container `id`, process `pid`, until this answers (./start-paths.ts). */
  async runtimeApply(id: string, pid: number): Promise<HookOutcome> {
    const read = await this.starts.runtimeRead(id, pid);
    if ('answer' in read) return read.answer;
    // Just started: the containers its labels name are known once the first re-sync is done (the hook's timeout bounds the wait).
    await this.firstSync;
    return new Promise<HookOutcome>((answer) => void this.queue.request(id, { kind: 'runtime', why: 'runtime hook', info: read.info, ino: read.ino, answer }));
  }

  /** Takes what Docker said of a container into the inventory and re-plans its dependents; returns it. */
  private adopt(id: string, info: ContainerInfo | undefined, reasons: Reason[]): ContainerInfo | undefined {
    const change = this.store.adopt(id, info);
    this.requestDependentsIfMoved(id, change, reasons);
    return change.after;
  }

  /** Records a running container a start path read itself, and re-plans what depends on it. */
  private place(info: ContainerInfo, reasons: Reason[]): void {
    this.requestDependentsIfMoved(info.id, this.store.put(info), reasons);
  }

  /**
   * A container's job: a start path when one applies (the runtime's request,
   * the early path, the start event without an inspect), else a read from
   * Docker, then its transaction. `release`: the job's routes are in; the next
   * container may start (./queue.ts).
   */
  private async containerJob(id: string, reasons: Reason[], release: () => void): Promise<void> {
    const jobStart = wallMs();
    const job = sortReasons(reasons);
    if (job.hooks.length > 0) await this.runtimeStart(job.hooks, jobStart);
    else if (job.prestart && (await this.earlyStart(id, job.prestart, reasons, jobStart))) return;
    if (job.rest.length === 0) return;
    if (job.started && (await this.startWithoutInspect(id, job.rest, jobStart))) return;
    await this.readAndTransact(id, job, jobStart, release);
  }

  /** The runtime's request: the last hook's reading applied; every hook gets the outcome. */
  private async runtimeStart(hooks: ReasonOf<'runtime'>[], jobStart: number): Promise<void> {
    const { info, ino } = hooks[hooks.length - 1]!;
    let outcome: HookOutcome;
    try {
      const committedAt = await this.beforeStartEvent(info, ino, hooks, frontStages(hooks, jobStart, { inspectMs: 0 }));
      outcome = committedAt !== undefined ? { ok: true, applied: true, name: info.name } : { ok: false, error: this.statuses.get(info.id)?.lastError ?? 'nothing was applied', name: info.name };
    } catch (err) {
      outcome = { ok: false, error: describeError(err) };
    }
    for (const h of hooks) h.answer(outcome);
  }

  /** The early path: applied when its namespace is still the one Docker finished. False: not applicable any more. */
  private async earlyStart(id: string, pre: ReasonOf<'prestart'>, reasons: Reason[], jobStart: number): Promise<boolean> {
    const info = this.starts.beforeStart(id, pre);
    if (!info) return false;
    await this.beforeStartEvent(info, pre.ino, reasons, frontStages(reasons, jobStart, { inspectMs: 0 }));
    return true;
  }

  /**
   * A container read before its start event (Docker is still starting it) is
   * placed in the inventory, and applied when labelled; its start event then
   * only checks (./early.ts). Returns when it committed.
   */
  private async beforeStartEvent(info: ContainerInfo, ino: number, reasons: Reason[], front: FrontStages): Promise<number | undefined> {
    this.early.placed(info.id);
    this.place(info, reasons);
    if (!hasTwineLabels(info.labels)) return undefined;
    const committedAt = await this.transact({ info, reasons, start: 'early', front });
    if (committedAt !== undefined) this.early.committed(info.id, ino, committedAt);
    return committedAt;
  }

  /** The start event, applied from what Twine reads itself; Docker's view follows, off the latency path. False: it needs an inspect. */
  private async startWithoutInspect(id: string, reasons: Reason[], jobStart: number): Promise<boolean> {
    const read = await this.starts.withoutInspect(id, reasons);
    if (!read) return false;
    this.place(read.info, reasons);
    if (hasTwineLabels(read.info.labels)) {
      await this.transact({ info: read.info, reasons, start: 'event', front: frontStages(reasons, jobStart, { inspectMs: 0, startInfoMs: read.startInfoMs }) });
    }
    this.reads.inspectThenConfirm(id, { why: 'start confirmed by inspect' });
    return true;
  }

  /** The ordinary job: the container as Docker says (inspected now, or read before the job), then its transaction. */
  private async readAndTransact(id: string, job: JobReasons, jobStart: number, release: () => void): Promise<void> {
    const { rest: reasons, txReasons } = job;
    let info = this.store.get(id);
    let inspectMs = 0;
    const read = newestRead(reasons);
    if (wantsInspect(reasons)) {
      const t = performance.now();
      const fresh = await this.reads.inspect(id);
      inspectMs = performance.now() - t;
      info = this.adopt(id, fresh, reasons);
    } else if (read && !this.store.staleRead(id, read.mark)) {
      info = this.adopt(id, read.info, reasons);
    } else if (read && onlyConfirms(reasons)) {
      return; // events since the read began are newer, and their own jobs follow
    }
    if (!info || !info.running) return this.runner.notRunning(id, info);
    if (!hasTwineLabels(info.labels)) return this.runner.unlabelled(id);
    await this.transact({ info, reasons: txReasons, start: job.started ? 'event' : undefined, front: frontStages(txReasons, jobStart, { inspectMs }), release });
  }

  /** The one place a container's transaction starts. Returns when it committed (undefined: nothing committed). */
  private transact(req: TxRequest): Promise<number | undefined> {
    return this.runner.transact(req);
  }

  /**
   * Anything that references this container may resolve differently when it started,
   * stopped, was renamed or moved on its networks. Only running containers resolve.
   */
  private requestDependentsIfMoved(id: string, change: Change, reasons: Reason[]): void {
    if (!moved(change)) return;
    const times = { eventMs: minEventMs(reasons), receivedMs: minReceived(reasons) };
    this.dependentsMoved(this.graph.dependentsOf({ id, names: change.names }), `${change.after?.name ?? change.before?.name ?? id} changed`, times);
  }

  private emitTx(e: TxEvent): void {
    try {
      this.emit('transaction', e);
    } catch (err) {
      this.deps.log.error({ err }, 'transaction listener failed');
    }
  }
}
