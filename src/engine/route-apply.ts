// Route changes applied one at a time, where a failure must not keep the
// rest from running: the host routes, a rollback, `twine cleanup`. (A
// transaction's own changes go in one all-or-nothing batch instead.)

import type { NetnsBackend, NsTarget, Route } from '../netns/types.js';
import { routeKey, type RouteChanges } from './route-diff.js';

export interface RouteFailure {
  route: Route;
  op: 'replace' | 'add' | 'del';
  error: unknown;
}

export interface RoutesApplied {
  replaced: Route[];
  deleted: Route[];
  failures: RouteFailure[];
}

/**
 * Replaces, then deletes, each route on its own. Never throws. With `owned`
 * (the keys of the routes of Twine's protocol found there), a route whose key
 * is not among them is added with exclusive create instead: where the kernel
 * has a route with that key that is not Twine's, the add fails (EEXIST) and
 * that route stays as it was.
 */
export async function applyRoutesBestEffort(netns: NetnsBackend, ns: NsTarget, changes: RouteChanges, owned?: ReadonlySet<string>): Promise<RoutesApplied> {
  const out: RoutesApplied = { replaced: [], deleted: [], failures: [] };
  for (const route of changes.replace) {
    const op = owned === undefined || owned.has(routeKey(route)) ? 'replace' : 'add';
    await (op === 'replace' ? netns.routeReplace(ns, route) : netns.routeAdd(ns, route)).then(
      () => out.replaced.push(route),
      (error: unknown) => out.failures.push({ route, op, error }),
    );
  }
  for (const route of changes.del) {
    await netns.routeDel(ns, route).then(
      () => out.deleted.push(route),
      (error: unknown) => out.failures.push({ route, op: 'del', error }),
    );
  }
  return out;
}
