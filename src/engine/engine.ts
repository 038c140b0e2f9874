// The daemon's core: keeps an inventory of containers current from Docker's
// events, and runs one transaction per affected container (the container itself
// and those whose labels reference it), coalesced and with bounded concurrency.

import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { DockerClient } from '../docker/client.js';
import type { Logger } from '../log.js';
import type { NetnsBackend } from '../netns/types.js';
import { TWINE_RT_PROTO } from '../netns/types.js';
import { KILLSWITCH_COUNTER, TABLE_FAMILY, TABLE_NAME } from '../firewall/nft.js';
import type { NftTransport } from '../firewall/transport.js';
import type { ContainerInfo, Inventory } from '../resolve/inventory.js';
import type { Plan } from '../plan/types.js';
import type { DockerEvent } from '../docker/events.js';
import { createdInfo, hasTwineLabels, inspectContainer, listedContainer, procInterfaces, listRunningContainers, type LinkLister } from '../docker/inventory.js';
import { NetworkIndex } from '../docker/networks.js';
import { startedInfo, type StartFacts, type StartInfo } from '../docker/start-info.js';
import { sameNetworks } from '../resolve/inventory.js';
import { wallMs } from '../util/clock.js';
import { isNotFound } from '../docker/client.js';
import { LabelError, NamespaceGoneError, NamespaceRefusedError } from '../errors.js';
import type { NsHandle } from '../netns/handle.js';
import { openOwnNamespace } from './ownership.js';
import { hostView, type HostView } from './host-view.js';
import { parseCidr, parseLabels, sameCidr } from '../labels/parse.js';
import type { Cidr } from '../labels/spec.js';
import type { HostRoutePolicy } from '../labels/host-routes.js';
import { visibleLabels } from '../labels/visible.js';
import { DEFAULT_LIMITS, type Limits } from '../labels/limits.js';
import { KeyedQueue } from './queue.js';
import { PrestartWatch } from './prestart.js';
import { DependencyGraph, namesOf } from './graph.js';
import { applyPlan, type TxResult } from './transaction.js';
import { HOST_ROUTES_LABEL, planContainer, type PlanOutcome } from './planner.js';
import { conflictReason, HostClaims } from './host-claims.js';
import { hostRoutePolicy } from './host-subnets.js';
import { syncHostRoutes } from './host-routes.js';
import { RetrySchedule } from './retry.js';
import { routeText } from '../plan/explain.js';
import type { ContainerState, FrontStages, TxEvent } from './state.js';

export interface EngineOptions {
  allowHostRoutes: boolean;
  /** The host's network namespace (a path); tests point it at one of their own. */
  hostNetns: string;
  concurrency: number;
  /** Apply when Docker has set up a starting container's network, before its start event (default on). */
  applyBeforeStart?: boolean;
  /** Per-container limits (default DEFAULT_LIMITS). */
  limits?: Limits;
  /** --host-routes-allow: host routes must lie inside one of these. */
  hostRoutesAllow?: Cidr[];
}

export interface EngineDeps {
  docker: DockerClient;
  netns: NetnsBackend;
  nft: NftTransport;
  log: Logger;
  /** Cgroups, /proc and namespace files (default: this host's; unit tests give fakes). */
  host?: HostView;
}

/** Why a key is (re-)planned. */
interface Reason {
  why: string;
  /** Docker's timestamp of the event that caused it (ms since epoch). */
  eventMs?: number;
  /** Re-read the container from Docker first. */
  inspect?: boolean;
  /** The container (re)started: its namespace is new. */
  started?: boolean;
  /** When Twine received the event (ms since epoch), to split Docker's delay from Twine's. */
  receivedMs?: number;
  /** The container's name in the start event. */
  name?: string;
  /** Re-read after a start applied without inspect: no transaction if the plan is the same. */
  confirm?: boolean;
  /** Docker finished setting up the namespace of a container it is starting (./prestart.ts). */
  prestart?: { info: ContainerInfo; ino: number };
  /** Read from Docker before the job was queued (undefined info: gone); `mark` is touchSeq when the read began. */
  inspected?: { info: ContainerInfo | undefined; mark: number };
  /** Twine's runtime hook holds the container's start until this is answered (see runtimeApply). */
  runtime?: { info: ContainerInfo; ino: number; answer(o: HookOutcome): void };
}

/** What the runtime hook is told: go on (applied, or nothing to apply), or why the start must fail. */
export type HookOutcome = { ok: true; applied: boolean; name: string } | { ok: false; error: string; name?: string };

/** What was applied before a container's start event, until that event arrives. */
interface AppliedEarly {
  ino: number;
  committedAt: number;
  /** Inspects the container if no start event comes (its start failed). */
  timer: NodeJS.Timeout;
}

/** How long a container applied before its start may go without a start event before it is inspected. */
const START_EXPECTED_MS = 10_000;

const HOST_KEY = '@host';

export interface EngineEvents {
  transaction: [TxEvent];
}

export class Engine extends EventEmitter<EngineEvents> {
  private readonly inventory = new Map<string, ContainerInfo>();
  private inventoryList: ContainerInfo[] | undefined;
  private readonly states = new Map<string, ContainerState>();
  private readonly graph = new DependencyGraph();
  private readonly queue: KeyedQueue<Reason>;
  /** Namespace inode per container that Twine has written to, to tell a fresh namespace from a known one. */
  private readonly knownNs = new Map<string, number>();
  /** When (a sequence number) the inventory last learnt about a container from an event. */
  private readonly touched = new Map<string, number>();
  private touchSeq = 0;
  /** touchSeq when the last full re-sync began listing: a read begun before it is older than the listing. */
  private syncMark = 0;
  private readonly listLinks: LinkLister;
  private readonly networks: NetworkIndex;
  /** Namespaces a container's process is not in once it runs: the host's and Twine's own. */
  private readonly hostNs = new Set<number>();
  /** A host-route change arrived before the first full reconcile finished. */
  private hostDeferred = false;
  /** True once the first full reconcile finished. */
  reconciled = false;
  private markReconciled: () => void = () => undefined;
  /** Resolves when the first full reconcile finished: before it, names of running containers may not resolve yet. */
  private readonly firstReconcile = new Promise<void>((resolve) => (this.markReconciled = resolve));
  private readonly prestart: PrestartWatch;
  private readonly early = new Map<string, AppliedEarly>();
  /** Create events' attributes (name, image, labels) until the container is inspected. */
  private readonly created = new Map<string, Record<string, string>>();
  private readonly host: HostView;
  /** Which container holds which host-route prefix. */
  private readonly hostClaims = new HostClaims();
  /** Containers whose transaction failed, and the host routes when one failed: retried with backoff. */
  private readonly retries: RetrySchedule;

  constructor(
    private readonly deps: EngineDeps,
    private readonly opts: EngineOptions,
  ) {
    super();
    const host = (this.host = deps.host ?? hostView);
    this.queue = new KeyedQueue<Reason>(
      (key, reasons) => (key === HOST_KEY ? this.hostJob() : this.containerJob(key, reasons)),
      opts.concurrency,
      (key, err) => deps.log.error({ err, key }, 'job failed'),
    );
    this.retries = new RetrySchedule((key, attempt) => this.retry(key, `retry ${attempt}`));
    // /proc/<pid>/net (read here, no worker round trip), else a link dump through the backend.
    this.listLinks = async (pid) => procInterfaces(host.addrs(pid)) ?? deps.netns.linkList({ pid });
    this.networks = new NetworkIndex(deps.docker);
    for (const ino of host.hostInodes(opts.hostNetns)) this.hostNs.add(ino);
    this.prestart = new PrestartWatch({
      hostNs: this.hostNs,
      template: (id, networks) => {
        const known = this.inventory.get(id);
        if (known) return known;
        const attrs = this.created.get(id);
        return attrs && createdInfo(id, attrs, [...networks].map((name) => ({ name, id: this.networks.get(name)?.id ?? '' })));
      },
      wanted: (c) => hasTwineLabels(c.labels) || this.graph.dependentsOf({ id: c.id, names: namesOf(c) }).size > 0,
      network: (n) => this.networks.get(n),
      replacesDefault: (c) => replacesDefault(c, opts.limits ?? DEFAULT_LIMITS),
      onReady: (id, info, ino) => void this.queue.request(id, { why: 'network ready', prestart: { info, ino } }),
      log: deps.log,
      host,
    });
  }

  /** Per-container status, for the API and `twine status`. */
  containers(): ContainerState[] {
    return [...this.states.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  container(nameOrId: string): ContainerState | undefined {
    for (const s of this.states.values()) {
      if (s.id === nameOrId || s.name === nameOrId || (nameOrId.length >= 4 && s.id.startsWith(nameOrId))) return s;
    }
    return undefined;
  }

  /**
   * Packets a NAT gateway's kill switch dropped, read from its namespace now
   * (the named counter `killswitch` of its table); undefined when it has none.
   */
  async killSwitchDrops(c: ContainerState): Promise<number | undefined> {
    const plan = c.applied;
    if (!c.running || !plan?.table.counters?.includes(KILLSWITCH_COUNTER)) return undefined;
    const live = await this.deps.nft.listTable({ pid: plan.container.pid }, TABLE_FAMILY, TABLE_NAME);
    const counter = live?.nftables.map((i) => (i as { counter?: { name?: unknown; packets?: unknown } }).counter).find((x) => x?.name === KILLSWITCH_COUNTER);
    return typeof counter?.packets === 'number' ? counter.packets : undefined;
  }

  /**
   * Full re-sync: re-read every running container and re-plan every labelled
   * one. Used at start-up, after Docker reconnects, and for the periodic drift check.
   */
  async syncAll(why: string): Promise<void> {
    // Events handled while the listing runs (it can take a while on a busy host) are
    // newer than the listing: a container that started meanwhile is missing from it
    // and must not be marked stopped, one that died meanwhile must not come back.
    const mark = this.touchSeq;
    const [running] = await Promise.all([
      listRunningContainers(this.deps.docker, this.listLinks, undefined, (pid) => this.host.netnsInode(pid)),
      this.networks.refresh(true).catch((err: unknown) => this.deps.log.warn({ err: describeError(err) }, 'listing networks failed; starts are inspected')),
    ]);
    const newer = (id: string): boolean => (this.touched.get(id) ?? 0) > mark;
    this.syncMark = mark;
    const seen = new Set<string>();
    for (const c of running) {
      seen.add(c.id);
      if (!newer(c.id)) this.setInfo(c);
    }
    for (const [id, c] of this.inventory) {
      if (!seen.has(id) && c.running && !newer(id)) this.setInfo(stopped(c));
    }
    for (const [id, t] of this.touched) if (t <= mark) this.touched.delete(id);
    if (!this.reconciled && this.opts.allowHostRoutes) await this.seedHostClaims();
    const jobs: Promise<void>[] = [];
    for (const c of this.inventory.values()) {
      if (hasTwineLabels(c.labels) || this.states.has(c.id)) jobs.push(this.queue.request(c.id, { why }));
    }
    await Promise.all(jobs);
    // Host routes last: they are the union of every container's, and a container
    // not yet reconciled would otherwise look as if its host routes had to go.
    await this.queue.request(HOST_KEY, { why });
    this.reconciled = true;
    this.markReconciled();
    // Host-route changes of containers that started while the start-up sync ran.
    if (this.hostDeferred) {
      this.hostDeferred = false;
      void this.queue.request(HOST_KEY, { why: 'changed during start-up' });
    }
  }

  /**
   * After a restart: the containers whose host routes are in the host's namespace
   * held them first and keep them, whatever order their transactions run in.
   */
  private async seedHostClaims(): Promise<void> {
    let routes;
    try {
      routes = await this.deps.netns.routeList({ path: this.opts.hostNetns }, { protocol: TWINE_RT_PROTO });
    } catch (err) {
      this.deps.log.warn({ err: describeError(err) }, "reading the host's routes failed: host-route prefixes go to the first container planned");
      return;
    }
    const byIp = new Map<string, ContainerInfo>();
    for (const c of this.inventory.values()) {
      if (!c.running) continue;
      for (const n of c.networks) for (const ip of [n.ipv4, n.ipv6]) if (ip) byIp.set(ip, c);
    }
    const held = new Map<string, Cidr[]>();
    for (const r of routes) {
      const c = r.gateway === undefined ? undefined : byIp.get(r.gateway);
      const cidr = parseCidr(r.dst);
      if (!c || typeof cidr === 'string') continue;
      // Only what its labels still ask for.
      const asked = (c.labels[HOST_ROUTES_LABEL] ?? '').split(',').map((p) => parseCidr(p.trim()));
      if (!asked.some((a) => typeof a !== 'string' && sameCidr(a, cidr))) continue;
      if (this.hostClaims.conflicts(c.id, [cidr]).length > 0) continue;
      const list = [...(held.get(c.id) ?? []), cidr];
      held.set(c.id, list);
      this.hostClaims.set(c.id, c.name, list);
    }
  }

  /** Re-plan containers refused for a host-route conflict, now that a prefix was let go. */
  private replanWaiting(ids: string[]): void {
    for (const id of ids) void this.queue.request(id, { why: 'a host-route prefix was let go' });
  }

  /** Re-plan the host routes; before the first full sync, only once it is done. */
  private requestHost(why: string): void {
    if (this.reconciled) void this.queue.request(HOST_KEY, { why });
    else this.hostDeferred = true;
  }

  /** Queues a retry of a failed key (a container, or the host routes). */
  private retry(key: string, why: string): void {
    if (key === HOST_KEY) this.requestHost(why);
    else void this.queue.request(key, { why });
  }

  /** Route one Docker event to the keys it affects. Never throws. */
  onEvent(ev: DockerEvent): void {
    try {
      // A container starting, stopping or moving between networks may be what a failure lacked.
      for (const key of this.retries.keys()) if (key !== ev.id) this.retry(key, `retry: ${ev.type} ${ev.action}`);
      if (ev.type === 'container') this.onContainerEvent(ev);
      else if (ev.type === 'network' && (ev.action === 'create' || ev.action === 'destroy')) {
        this.networks.refresh(true).catch((err: unknown) => this.deps.log.warn({ err: describeError(err) }, 'listing networks failed'));
      } else if (ev.type === 'network' && (ev.action === 'connect' || ev.action === 'disconnect')) {
        // Only a running container's networks matter now. Docker connects networks while
        // starting a container, before its start event, and inspecting it then waits for
        // Docker to finish starting it: the start event's job reads it promptly instead.
        const id = ev.attributes.container;
        // One applied before its start event (runtime hook or early path) is still starting: its start event re-reads it.
        if (id && this.inventory.get(id)?.running === true && !this.early.has(id)) {
          void this.queue.request(id, { why: `network ${ev.action}`, inspect: true, eventMs: ev.timeMs, receivedMs: wallMs() });
        } else if (id && ev.action === 'connect' && ev.attributes.name && this.opts.applyBeforeStart !== false) {
          // The first sign of a start: apply as soon as Docker's set-up is done, before the process runs.
          this.prestart.watch(id, ev.attributes.name);
        }
      }
    } catch (err) {
      this.deps.log.error({ err, event: ev.action, id: ev.id }, 'event handling failed');
    }
  }

  private onContainerEvent(ev: DockerEvent): void {
    const base = { eventMs: ev.timeMs, why: ev.action, receivedMs: wallMs() };
    switch (ev.action) {
      // `docker restart` sends die, start, restart: start alone carries the new namespace,
      // so restart (and unpause, which keeps the namespace) would only cost a no-op check.
      case 'start':
        this.prestart.cancel(ev.id);
        void this.queue.request(ev.id, { ...base, inspect: true, started: true, name: ev.attributes.name });
        break;
      case 'create':
        // Read it now, while Docker is not busy starting it: its start then needs no inspect.
        // With `docker run` the start is already under way and this inspect waits for it to
        // end; meanwhile the event's own attributes stand in, and if the container was
        // applied before its start with them, the inspect only confirms.
        this.created.set(ev.id, { ...ev.attributes });
        this.inspectThenRequest(ev.id, { ...base, confirm: true });
        break;
      case 'die':
      case 'destroy':
        // The event says all there is to know: no inspect (during a restart it would
        // wait for Docker to start the container again). Dependents fail closed now.
        this.prestart.cancel(ev.id);
        this.forgetEarly(ev.id);
        if (ev.action === 'destroy') this.created.delete(ev.id);
        this.markGone(ev.id, ev.action === 'destroy', base);
        void this.queue.request(ev.id, base);
        break;
      case 'rename':
        void this.queue.request(ev.id, { ...base, inspect: true });
        break;
      default:
        break;
    }
  }

  /** A container stopped (or was removed): update the inventory and re-plan its dependents. */
  private markGone(id: string, removed: boolean, reason: Reason): void {
    this.touched.set(id, ++this.touchSeq);
    const c = this.inventory.get(id);
    if (!c) return;
    if (removed) this.inventory.delete(id);
    else if (c.running) this.inventory.set(id, stopped(c));
    else return;
    this.inventoryList = undefined;
    for (const dep of this.graph.dependentsOf({ id, names: namesOf(c) })) {
      void this.queue.request(dep, { ...reason, why: `dependency ${c.name} ${reason.why}` });
    }
  }

  /** Resolves once no job is queued or running; unlike drain, stops nothing (watches and retries go on). */
  async idle(): Promise<void> {
    await this.queue.idle();
  }

  /** Wait for every queued transaction to finish (graceful shutdown). */
  async drain(): Promise<void> {
    this.prestart.close();
    this.retries.clear();
    await this.queue.idle();
    for (const id of [...this.early.keys()]) this.forgetEarly(id);
  }

  private forgetEarly(id: string): AppliedEarly | undefined {
    const e = this.early.get(id);
    if (e) {
      clearTimeout(e.timer);
      this.early.delete(id);
    }
    return e;
  }

  private setInfo(c: ContainerInfo): void {
    this.inventory.set(c.id, c);
    this.inventoryList = undefined;
  }

  private snapshot(): Inventory {
    this.inventoryList ??= [...this.inventory.values()];
    return { containers: this.inventoryList };
  }

  /** Re-read a container from Docker; returns its names before and after, for the dependents. */
  private async refresh(id: string): Promise<{ info?: ContainerInfo; names: Set<string> }> {
    return this.adopt(id, await this.inspect(id));
  }

  /** The container as Docker shows it; undefined when it is gone. */
  private async inspect(id: string): Promise<ContainerInfo | undefined> {
    try {
      return await inspectContainer(this.deps.docker, id, this.listLinks, (pid) => this.host.netnsInode(pid));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      return undefined;
    }
  }

  /**
   * Inspects outside the transaction queue, then queues `reason` with what was read.
   * For confirmations: Docker answers late while it starts containers (with `docker run`
   * only once the start is over), and a job waiting for it would hold a slot that a
   * transaction needs.
   */
  private inspectThenRequest(id: string, reason: Reason): void {
    const mark = this.touchSeq;
    this.inspect(id).then(
      (info) => void this.queue.request(id, { ...reason, inspected: { info, mark } }),
      (err: unknown) => this.deps.log.warn({ id: id.slice(0, 12), err: describeError(err), why: reason.why }, 'inspect failed; the next re-sync reads it'),
    );
  }

  /** A read begun at `mark` is older than what an event or a re-sync told since. */
  private staleRead(id: string, mark: number): boolean {
    return (this.touched.get(id) ?? 0) > mark || this.syncMark > mark;
  }

  /** Takes what Docker said of a container into the inventory; returns its names before and after. */
  private adopt(id: string, info: ContainerInfo | undefined): { info?: ContainerInfo; names: Set<string> } {
    const old = this.inventory.get(id);
    const names = old ? namesOf(old) : new Set<string>();
    this.touched.set(id, ++this.touchSeq);
    this.created.delete(id);
    if (info) {
      this.setInfo(info);
      for (const n of namesOf(info)) names.add(n);
    } else {
      this.inventory.delete(id);
      this.inventoryList = undefined;
    }
    return { info, names };
  }

  private async containerJob(id: string, jobReasons: Reason[]): Promise<void> {
    const jobStart = wallMs();
    let reasons = jobReasons;
    const hooks = reasons.filter((r) => r.runtime);
    if (hooks.length > 0) {
      const outcome = await this.applyForRuntime(id, hooks[hooks.length - 1]!.runtime!, hooks, jobStart).catch(
        (err: unknown): HookOutcome => ({ ok: false, error: describeError(err) }),
      );
      for (const h of hooks) h.runtime!.answer(outcome);
      // What the early path would have applied is applied.
      reasons = reasons.filter((r) => !r.runtime && !r.prestart);
      if (reasons.length === 0) return;
    }
    if (reasons.some((r) => r.prestart)) {
      if (!reasons.some((r) => r.started) && (await this.applyBeforeStart(id, reasons, jobStart))) return;
      // Not applicable any more (the start event came first, or the namespace is gone): only the rest counts.
      reasons = reasons.filter((r) => !r.prestart);
      if (reasons.length === 0) return;
    }
    if (reasons.some((r) => r.started) && (await this.startWithoutInspect(id, reasons, jobStart))) {
      // Applied from what Twine could read itself; Docker's view follows, off the latency path.
      this.inspectThenRequest(id, { why: 'start confirmed by inspect', confirm: true });
      return;
    }
    const started = reasons.some((r) => r.started);
    let info = this.inventory.get(id);
    let inspectMs = 0;
    const fetched = reasons.reduce<Reason['inspected']>((m, r) => (r.inspected && (!m || r.inspected.mark > m.mark) ? r.inspected : m), undefined);
    if (reasons.some((r) => r.inspect)) {
      const before = info;
      const t = performance.now();
      const r = await this.refresh(id);
      inspectMs = performance.now() - t;
      info = r.info;
      this.requestDependentsIfMoved(id, before, info, r.names, reasons);
    } else if (fetched && !this.staleRead(id, fetched.mark)) {
      const before = info;
      const r = this.adopt(id, fetched.info);
      info = r.info;
      this.requestDependentsIfMoved(id, before, info, r.names, reasons);
    } else if (fetched && reasons.every((r) => r.inspected)) {
      return; // events since the read began are newer, and their own jobs follow
    }
    const state = this.states.get(id);
    if (!info || !info.running || !hasTwineLabels(info.labels)) this.retries.forget(id);
    if (!info || !info.running) {
      this.knownNs.delete(id);
      this.replanWaiting(this.hostClaims.release(id));
      if (!info) {
        this.states.delete(id);
        this.graph.remove(id);
      } else if (state) {
        state.running = false;
        state.applied = undefined;
      }
      if (state?.plan?.hostRoutes.length) this.requestHost(`${state.name} stopped`);
      return;
    }
    if (!hasTwineLabels(info.labels)) {
      this.replanWaiting(this.hostClaims.release(id));
      if (state) this.states.delete(id);
      this.graph.remove(id);
      return;
    }
    // A confirmation that arrived together with real work is real work.
    if (reasons.some((r) => !r.confirm)) reasons = reasons.filter((r) => !r.confirm);
    await this.transact(info, reasons, started, this.front(reasons, jobStart, { inspectMs }));
  }

  /** Docker's event timestamp → Twine has the event; → its job starts; the job's read of the container. */
  private front(reasons: Reason[], jobStart: number, read: Pick<FrontStages, 'inspectMs' | 'startInfoMs'>): FrontStages {
    const received = minReceived(reasons);
    const eventMs = minEventMs(reasons);
    return {
      eventDelayMs: received !== undefined && eventMs !== undefined ? received - eventMs : undefined,
      queueMs: received !== undefined ? jobStart - received : undefined,
      ...read,
    };
  }

  /**
   * Anything that references this container may resolve differently when it started,
   * stopped, was renamed or moved on its networks. Only running containers resolve.
   */
  private requestDependentsIfMoved(id: string, before: ContainerInfo | undefined, after: ContainerInfo | undefined, names: Set<string>, reasons: Reason[]): void {
    const wasUp = before?.running === true;
    const isUp = after?.running === true;
    if (!wasUp && !isUp) return;
    if (wasUp && isUp && before.name === after.name && sameNetworks(before.networks, after.networks)) return;
    const eventMs = minEventMs(reasons);
    for (const dep of this.graph.dependentsOf({ id, names })) {
      void this.queue.request(dep, { why: `dependency ${after?.name ?? before?.name ?? id} changed`, eventMs, receivedMs: minReceived(reasons) });
    }
  }

  /**
   * The start path without `docker inspect` (../docker/start-info.ts): the container's
   * process from its cgroup, its interfaces and addresses from its namespace, the rest
   * from the last inspect. False (nothing done) when that picture is incomplete.
   */
  private async startWithoutInspect(id: string, reasons: Reason[], jobStart: number): Promise<boolean> {
    const template = this.inventory.get(id);
    if (!template) return false;
    const t = performance.now();
    const found = this.host.containerNsPid(id, this.hostNs);
    const skip = (why: string): false => {
      this.deps.log.debug({ container: template.name, why }, 'start: inspecting');
      return false;
    };
    if (!found) return skip('no process in a namespace of its own in its cgroup');
    const ns = { pid: found.pid };
    let addrs;
    try {
      await this.networks.refresh();
      addrs = this.host.addrs(found.pid) ?? (await this.deps.netns.addrList(ns));
    } catch (err) {
      return skip(describeError(err));
    }
    const name = reasons.find((r) => r.name !== undefined)?.name ?? template.name;
    const r = startedInfo(template, { name, pid: found.pid, addrs, gateways: () => this.host.defaultGateways(found.pid) }, (n) => this.networks.get(n));
    if ('fallback' in r) return skip(r.fallback);
    const info: ContainerInfo = { ...r.info, netnsIno: found.ino };
    const startInfoMs = performance.now() - t;
    const names = namesOf(template);
    for (const n of namesOf(info)) names.add(n);
    this.touched.set(id, ++this.touchSeq);
    this.setInfo(info);
    this.requestDependentsIfMoved(id, template, info, names, reasons);
    if (hasTwineLabels(info.labels)) {
      await this.transact(info, reasons, true, this.front(reasons, jobStart, { inspectMs: 0, startInfoMs }));
    }
    return true;
  }

  /**
   * Docker finished the namespace of a container it is starting: apply now, before
   * its process runs. The start event's transaction then finds everything in place
   * (or repairs what Docker changed since). False (nothing done) when the
   * container's process in that namespace is gone or it started meanwhile.
   */
  private async applyBeforeStart(id: string, reasons: Reason[], jobStart: number): Promise<boolean> {
    const pre = reasons.find((r) => r.prestart)!.prestart!;
    // Not inspected yet: what its create event said (pre.info was built from it).
    const template = this.inventory.get(id) ?? stopped(pre.info);
    if (template.running) return false;
    const found = this.host.containerNsPid(id, this.hostNs);
    if (!found || found.ino !== pre.ino) return false;
    const info: ContainerInfo = { ...pre.info, pid: found.pid, netnsIno: found.ino };
    const names = namesOf(template);
    for (const n of namesOf(info)) names.add(n);
    this.touched.set(id, ++this.touchSeq);
    this.setInfo(info);
    this.requestDependentsIfMoved(id, template, info, names, reasons);
    if (!hasTwineLabels(info.labels)) return true;
    const committedAt = await this.transact(info, reasons, true, this.front(reasons, jobStart, { inspectMs: 0 }));
    if (committedAt !== undefined) this.rememberEarly(id, found.ino, committedAt);
    return true;
  }

  /** Applied before its start event: the start event then only checks; without one, the container is inspected. */
  private rememberEarly(id: string, ino: number, committedAt: number): void {
    this.forgetEarly(id);
    const timer = setTimeout(() => {
      if (this.early.get(id)?.committedAt !== committedAt) return;
      this.early.delete(id);
      void this.queue.request(id, { why: 'no start event after its network was ready', inspect: true });
    }, START_EXPECTED_MS);
    timer.unref();
    this.early.set(id, { ino, committedAt, timer });
  }

  /**
   * Twine's OCI hook (twine runtime): runc is starting container `id`, whose process `pid`
   * waits in its namespace, set up by Docker, until this answers. The container is read
   * from Docker's container list (which does not wait for the start, unlike inspect)
   * and from the namespace, then applied through the same transaction as any start.
   */
  async runtimeApply(id: string, pid: number): Promise<HookOutcome> {
    if (!this.host.processInContainer(pid, id)) return { ok: false, error: `process ${pid} is not one of container ${id.slice(0, 12)}'s` };
    // A container's labels never change: what Twine knows of it answers an unlabelled one at once.
    const attrs = this.created.get(id);
    const known = this.inventory.get(id) ?? (attrs && createdInfo(id, attrs, []));
    if (known && !hasTwineLabels(known.labels)) return { ok: true, applied: false, name: known.name };
    const ino = this.host.netnsInode(pid);
    if (ino === undefined) return { ok: false, error: `process ${pid} is gone` };
    const addrs = this.host.addrs(pid) ?? (await this.deps.netns.addrList({ pid }));
    const facts = (name: string): StartFacts => ({ name, pid, addrs, gateways: () => this.host.defaultGateways(pid) });
    await this.networks.refresh();
    // Its networks as last inspected, when they still explain its interfaces; else as Docker lists them now.
    let r: StartInfo | undefined = known && known.networks.length > 0 ? startedInfo(known, facts(known.name), (n) => this.networks.get(n)) : undefined;
    if (!r || 'fallback' in r) {
      const listed = await this.hookTemplate(id);
      if (!listed) return { ok: false, error: `container ${id.slice(0, 12)} is not in Docker's container list` };
      if (!hasTwineLabels(listed.labels)) return { ok: true, applied: false, name: listed.name };
      if (this.hostNs.has(ino)) return { ok: false, error: "it runs in the host's network namespace, which Twine does not change", name: listed.name };
      r = startedInfo(listed, facts(listed.name), (n) => this.networks.get(n));
      if ('fallback' in r && listed.networks.some((n) => this.networks.get(n.networkName) === undefined)) {
        await this.networks.refresh(true);
        r = startedInfo(listed, facts(listed.name), (n) => this.networks.get(n));
      }
      if ('fallback' in r) return { ok: false, error: `cannot match its interfaces to its networks: ${r.fallback}`, name: listed.name };
    }
    const info: ContainerInfo = { ...r.info, netnsIno: ino };
    // Just started: the containers its labels name are known once the first reconcile is done (the hook's timeout bounds the wait).
    await this.firstReconcile;
    return new Promise<HookOutcome>((resolve) => {
      void this.queue.request(id, { why: 'runtime hook', runtime: { info, ino, answer: resolve } });
    });
  }

  /** The container as Docker's list shows it (labels, networks); undefined when Docker does not list it. */
  private async hookTemplate(id: string): Promise<ContainerInfo | undefined> {
    return listedContainer(this.deps.docker, id);
  }

  private async applyForRuntime(id: string, rt: NonNullable<Reason['runtime']>, reasons: Reason[], jobStart: number): Promise<HookOutcome> {
    const template = this.inventory.get(id);
    const info = rt.info;
    const names = template ? namesOf(template) : new Set<string>();
    for (const n of namesOf(info)) names.add(n);
    this.touched.set(id, ++this.touchSeq);
    this.setInfo(info);
    this.requestDependentsIfMoved(id, template, info, names, reasons);
    const committedAt = await this.transact(info, reasons, true, this.front(reasons, jobStart, { inspectMs: 0 }));
    if (committedAt === undefined) return { ok: false, error: this.states.get(id)?.lastError ?? 'nothing was applied', name: info.name };
    this.rememberEarly(id, rt.ino, committedAt);
    return { ok: true, applied: true, name: info.name };
  }

  /** Returns when it committed (undefined: nothing committed). */
  private async transact(
    info: ContainerInfo,
    reasons: Reason[],
    started: boolean,
    front: FrontStages,
  ): Promise<number | undefined> {
    const txId = randomBytes(4).toString('hex');
    const log = this.deps.log.child({ container: info.name, tx: txId });
    const state = this.stateOf(info);
    const eventMs = minEventMs(reasons);
    const t0 = performance.now();

    const invalid = (err: unknown): undefined => {
      // The start path already reported these labels; the inspect after it finds them as bad.
      const again = state.lastError === describeError(err);
      if (reasons.every((r) => r.confirm) && again) return;
      state.lastError = describeError(err);
      state.labelErrors = err instanceof LabelError ? err.issues : [];
      // Once per change: the start event and each re-check find the same labels, and say so only at debug.
      log[again ? 'debug' : 'error']({ err: state.lastError, labels: visibleLabels(info.labels), reasons: reasons.map((r) => r.why) }, 'labels invalid: nothing applied, last good state kept');
      this.emitTx({ container: info.name, id: info.id, txId, result: 'invalid', latencyMs: undefined, eventMs, reasons: reasons.map((r) => r.why) });
      return undefined;
    };

    // Host routes may not overlap what the host is connected to: read that first.
    let hostRoutes: HostRoutePolicy | undefined;
    if (this.opts.allowHostRoutes && info.labels[HOST_ROUTES_LABEL] !== undefined) {
      try {
        const [addrs] = await Promise.all([this.deps.netns.addrList({ path: this.opts.hostNetns }), this.networks.refresh()]);
        hostRoutes = hostRoutePolicy(addrs, this.networks.all(), this.opts.hostRoutesAllow);
      } catch (err) {
        state.lastError = `cannot read the subnets connected on the host, which ${HOST_ROUTES_LABEL} must not overlap: ${describeError(err)}`;
        log.error({ err: state.lastError, reasons: reasons.map((r) => r.why) }, 'transaction failed, nothing applied');
        this.emitTx({ container: info.name, id: info.id, txId, result: 'failed', latencyMs: undefined, eventMs, reasons: reasons.map((r) => r.why) });
        return undefined;
      }
    }
    let outcome: PlanOutcome;
    try {
      outcome = planContainer(info, this.snapshot(), {
        allowHostRoutes: this.opts.allowHostRoutes,
        limits: this.opts.limits ?? DEFAULT_LIMITS,
        ...(hostRoutes ? { hostRoutes } : {}),
      });
    } catch (err) {
      return invalid(err);
    }
    // The first container to claim a host-route prefix keeps it; no await from the check to the claim.
    const claim = outcome.plan.hostRoutes.map((r) => parseCidr(r.dst)).filter((c): c is Cidr => typeof c !== 'string');
    const conflicts = this.hostClaims.conflicts(info.id, claim);
    if (conflicts.length > 0) {
      this.hostClaims.wait(info.id);
      const value = info.labels[HOST_ROUTES_LABEL] ?? '';
      return invalid(new LabelError(info.name, conflicts.map((c) => ({ container: info.name, key: HOST_ROUTES_LABEL, value, reason: conflictReason(info.name, c) }))));
    }
    this.replanWaiting(this.hostClaims.set(info.id, info.name, claim));
    this.graph.set(info.id, outcome.deps);
    state.desired = outcome.desired;
    state.warnings = outcome.warnings;
    for (const w of outcome.warnings) log.warn({ label: w.key }, w.message);
    const plan = outcome.plan;
    const planMs = performance.now() - t0;

    // The one namespace handle of this transaction, checked: the container's own namespace, the one recorded for it.
    let ns: NsHandle;
    try {
      ns = openOwnNamespace(info, { hostInodes: this.hostNs, containers: this.inventory.values() }, this.host.open);
    } catch (err) {
      if (err instanceof NamespaceGoneError) {
        this.gone(info, err, reasons, log, txId, eventMs);
        return undefined;
      }
      if (!(err instanceof NamespaceRefusedError)) {
        this.failed(info, state, err, reasons, log, txId, eventMs);
        return undefined;
      }
      this.refuse(info, state, err, reasons, log, txId, eventMs);
      return undefined;
    }
    try {
      return await this.applyIn(ns, info, state, plan, reasons, started, front, { log, txId, eventMs, planMs });
    } finally {
      ns.close();
    }
  }

  /** A real failure: rolled back, reported as the container's error, retried with backoff and on Docker events. */
  private failed(info: ContainerInfo, state: ContainerState, err: unknown, reasons: Reason[], log: Logger, txId: string, eventMs: number | undefined): void {
    state.lastError = describeError(err);
    const retryInMs = this.retries.failed(info.id);
    log.error({ err: state.lastError, reasons: reasons.map((r) => r.why), retryInMs }, 'transaction failed, rolled back');
    this.emitTx({ container: info.name, id: info.id, txId, result: 'failed', latencyMs: undefined, eventMs, reasons: reasons.map((r) => r.why) });
  }

  /** The namespace vanished under the transaction: the container stopped, and its die event follows. Nothing to retry. */
  private gone(info: ContainerInfo, err: unknown, reasons: Reason[], log: Logger, txId: string, eventMs: number | undefined): void {
    this.knownNs.delete(info.id);
    this.retries.forget(info.id);
    log.info({ err: describeError(err), reasons: reasons.map((r) => r.why) }, 'namespace gone: the container stopped during the transaction');
    this.emitTx({ container: info.name, id: info.id, txId, result: 'gone', latencyMs: undefined, eventMs, reasons: reasons.map((r) => r.why) });
  }

  /** Not the container's own namespace: nothing written, and nothing of its plan kept as applied (its host routes go). */
  private refuse(info: ContainerInfo, state: ContainerState, err: NamespaceRefusedError, reasons: Reason[], log: Logger, txId: string, eventMs: number | undefined): void {
    const again = state.refusal?.message === err.message;
    const hadHostRoutes = (state.applied?.hostRoutes.length ?? 0) > 0;
    state.lastError = err.message;
    state.refusal = { reason: err.reason, message: err.message, ...(err.sharedWith !== undefined ? { sharedWith: err.sharedWith } : {}) };
    state.applied = undefined;
    this.knownNs.delete(info.id);
    this.replanWaiting(this.hostClaims.release(info.id));
    if (hadHostRoutes) this.requestHost(`${info.name} refused`);
    // The start path already reported it; the inspect after it finds the same.
    if (again && reasons.every((r) => r.confirm)) return;
    log.error({ err: err.message, reason: err.reason, sharedWith: err.sharedWith, reasons: reasons.map((r) => r.why) }, 'namespace refused: nothing written');
    this.emitTx({ container: info.name, id: info.id, txId, result: 'refused', latencyMs: undefined, eventMs, reasons: reasons.map((r) => r.why) });
  }

  /** The transaction proper, every step through `handle`. Returns when it committed (undefined: nothing committed). */
  private async applyIn(
    handle: NsHandle,
    info: ContainerInfo,
    state: ContainerState,
    plan: Plan,
    reasons: Reason[],
    started: boolean,
    front: FrontStages,
    tx: { log: Logger; txId: string; eventMs: number | undefined; planMs: number },
  ): Promise<number | undefined> {
    const { log, txId, eventMs, planMs } = tx;
    const ino = handle.ino;
    state.refusal = undefined;
    const fresh = started && this.knownNs.get(info.id) !== ino;
    // Docker's view agrees with what the start path applied: nothing to do, nothing to report.
    if (reasons.every((r) => r.confirm) && this.knownNs.get(info.id) === ino && state.applied && samePlan(state.applied, plan)) {
      log.debug('start confirmed by inspect');
      return undefined;
    }
    if (reasons.every((r) => r.confirm) && state.applied) {
      const differs = planDiffKeys(state.applied, plan);
      log.debug({ differs, before: differs.map((k) => state.applied![k]), after: differs.map((k) => plan[k]) }, "Docker's view gives a different plan");
    }
    let result: TxResult;
    try {
      result = await applyPlan(this.deps, { ...plan, ns: handle.target }, { fresh });
    } catch (err) {
      // The container stopped under the transaction (its process left the namespace): churn, not a failure.
      if (this.host.netnsInode(info.pid) !== ino) this.gone(info, err, reasons, log, txId, eventMs);
      else this.failed(info, state, err, reasons, log, txId, eventMs);
      return undefined;
    }
    this.retries.forget(info.id);
    this.knownNs.set(info.id, ino);
    const committedAt = wallMs();
    let latencyMs = eventMs !== undefined ? committedAt - eventMs : undefined;
    // Applied before the start event and still in place: the network was ready that much earlier.
    let beforeStartMs: number | undefined;
    const early = started && !reasons.some((r) => r.prestart || r.runtime) ? this.forgetEarly(info.id) : undefined;
    if (early && early.ino === ino && result.noop && eventMs !== undefined) {
      latencyMs = Math.max(0, early.committedAt - eventMs);
      beforeStartMs = eventMs - early.committedAt;
    }
    // Against what is applied now: a stopped container has none applied (its plan is kept for
    // the status), so its host routes must be put back when it starts again.
    const hostChanged = JSON.stringify(state.applied?.hostRoutes ?? []) !== JSON.stringify(plan.hostRoutes);
    state.plan = plan;
    state.applied = plan;
    state.lastError = undefined;
    state.labelErrors = [];
    state.lastApplyAt = new Date(committedAt).toISOString();
    if (latencyMs !== undefined) state.lastLatencyMs = latencyMs;
    const changed = {
      routes: result.routesReplaced.length + result.routesDeleted.length,
      sysctls: result.sysctlsSet.length,
      nft: result.nftCommands,
      ...(result.conntrackDeleted !== undefined ? { conntrack: result.conntrackDeleted } : {}),
    };
    if (result.conntrackError !== undefined) {
      log.error({ err: describeError(result.conntrackError) }, 'stale conntrack entries of a moved or removed forward destination could not be deleted: flows may keep going to the old address');
    }
    log.info(
      { reasons: reasons.map((r) => r.why), changed, latencyMs, ...(beforeStartMs !== undefined ? { beforeStartMs } : {}), stages: { ...front, planMs, ...result.stages }, fresh },
      // Not a transaction of its own: the check that the one before the start event still holds.
      beforeStartMs !== undefined ? 'start: already in place' : result.noop ? 'in sync, nothing sent' : 'applied',
    );
    log.debug({ replaced: result.routesReplaced, deleted: result.routesDeleted, sysctls: result.sysctlsSet }, 'details');
    this.emitTx({ container: info.name, id: info.id, txId, result: result.noop ? 'noop' : 'applied', latencyMs, eventMs, reasons: reasons.map((r) => r.why), stages: { ...front, planMs, ...result.stages } });
    if (hostChanged) this.requestHost(`${info.name} host routes`);
    return committedAt;
  }

  private stateOf(info: ContainerInfo): ContainerState {
    let s = this.states.get(info.id);
    if (!s) {
      s = { id: info.id, name: info.name, running: true, labels: visibleLabels(info.labels), labelErrors: [], warnings: [] };
      this.states.set(info.id, s);
      this.deps.log.info({ container: info.name, id: info.id.slice(0, 12), labels: visibleLabels(info.labels) }, `labelled container: ${info.name}`);
    }
    s.name = info.name;
    s.running = info.running;
    s.labels = visibleLabels(info.labels);
    s.dependencies = this.graph.get(info.id);
    return s;
  }

  /**
   * Host routes: the union of every running container's, in the host's namespace. A route
   * the kernel refuses makes the containers that want it failed (hostRoutesError) and is
   * retried with backoff and on Docker events.
   */
  private async hostJob(): Promise<void> {
    if (!this.opts.allowHostRoutes) return;
    const owners = [...this.states.values()].filter((s) => s.running && s.applied).map((s) => ({ id: s.id, routes: s.applied!.hostRoutes.filter((r) => this.hostClaims.holds(s.id, r.dst)) }));
    const r = await syncHostRoutes(this.deps.netns, { path: this.opts.hostNetns }, owners);
    const txId = randomBytes(4).toString('hex');
    const log = this.deps.log.child({ container: HOST_KEY, tx: txId });
    const errors = new Map<string, string[]>();
    for (const f of r.failures) {
      const text = `host route ${f.route ? routeText(f.route) : '(listing the host routes)'}: ${describeError(f.error)}`;
      for (const id of f.owners) errors.set(id, [...(errors.get(id) ?? []), text]);
    }
    for (const s of this.states.values()) {
      const e = errors.get(s.id);
      if (e) s.hostRoutesError = e.join('\n');
      else delete s.hostRoutesError;
    }
    const fields = { replaced: r.replaced, deleted: r.deleted, errors: r.failures.map((f) => describeError(f.error)) };
    if (r.failures.length > 0) {
      const retryInMs = this.retries.failed(HOST_KEY);
      log.error({ ...fields, retryInMs }, 'host routes failed');
    } else {
      this.retries.forget(HOST_KEY);
      if (r.replaced.length + r.deleted.length > 0) log.info(fields, 'host routes');
    }
    if (r.failures.length > 0 || r.replaced.length + r.deleted.length > 0) {
      this.emitTx({ container: HOST_KEY, id: HOST_KEY, txId, result: r.failures.length > 0 ? 'failed' : 'applied', latencyMs: undefined, eventMs: undefined, reasons: ['host routes'] });
    }
  }

  private emitTx(e: TxEvent): void {
    try {
      this.emit('transaction', e);
    } catch (err) {
      this.deps.log.error({ err }, 'transaction listener failed');
    }
  }
}

/** The container as stopped: no process, so no namespace recorded either. */
function stopped(c: ContainerInfo): ContainerInfo {
  return { ...c, running: false, pid: 0, netnsIno: undefined };
}

/** Families whose default route a container's labels replace (both when they do not parse: the cautious answer). */
function replacesDefault(c: ContainerInfo, limits: Limits): { v4: boolean; v6: boolean } {
  try {
    const routes = parseLabels(c.name, c.labels, limits).routes.filter((r) => r.cidr.prefixLen === 0);
    return { v4: routes.some((r) => r.cidr.family === 4), v6: routes.some((r) => r.cidr.family === 6) };
  } catch {
    return { v4: true, v6: true };
  }
}

function minReceived(reasons: Reason[]): number | undefined {
  const r = reasons.map((x) => x.receivedMs).filter((x): x is number => x !== undefined);
  return r.length ? Math.min(...r) : undefined;
}

function minEventMs(reasons: Reason[]): number | undefined {
  let m: number | undefined;
  for (const r of reasons) if (r.eventMs !== undefined && (m === undefined || r.eventMs < m)) m = r.eventMs;
  return m;
}

/** Top-level parts of two plans that differ (for the debug log). */
function planDiffKeys(a: Plan, b: Plan): (keyof Plan)[] {
  return (Object.keys(a) as (keyof Plan)[]).filter((k) => k !== 'ns' && JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

/** The same plan, whichever of the namespace's processes names it. */
function samePlan(a: Plan, b: Plan): boolean {
  return JSON.stringify({ ...a, ns: undefined }) === JSON.stringify({ ...b, ns: undefined });
}

export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export type { Plan };
