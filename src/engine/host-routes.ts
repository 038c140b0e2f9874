// Host routes (twine.host.routes): the union of every running container's, in
// the host's namespace. Each route the kernel refuses is reported against the
// containers whose labels want it, so their status says so. The job runs
// under its own queue key (HOST_KEY), after the first full re-sync: before
// it, a container not yet planned would look as if its host routes had to go.

import { describeError } from '../errors.js';
import { parseCidr, sameCidr, type Cidr } from '../net/cidr.js';
import type { Logger } from '../log.js';
import type { NetnsBackend, NsTarget, Route } from '../netns/types.js';
import { TWINE_RT_PROTO } from '../netns/types.js';
import { routeText } from '../plan/explain.js';
import type { ContainerInfo } from '../docker/container.js';
import { HOST_ROUTES_LABEL } from '../labels/host-routes.js';
import { HostClaims } from './host-claims.js';
import type { RetrySchedule } from './retry.js';
import { applyRoutesBestEffort } from './route-apply.js';
import { diffRoutes, routeKey } from './route-diff.js';
import type { ContainerState, TxEvent } from './state.js';
import { nextTxId } from './tx-id.js';

/** The queue key of the host-routes job (no container id looks like it). */
export const HOST_KEY = '@host';

/** A container's host routes as last committed (its own transaction applied the rest of its plan). */
export interface HostRouteOwner {
  id: string;
  routes: Route[];
}

export interface HostRoutesResult {
  replaced: Route[];
  deleted: Route[];
  /** Every failure: the route (undefined: the host's routes could not be read), the error, and the containers that want it. */
  failures: { route?: Route; error: unknown; owners: string[] }[];
}

/** Makes the host's routes of Twine's protocol the union of the owners'. Never throws. */
export async function syncHostRoutes(netns: NetnsBackend, ns: NsTarget, owners: HostRouteOwner[]): Promise<HostRoutesResult> {
  const want = owners.flatMap((o) => o.routes);
  const ownersOf = (r: Route): string[] => owners.filter((o) => o.routes.some((x) => routeKey(x) === routeKey(r))).map((o) => o.id);
  let have: Route[];
  try {
    have = await netns.routeList(ns, { protocol: TWINE_RT_PROTO });
  } catch (error) {
    return { replaced: [], deleted: [], failures: [{ error, owners: owners.filter((o) => o.routes.length > 0).map((o) => o.id) }] };
  }
  // Only a route of Twine's own is ever replaced; any other is added exclusively, so a route of the
  // host with the same key is never overwritten (nor, later, deleted as if it were Twine's).
  const done = await applyRoutesBestEffort(netns, ns, diffRoutes(have, want), new Set(have.map(routeKey)));
  // A route that could not be deleted is no container's: none wants it.
  const failures = done.failures.map((f) => ({ route: f.route, error: f.error, owners: f.op === 'del' ? [] : ownersOf(f.route) }));
  return { replaced: done.replaced, deleted: done.deleted, failures };
}

export interface HostRoutesDeps {
  netns: NetnsBackend;
  log: Logger;
  /** --allow-host-routes: without it the job does nothing. */
  allow: boolean;
  hostNetns: string;
  retries: RetrySchedule;
  /** Queues the job (HOST_KEY). */
  queue(why: string): void;
  /** Every container's status (running, applied plan); the job sets hostRoutesError on them. */
  states(): Iterable<ContainerState>;
  emitTx(e: TxEvent): void;
}

export class HostRoutes {
  /** Which container holds which host-route prefix. */
  readonly claims = new HostClaims();
  /** True once the first full re-sync finished. */
  private live = false;
  /** A change arrived before that. */
  private deferred = false;

  constructor(private readonly deps: HostRoutesDeps) {}

  /** Re-plan the host routes; before the first full re-sync, only once it is done. */
  request(why: string): void {
    if (this.live) this.deps.queue(why);
    else this.deferred = true;
  }

  /** The first full re-sync finished: changes that came during it are applied now. */
  goLive(): void {
    this.live = true;
    if (this.deferred) {
      this.deferred = false;
      this.deps.queue('changed during start-up');
    }
  }

  /**
   * After a restart: the containers whose host routes are in the host's namespace
   * held them first and keep them, whatever order their transactions run in.
   */
  async seed(containers: Iterable<ContainerInfo>): Promise<void> {
    let routes;
    try {
      routes = await this.deps.netns.routeList({ path: this.deps.hostNetns }, { protocol: TWINE_RT_PROTO });
    } catch (err) {
      this.deps.log.warn({ err: describeError(err) }, "reading the host's routes failed: host-route prefixes go to the first container planned");
      return;
    }
    const byIp = new Map<string, ContainerInfo>();
    for (const c of containers) {
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
      if (this.claims.conflicts(c.id, [cidr]).length > 0) continue;
      const list = [...(held.get(c.id) ?? []), cidr];
      held.set(c.id, list);
      this.claims.set(c.id, c.name, list);
    }
  }

  /**
   * The job: the union of every running container's host routes, in the host's
   * namespace. A route the kernel refuses makes the containers that want it
   * failed (hostRoutesError) and is retried with backoff and on Docker events.
   */
  async run(): Promise<void> {
    if (!this.deps.allow) return;
    const states = [...this.deps.states()];
    const owners = states.filter((s) => s.running && s.applied).map((s) => ({ id: s.id, routes: s.applied!.hostRoutes.filter((r) => this.claims.holds(s.id, r.dst)) }));
    const r = await syncHostRoutes(this.deps.netns, { path: this.deps.hostNetns }, owners);
    const txId = nextTxId();
    const log = this.deps.log.child({ container: HOST_KEY, tx: txId });
    const errors = new Map<string, string[]>();
    for (const f of r.failures) {
      const text = `host route ${f.route ? routeText(f.route) : '(listing the host routes)'}: ${describeError(f.error)}`;
      for (const id of f.owners) errors.set(id, [...(errors.get(id) ?? []), text]);
    }
    for (const s of this.deps.states()) {
      const e = errors.get(s.id);
      if (e) s.hostRoutesError = e.join('\n');
      else delete s.hostRoutesError;
    }
    const fields = { replaced: r.replaced, deleted: r.deleted, errors: r.failures.map((f) => describeError(f.error)) };
    if (r.failures.length > 0) {
      const retryInMs = this.deps.retries.failed(HOST_KEY);
      log.error({ ...fields, retryInMs }, 'host routes failed');
    } else {
      this.deps.retries.forget(HOST_KEY);
      if (r.replaced.length + r.deleted.length > 0) log.info(fields, 'host routes');
    }
    if (r.failures.length > 0 || r.replaced.length + r.deleted.length > 0) {
      this.deps.emitTx({ container: HOST_KEY, id: HOST_KEY, txId, result: r.failures.length > 0 ? 'failed' : 'applied', latencyMs: undefined, eventMs: undefined, reasons: ['host routes'] });
    }
  }
}
