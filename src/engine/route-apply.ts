// Route changes applied one at a time, where a failure must not keep the
// rest from running: the host routes, a rollback, `twine cleanup`. (A
// transaction's own changes go in one all-or-nothing batch instead.)

import type { NetnsBackend, NsTarget, Route } from '../netns/types.js';
import type { RouteChanges } from './route-diff.js';

export interface RouteFailure {
  route: Route;
  op: 'replace' | 'del';
  error: unknown;
}

export interface RoutesApplied {
  replaced: Route[];
  deleted: Route[];
  failures: RouteFailure[];
}

/** Replaces, then deletes, each route on its own. Never throws. */
export async function applyRoutesBestEffort(netns: NetnsBackend, ns: NsTarget, changes: RouteChanges): Promise<RoutesApplied> {
  const out: RoutesApplied = { replaced: [], deleted: [], failures: [] };
  for (const route of changes.replace) {
    await netns.routeReplace(ns, route).then(
      () => out.replaced.push(route),
      (error: unknown) => out.failures.push({ route, op: 'replace', error }),
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
