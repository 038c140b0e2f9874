// Pure diff of Twine's routes: what is in the namespace with Twine's protocol
// against what the plan wants. Routes are matched on the kernel's own key
// (family, table, destination, metric); a matched route whose gateway, device
// or type changed is replaced in place, never deleted first, so there is no
// instant where the prefix falls back to the default route.

import { MAIN_TABLE, type Route, type Rule } from '../netns/types.js';

export interface RouteChanges {
  /** ip route replace, in order. */
  replace: Route[];
  /** ip route del. */
  del: Route[];
}

/** IP6_RT_PRIO_USER: the metric the kernel gives an IPv6 route added with none (or 0). */
export const IPV6_DEFAULT_METRIC = 1024;

/** The metric the kernel keys the route by: IPv4 keeps 0, IPv6 turns 0 into 1024. */
export function effectiveMetric(r: Route): number {
  const m = r.metric ?? 0;
  return r.family === 6 && m === 0 ? IPV6_DEFAULT_METRIC : m;
}

export function routeKey(r: Route): string {
  return `${r.family}|${r.table ?? MAIN_TABLE}|${r.dst}|${effectiveMetric(r)}`;
}

function sameRoute(a: Route, b: Route): boolean {
  return (
    a.type === b.type &&
    (a.gateway ?? '') === (b.gateway ?? '') &&
    (a.type !== 'unicast' || !a.dev || !b.dev || a.dev === b.dev) &&
    (a.protocol ?? 0) === (b.protocol ?? 0)
  );
}

function isDefault(r: Route): boolean {
  return r.dst === '0.0.0.0/0' || r.dst === '::/0';
}

/**
 * @param observed Twine's routes as found (protocol filtered).
 * @param desired  The plan's routes.
 * @param restore  Routes to put back instead of deleting a Twine route with the
 *                 same key (Docker's default route after a 0.0.0.0/0 label went away).
 */
export function diffRoutes(observed: Route[], desired: Route[], restore: Route[] = []): RouteChanges {
  const have = new Map(observed.map((r) => [routeKey(r), r]));
  const want = new Map(desired.map((r) => [routeKey(r), r]));
  const back = new Map(restore.filter(isDefault).map((r) => [routeKey(r), r]));
  const replace: Route[] = [];
  const del: Route[] = [];
  for (const [k, r] of want) {
    const cur = have.get(k);
    if (!cur || !sameRoute(cur, r)) replace.push(r);
  }
  for (const [k, r] of have) {
    if (want.has(k)) continue;
    const original = back.get(k);
    if (original) replace.push(original);
    else del.push(r);
  }
  return { replace, del };
}

export function isEmpty(c: RouteChanges): boolean {
  return c.replace.length === 0 && c.del.length === 0;
}

export function ruleKey(r: Rule): string {
  return `${r.family}|${r.priority}|${r.table}|${r.fwmark ?? '-'}/${r.fwmark === undefined ? '-' : (r.fwmask ?? 0xffffffff)}|${r.protocol ?? 0}`;
}

/** Twine's policy rules: add what is wanted and missing, delete what is there and not wanted. */
export function diffRules(observed: Rule[], desired: Rule[]): { add: Rule[]; del: Rule[] } {
  const have = new Set(observed.map(ruleKey));
  const want = new Set(desired.map(ruleKey));
  return { add: desired.filter((r) => !have.has(ruleKey(r))), del: observed.filter((r) => !want.has(ruleKey(r))) };
}
