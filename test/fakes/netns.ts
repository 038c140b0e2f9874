// A NetnsBackend over in-memory namespaces (./namespaces.ts): routes, policy
// rules and sysctls, replaced and deleted as the kernel would, every call
// recorded with the namespace it went to; nftTableRead reads the twine table
// FakeNft keeps there.

import { createHash } from 'node:crypto';
import { NetlinkError } from '../../src/errors.js';
import type { Addr, BatchOutcome, Link, NetnsBackend, NftTableState, NsStep, NsTarget, Route, RouteFilter, Rule } from '../../src/netns/types.js';
import { TABLE_FAMILY, TABLE_NAME } from '../../src/firewall/nft.js';
import { stateHashes, stateSignature } from '../../src/firewall/live.js';
import type { Namespaces } from './namespaces.js';

const sameRoute = (a: Route, b: Route): boolean => a.family === b.family && a.dst === b.dst && (a.table ?? 254) === (b.table ?? 254) && (a.metric ?? 0) === (b.metric ?? 0);
const sameRule = (a: Rule, b: Rule): boolean => a.family === b.family && a.priority === b.priority && a.table === b.table && a.fwmark === b.fwmark;

function filterRoutes(routes: Route[], f: RouteFilter | undefined): Route[] {
  return routes.filter(
    (r) =>
      (f?.family === undefined || r.family === f.family) &&
      (f?.protocol === undefined || r.protocol === f.protocol) &&
      (f?.table === undefined || f.table === 0 || (r.table ?? 254) === f.table),
  );
}

export class FakeNetns implements NetnsBackend {
  /** Interfaces per namespace key, for linkList and addrList (the start path's fallback reads). */
  readonly addrs = new Map<string, Addr[]>();

  constructor(private readonly spaces: Namespaces) {}

  async routeList(ns: NsTarget, filter?: RouteFilter): Promise<Route[]> {
    return filterRoutes(this.spaces.enter('routeList', ns).routes, filter);
  }
  async routeAdd(ns: NsTarget, route: Route): Promise<void> {
    const n = this.spaces.enter('routeAdd', ns, route);
    if (n.routes.some((r) => sameRoute(r, route))) throw new NetlinkError('route exists', 'EEXIST', 17, 'routeAdd', 'fake');
    n.routes.push(route);
  }
  async routeReplace(ns: NsTarget, route: Route): Promise<void> {
    const n = this.spaces.enter('routeReplace', ns, route);
    n.routes = [...n.routes.filter((r) => !sameRoute(r, route)), route];
  }
  async routeDel(ns: NsTarget, route: Route): Promise<void> {
    const n = this.spaces.enter('routeDel', ns, route);
    if (!n.routes.some((r) => sameRoute(r, route))) throw new NetlinkError('no such route', 'ESRCH', 3, 'routeDel', 'fake');
    n.routes = n.routes.filter((r) => !sameRoute(r, route));
  }
  async linkList(ns: NsTarget): Promise<Link[]> {
    this.spaces.enter('linkList', ns);
    const seen = new Map<number, Link>();
    for (const a of this.addrs.get(this.spaces.key(ns)) ?? []) seen.set(a.ifindex, { index: a.ifindex, name: a.ifname, up: true, mtu: 1500 });
    return [...seen.values()];
  }
  async addrList(ns: NsTarget): Promise<Addr[]> {
    this.spaces.enter('addrList', ns);
    return this.addrs.get(this.spaces.key(ns)) ?? [];
  }
  async sysctlGet(ns: NsTarget, key: string): Promise<string> {
    return this.spaces.enter('sysctlGet', ns, key).sysctls.get(key) ?? '0';
  }
  async sysctlSet(ns: NsTarget, key: string, value: string): Promise<void> {
    this.spaces.enter('sysctlSet', ns, { key, value }).sysctls.set(key, value);
  }
  /** While set, batches wait for it (a slow round trip into the namespace); `held` counts those waiting. */
  hold: Promise<void> | undefined;
  held = 0;

  async batch(ns: NsTarget, steps: NsStep[]): Promise<BatchOutcome> {
    if (this.hold) {
      this.held++;
      await this.hold;
      this.held--;
    }
    const n = this.spaces.enter('batch', ns, steps);
    const results: unknown[] = [];
    const oversized = this.spaces.oversized.has(this.spaces.key(ns));
    for (const [i, s] of steps.entries()) {
      try {
        if (oversized && /List$|Read$/.test(s.op)) throw new NetlinkError(`batch in ${this.spaces.key(ns)}: the namespace holds more than one read may take`, 'ELIMIT', 0, 'batch', 'fake');
        results.push(this.step(n, s));
      } catch (error) {
        return { results, failedAt: i, error };
      }
    }
    return { results };
  }

  private step(n: ReturnType<Namespaces['get']>, s: NsStep): unknown {
    switch (s.op) {
      case 'sysctlGet':
        return n.sysctls.get(s.key) ?? '0';
      case 'sysctlSet':
        n.sysctls.set(s.key, s.value);
        return undefined;
      case 'routeReplace':
        n.routes = [...n.routes.filter((r) => !sameRoute(r, s.route)), s.route];
        return undefined;
      case 'routeDel':
        if (!n.routes.some((r) => sameRoute(r, s.route))) throw new NetlinkError('no such route', 'ESRCH', 3, 'routeDel', 'fake');
        n.routes = n.routes.filter((r) => !sameRoute(r, s.route));
        return undefined;
      case 'routeList':
        return filterRoutes(n.routes, s.filter);
      case 'ruleAdd':
        if (!n.rules.some((r) => sameRule(r, s.rule))) n.rules.push(s.rule);
        return undefined;
      case 'ruleDel':
        n.rules = n.rules.filter((r) => !sameRule(r, s.rule));
        return undefined;
      case 'ruleList':
        return n.rules.filter((r) => (s.filter?.family === undefined || r.family === s.filter.family) && (s.filter?.protocol === undefined || r.protocol === s.filter.protocol));
      case 'conntrackDelete':
        return 0;
      case 'nftTableRead':
      {
        const state = s.table.family === TABLE_FAMILY && s.table.name === TABLE_NAME ? tableState(n.table) : null;
        // As the native read: the expected table answers true, or its hashes when none were expected.
        if (state === null || s.expect === undefined || stateSignature(state) !== s.expect) return state;
        const hashes = stateHashes(state);
        if (s.expectHashes === undefined) return hashes;
        return hashes === s.expectHashes ? true : state;
      }
    }
  }
}

/** The twine table of a fake namespace as the native nftTableRead gives it. */
function tableState(table: Record<string, unknown>[] | null): NftTableState | null {
  if (table === null) return null;
  const out: NftTableState = { chains: [], rules: [], counters: [] };
  for (const o of table) {
    const c = o.chain as { name: string; type?: string; hook?: string; prio?: number; policy?: string } | undefined;
    if (c) out.chains.push({ name: c.name, ...(c.hook !== undefined ? { type: c.type!, hook: c.hook, prio: c.prio!, ...(c.policy !== undefined ? { policy: c.policy } : {}) } : {}) });
    const r = o.rule as { chain: string; handle: number; comment?: string; expr?: unknown } | undefined;
    // The kernel's encoding of the statements, hashed: here their JSON.
    const hash = r ? createHash('sha256').update(JSON.stringify(r.expr ?? null)).digest('hex').slice(0, 16) : '';
    if (r) out.rules.push({ chain: r.chain, handle: r.handle, ...(r.comment !== undefined ? { comment: r.comment } : {}), hash });
    const k = o.counter as { name: string; packets?: number; bytes?: number } | undefined;
    if (k) out.counters.push({ name: k.name, packets: k.packets ?? 0, bytes: k.bytes ?? 0 });
  }
  return out;
}
