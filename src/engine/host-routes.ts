// Host routes (twine.host.routes): the union of every running container's, in
// the host's namespace. Each route the kernel refuses is reported against the
// containers whose labels want it, so their status says so.

import type { NetnsBackend, NsTarget, Route } from '../netns/types.js';
import { TWINE_RT_PROTO } from '../netns/types.js';
import { diffRoutes, routeKey } from './route-diff.js';

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
  const result: HostRoutesResult = { replaced: [], deleted: [], failures: [] };
  let have: Route[];
  try {
    have = await netns.routeList(ns, { protocol: TWINE_RT_PROTO });
  } catch (error) {
    result.failures.push({ error, owners: owners.filter((o) => o.routes.length > 0).map((o) => o.id) });
    return result;
  }
  const changes = diffRoutes(have, want);
  for (const r of changes.replace) {
    await netns.routeReplace(ns, r).then(
      () => result.replaced.push(r),
      (error: unknown) => result.failures.push({ route: r, error, owners: ownersOf(r) }),
    );
  }
  for (const r of changes.del) {
    await netns.routeDel(ns, r).then(
      () => result.deleted.push(r),
      (error: unknown) => result.failures.push({ route: r, error, owners: [] }),
    );
  }
  return result;
}
