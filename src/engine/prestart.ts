// Watches containers that Docker is starting, so that Twine can apply before
// the container's process runs (../docker/sandbox.ts says when that is
// allowed). Docker's network connect event is the first sign of a start;
// from there the container's cgroup is read every millisecond until a process
// in a namespace of its own shows up (~50 ms), then that namespace's link,
// address and route notifications drive a check of /proc/<pid>/net until
// the sandbox is ready (~250 ms more). Whatever is not ready by the start
// event is left to the start event's own transaction.
//
// Docker 20.10 connects every network before the process exists; Docker 28
// connects them one by one, the process already there. So the networks seen
// connected are not all of a container Twine has not inspected yet (`docker
// run`: the inspect waits for the start): its networks come from Docker's
// list, which does not wait, else the first network alone would look ready.

import type { Logger } from '../log.js';
import type { NetworkEntry } from '../docker/networks.js';
import type { ContainerInfo } from '../docker/container.js';
import { sandboxReadiness } from '../docker/sandbox.js';
import type { NsNotifier } from '../netns/notify.js';
import { hostView, type HostView } from './host-view.js';

export interface PrestartDeps {
  /** Namespaces a container's own process is not in (the host's, Twine's). */
  hostNs: ReadonlySet<number>;
  /** The container as last inspected, else as its create event described it on `networks`; undefined when neither is known. */
  template(id: string, networks: ReadonlySet<string>): ContainerInfo | undefined;
  /** False when Twine has nothing to do for it (no labels, nothing depends on it). */
  wanted(c: ContainerInfo): boolean;
  network(name: string): NetworkEntry | undefined;
  /** Families whose default route the container's labels replace. */
  replacesDefault(c: ContainerInfo): { v4: boolean; v6: boolean };
  /** Twine has inspected the container: the template has all its networks. */
  inspected?(id: string): boolean;
  /** The networks Docker's list gives a container (undefined: not listed). */
  listedNetworks?(id: string): Promise<string[] | undefined>;
  /** Ready: called once, with the container as it will run. */
  onReady(id: string, info: ContainerInfo, ino: number): void;
  log: Logger;
  /** Cgroups, /proc and the namespace subscription (default: this host's). */
  host?: Pick<HostView, 'containerNsPid' | 'addrs' | 'defaultGateways' | 'notify'>;
}

interface Pending {
  id: string;
  /** Networks named by this start's connect events: Docker sends them all before the process exists. */
  networks: Set<string>;
  deadline: number;
  ino?: number;
  notifier?: NsNotifier;
  subscribing?: boolean;
  /** Pids that were gone before their namespace could be subscribed to. */
  gone: Set<number>;
  /** Not inspected: its networks as Docker lists them, `asking` until the list answers, null when it did not say. */
  listed?: string[] | null | 'asking';
}

const POLL_MS = 1;
/** Longest Docker is given from connect to a ready sandbox (a busy host takes a second or so). */
const GIVE_UP_MS = 10_000;

export class PrestartWatch {
  private readonly pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | undefined;
  private timerMs = 0;

  private readonly host: NonNullable<PrestartDeps['host']>;

  constructor(private readonly deps: PrestartDeps) {
    this.host = deps.host ?? hostView;
  }

  /** Containers being watched, for tests and status. */
  get size(): number {
    return this.pending.size;
  }

  /** Docker connected `network` to container `id`, which is not running: it is being started. */
  watch(id: string, network: string): void {
    const known = this.pending.get(id);
    if (known) {
      known.networks.add(network);
      return;
    }
    // Neither inspected nor seen being created (it predates this Twine): only the start event can tell.
    const t = this.deps.template(id, new Set([network]));
    if (!t || !this.deps.wanted(t)) return;
    const p: Pending = { id, networks: new Set([network]), deadline: Date.now() + GIVE_UP_MS, gone: new Set() };
    this.pending.set(id, p);
    if (this.deps.listedNetworks && this.deps.inspected?.(id) === false) this.list(p, this.deps.listedNetworks);
    this.schedule();
  }

  private list(p: Pending, listedNetworks: (id: string) => Promise<string[] | undefined>): void {
    p.listed = 'asking';
    const done = (networks: string[] | null): void => {
      p.listed = networks;
      this.check(p);
    };
    listedNetworks(p.id).then(
      (n) => done(n ?? null),
      () => done(null),
    );
  }

  /** The start event (or die/destroy) arrived: stop watching. */
  cancel(id: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.notifier?.close();
  }

  close(): void {
    for (const id of [...this.pending.keys()]) this.cancel(id);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Polls every millisecond while a process is awaited, else only checks the deadlines. */
  private schedule(): void {
    if (this.pending.size === 0) return;
    const waiting = [...this.pending.values()].some((p) => p.ino === undefined && !p.subscribing);
    const ms = waiting ? POLL_MS : 500;
    if (this.timer && this.timerMs <= ms) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerMs = ms;
    this.timer = setTimeout(() => this.tick(), ms);
    this.timer.unref();
  }

  /** Looks for the process of every container whose namespace is not subscribed yet; drops expired ones. */
  private tick(): void {
    this.timer = undefined;
    const now = Date.now();
    for (const p of [...this.pending.values()]) {
      if (now > p.deadline) {
        this.deps.log.debug({ container: this.nameOf(p.id) }, 'before start: gave up waiting for Docker\'s network set-up');
        this.cancel(p.id);
        continue;
      }
      if (p.ino !== undefined || p.subscribing) continue;
      const found = this.host.containerNsPid(p.id, this.deps.hostNs, p.gone);
      if (found) void this.subscribe(p, found.pid, found.ino);
    }
    this.schedule();
  }

  private async subscribe(p: Pending, pid: number, ino: number): Promise<void> {
    p.subscribing = true;
    try {
      const notifier = await this.host.notify({ pid }, ['link', 'ipv4-addr', 'ipv4-route', 'ipv6-addr', 'ipv6-route'], () => this.check(p));
      if (this.pending.get(p.id) !== p) {
        notifier.close();
        return;
      }
      p.notifier = notifier;
      p.ino = ino;
    } catch {
      p.gone.add(pid); // runc's set-up process exited first: the next one holds the namespace
      return;
    } finally {
      p.subscribing = false;
      this.schedule();
    }
    this.check(p);
  }

  /** Reads the namespace (through any of the container's processes in it) and applies once it is ready. */
  private check(p: Pending): void {
    if (this.pending.get(p.id) !== p || p.ino === undefined || p.listed === 'asking') return;
    const template = this.deps.template(p.id, p.listed ? new Set(p.listed) : p.networks);
    if (!template) return;
    if (!this.deps.wanted(template)) return this.cancel(p.id);
    const found = this.host.containerNsPid(p.id, this.deps.hostNs, p.gone);
    if (!found || found.ino !== p.ino) return;
    const addrs = this.host.addrs(found.pid);
    const gateways = this.host.defaultGateways(found.pid);
    if (!addrs || !gateways) return;
    // Connected to a network while stopped (Docker sends no event for that): the template is stale.
    const r = sameSet(p.networks, template.networks.map((n) => n.networkName))
      ? sandboxReadiness(template, { name: template.name, pid: found.pid, addrs, gateways, replacesDefault: this.deps.replacesDefault(template) }, (n) => this.deps.network(n))
      : { skip: `connected to ${[...p.networks].join(', ')} so far, not all of ${template.networks.map((n) => n.networkName).join(', ')}` };
    if ('wait' in r) return;
    this.cancel(p.id);
    if ('skip' in r) {
      this.deps.log.debug({ container: template.name, why: r.skip }, 'before start: left to the start event');
      return;
    }
    this.deps.onReady(p.id, r.ready, p.ino);
  }

  private nameOf(id: string): string {
    return this.deps.template(id, new Set())?.name ?? id.slice(0, 12);
  }
}

function sameSet(a: ReadonlySet<string>, b: readonly string[]): boolean {
  return a.size === new Set(b).size && b.every((x) => a.has(x));
}
