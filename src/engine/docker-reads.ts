// The engine's reads of Docker: the listing of running containers (a full
// re-sync) and one container's inspect, with each container's interfaces read
// from its namespace. An inspect can also run outside the transaction queue and
// queue what it read as a confirmation: Docker answers late while it starts
// containers (with `docker run` only once the start is over), and a job waiting
// for it would hold a slot that a transaction needs.

import { isNotFound } from '../docker/client.js';
import type { ContainerInfo } from '../docker/container.js';
import { InspectCache } from '../docker/inspect-cache.js';
import { hasTwineLabels, inspectContainer, listRunningContainers, procInterfaces, type LinkLister } from '../docker/inventory.js';
import { describeError } from '../errors.js';
import type { ContainerStore } from './container-store.js';
import type { EngineDeps } from './deps.js';
import type { HostView } from './host-view.js';
import type { Reason } from './reason.js';

export interface DockerReadsDeps {
  deps: Pick<EngineDeps, 'docker' | 'netns' | 'log' | 'inspectCache'>;
  host: Pick<HostView, 'addrs' | 'netnsInode' | 'pidInodes'>;
  store: Pick<ContainerStore, 'mark' | 'specs'>;
  request(id: string, reason: Reason): void;
}

/** Containers whose labels are parsed per turn of the event loop while the listing is awaited. */
const PARSE_AHEAD_CHUNK = 50;

export class DockerReads {
  private readonly listLinks: LinkLister;
  private inFlight = 0;
  /** Earlier inspects, which a full listing reuses while the list shows the container unchanged. */
  readonly cache: InspectCache;

  constructor(private readonly d: DockerReadsDeps) {
    this.cache = d.deps.inspectCache ?? new InspectCache();
    // /proc/<pid>/net (read here, no worker round trip), else a link dump through the backend.
    this.listLinks = async (pid) => procInterfaces(d.host.addrs(pid)) ?? d.deps.netns.linkList({ pid });
  }

  /** Confirming inspects under way (their confirmation is not queued yet). */
  get pending(): number {
    return this.inFlight;
  }

  /** Every running container; `counts` gets how many came from the cache and how many were inspected. */
  listRunning(counts?: { reused: number; inspected: number }): Promise<ContainerInfo[]> {
    const host = this.d.host;
    const listing = listRunningContainers(this.d.deps.docker, this.listLinks, undefined, (pid) => host.netnsInode(pid), {
      cache: this.cache,
      host: { pidInodes: (claims) => host.pidInodes(claims) },
      ...(counts ? { counts } : {}),
    });
    // While Docker builds the list: parse the labels of the cached containers, a few at a
    // time so the request and its answer are not held up. A reused entry keeps its labels
    // record, on which the parsed labels are keyed, so its plan finds them parsed.
    void this.cache.ready.then(() => this.parseAhead([...this.cache.values()], listing));
    return listing;
  }

  private parseAhead(cached: ContainerInfo[], listing: Promise<unknown>): void {
    let done = false;
    listing.then(
      () => (done = true),
      () => (done = true),
    );
    const step = (from: number): void => {
      if (done) return;
      for (const c of cached.slice(from, from + PARSE_AHEAD_CHUNK)) {
        if (!hasTwineLabels(c.labels)) continue;
        try {
          this.d.store.specs.specOf(c);
        } catch {
          // Invalid labels: kept parsed as such; the container's transaction reports them.
        }
      }
      if (from + PARSE_AHEAD_CHUNK < cached.length) setImmediate(() => step(from + PARSE_AHEAD_CHUNK));
    };
    setImmediate(() => step(0));
  }

  /** The container as Docker shows it; undefined when it is gone. */
  async inspect(id: string): Promise<ContainerInfo | undefined> {
    try {
      const info = await inspectContainer(this.d.deps.docker, id, this.listLinks, (pid) => this.d.host.netnsInode(pid));
      this.cache.remember(info);
      return info;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      this.cache.forget(id);
      return undefined;
    }
  }

  /** Inspects outside the transaction queue, then queues a confirmation (`why`, the event's times) with what was read. */
  inspectThenConfirm(id: string, base: Pick<Reason, 'why' | 'eventMs' | 'receivedMs'>): void {
    const mark = this.d.store.mark;
    this.inFlight++;
    this.inspect(id)
      .then(
        (info) => this.d.request(id, { ...base, kind: 'confirm', read: { info, mark } }),
        (err: unknown) => this.d.deps.log.warn({ id: id.slice(0, 12), err: describeError(err), why: base.why }, 'inspect failed; the next re-sync reads it'),
      )
      .finally(() => this.inFlight--);
  }
}
