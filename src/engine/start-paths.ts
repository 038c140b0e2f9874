// The ways a starting container is read before Docker's start event, or at
// it without `docker inspect`, earliest first (ARCHITECTURE.md, "The start path"):
//   - the runtime hook: runc waits for Twine's answer before the process runs;
//   - the early path: Docker finished the namespace (./prestart.ts), the
//     process has not run yet;
//   - the start event without `docker inspect`: the container read from its
//     cgroup and namespace, the rest from its last inspect.
// Each returns what it read; the engine places it in the inventory and runs
// the transaction, as for the ordinary start event with an inspect.

import { createdInfo, hasTwineLabels, listedContainer } from '../docker/inventory.js';
import type { NetworkIndex } from '../docker/networks.js';
import { startedInfo, type StartFacts, type StartInfo } from '../docker/start-info.js';
import { dnsServersFromResolvConf } from '../docker/resolv-conf.js';
import { DNS_LABEL } from '../resolve/leaks.js';
import { describeError } from '../errors.js';
import type { SpecCache } from '../labels/spec-cache.js';
import type { ContainerInfo } from '../docker/container.js';
import { stopped, type ContainerStore } from './container-store.js';
import type { EngineDeps } from './deps.js';
import { namesOf, type DependencyGraph } from './graph.js';
import type { HostView } from './host-view.js';
import { PrestartWatch } from './prestart.js';
import { startName, type HookOutcome, type Reason, type ReasonOf } from './reason.js';

export interface StartPathDeps {
  deps: Pick<EngineDeps, 'docker' | 'netns' | 'log'>;
  host: HostView;
  store: ContainerStore;
  networks: NetworkIndex;
  hostNs: ReadonlySet<number>;
  graph: DependencyGraph;
  /** Docker finished the namespace of a container it is starting: the early path's cue. */
  onReady(id: string, info: ContainerInfo, ino: number): void;
}

/** A running container as a start path read it, and how long the read of its cgroup and namespace took. */
export interface StartRead {
  info: ContainerInfo;
  startInfoMs: number;
}

/** What the runtime hook's request learnt: the container to apply before it may start, or the answer already. */
export type RuntimeRead = { info: ContainerInfo; ino: number } | { answer: HookOutcome };

export class StartPaths {
  private readonly prestart: PrestartWatch;

  constructor(private readonly d: StartPathDeps) {
    this.prestart = new PrestartWatch({
      hostNs: d.hostNs,
      template: (id, networks) => {
        const known = d.store.get(id);
        if (known) return known;
        const attrs = d.store.createdAttributes(id);
        return attrs && createdInfo(id, attrs, [...networks].map((name) => ({ name, id: d.networks.get(name)?.id ?? '' })));
      },
      wanted: (c) => hasTwineLabels(c.labels) || d.graph.dependentsOf({ id: c.id, names: namesOf(c) }).size > 0,
      inspected: (id) => d.store.get(id) !== undefined,
      listedNetworks: async (id) => (await listedContainer(d.deps.docker, id))?.networks.map((n) => n.networkName),
      network: (n) => d.networks.get(n),
      replacesDefault: (c) => replacesDefault(c, d.store.specs),
      onReady: d.onReady,
      log: d.deps.log,
      host: d.host,
    });
  }

  /** Docker connected a network of a container that is not running: the first sign of a start. */
  watch(id: string, network: string): void {
    this.prestart.watch(id, network);
  }

  /** Starts being watched until their namespace is ready. */
  get watching(): number {
    return this.prestart.size;
  }

  cancel(id: string): void {
    this.prestart.cancel(id);
  }

  close(): void {
    this.prestart.close();
  }

  /**
   * The start path without `docker inspect` (../docker/start-info.ts): the container's
   * process from its cgroup, its interfaces and addresses from its namespace, the rest
   * from the last inspect. False (nothing done) when that picture is incomplete.
   */
  async withoutInspect(id: string, reasons: Reason[]): Promise<StartRead | undefined> {
    const template = this.d.store.get(id);
    if (!template) return undefined;
    const t = performance.now();
    const found = this.d.host.containerNsPid(id, this.d.hostNs);
    const skip = (why: string): undefined => {
      this.d.deps.log.debug({ container: template.name, why }, 'start: inspecting');
      return undefined;
    };
    if (!found) return skip('no process in a namespace of its own in its cgroup');
    let addrs;
    try {
      await this.d.networks.refresh();
      addrs = this.d.host.addrs(found.pid) ?? (await this.d.deps.netns.addrList({ pid: found.pid }));
    } catch (err) {
      return skip(describeError(err));
    }
    const name = startName(reasons) ?? template.name;
    const r = startedInfo(template, { name, pid: found.pid, addrs, gateways: () => this.d.host.defaultGateways(found.pid) }, (n) => this.d.networks.get(n));
    if ('fallback' in r) return skip(r.fallback);
    return { info: this.withDns({ ...r.info, netnsIno: found.ino }), startInfoMs: performance.now() - t };
  }

  /**
   * Docker finished the namespace of a container it is starting: it may be
   * applied now, before its process runs. Undefined when not applicable any
   * more: its process in that namespace is gone, or it started meanwhile.
   */
  beforeStart(id: string, pre: ReasonOf<'prestart'>): ContainerInfo | undefined {
    // Not inspected yet: what its create event said (pre.info was built from it).
    const template = this.d.store.get(id) ?? stopped(pre.info);
    if (template.running) return undefined;
    const found = this.d.host.containerNsPid(id, this.d.hostNs);
    if (!found || found.ino !== pre.ino) return undefined;
    return this.withDns({ ...pre.info, pid: found.pid, netnsIno: found.ino });
  }

  /**
   * A twine.dns container not inspected yet (its start under way) has its DNS
   * servers from the resolv.conf Docker wrote for it: whether it may start
   * (../resolve/leaks.ts) must not wait for the inspect. Others wait for it
   * (their dns-leak warning comes with it): the read is kept off their path.
   */
  private withDns(info: ContainerInfo): ContainerInfo {
    if (info.dnsServers !== undefined || info.pid <= 0 || info.labels[DNS_LABEL] === undefined) return info;
    const text = this.d.host.resolvConf?.(info.pid);
    const dnsServers = text === undefined ? undefined : dnsServersFromResolvConf(text);
    return dnsServers === undefined ? info : { ...info, dnsServers };
  }

  /**
   * The runtime's request: runc is starting container `id`, whose process `pid`
   * waits in its namespace, set up by Docker, until Twine answers. The container
   * is read from what Twine knows of it, else from Docker's container list (which
   * does not wait for the start, unlike inspect), and from the namespace.
   */
  async runtimeRead(id: string, pid: number): Promise<RuntimeRead> {
    const answer = (a: HookOutcome): RuntimeRead => ({ answer: a });
    const { host, networks } = this.d;
    if (!host.processInContainer(pid, id)) return answer({ ok: false, error: `process ${pid} is not one of container ${id.slice(0, 12)}'s` });
    // A container's labels never change: what Twine knows of it answers an unlabelled one at once.
    const attrs = this.d.store.createdAttributes(id);
    const known = this.d.store.get(id) ?? (attrs && createdInfo(id, attrs, []));
    if (known && !hasTwineLabels(known.labels)) return answer({ ok: true, applied: false, name: known.name });
    const ino = host.netnsInode(pid);
    if (ino === undefined) return answer({ ok: false, error: `process ${pid} is gone` });
    const addrs = host.addrs(pid) ?? (await this.d.deps.netns.addrList({ pid }));
    const facts = (name: string): StartFacts => ({ name, pid, addrs, gateways: () => host.defaultGateways(pid) });
    await networks.refresh();
    // Its networks as last inspected, when they still explain its interfaces; else as Docker lists them now.
    let r: StartInfo | undefined = known && known.networks.length > 0 ? startedInfo(known, facts(known.name), (n) => networks.get(n)) : undefined;
    if (!r || 'fallback' in r) {
      // The container as Docker's list shows it (labels, networks).
      const listed = await listedContainer(this.d.deps.docker, id);
      if (!listed) return answer({ ok: false, error: `container ${id.slice(0, 12)} is not in Docker's container list` });
      if (!hasTwineLabels(listed.labels)) return answer({ ok: true, applied: false, name: listed.name });
      if (this.d.hostNs.has(ino)) return answer({ ok: false, error: "it runs in the host's network namespace, which Twine does not change", name: listed.name });
      r = startedInfo(listed, facts(listed.name), (n) => networks.get(n));
      if ('fallback' in r && listed.networks.some((n) => networks.get(n.networkName) === undefined)) {
        await networks.refresh(true);
        r = startedInfo(listed, facts(listed.name), (n) => networks.get(n));
      }
      if ('fallback' in r) return answer({ ok: false, error: `cannot match its interfaces to its networks: ${r.fallback}`, name: listed.name });
    }
    return { info: this.withDns({ ...r.info, netnsIno: ino }), ino };
  }
}

/** Families whose default route a container's labels replace (both when they do not parse: the cautious answer). */
function replacesDefault(c: ContainerInfo, specs: SpecCache): { v4: boolean; v6: boolean } {
  try {
    const spec = specs.specOf(c);
    const routes = spec.routes.filter((r) => r.cidr.prefixLen === 0);
    return { v4: routes.some((r) => r.cidr.family === 4), v6: spec.ipv6 === 'block' || routes.some((r) => r.cidr.family === 6) };
  } catch {
    return { v4: true, v6: true };
  }
}
