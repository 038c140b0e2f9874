// Taking back everything Twine wrote (`twine cleanup`). For a container, that
// is the plan of the same container without its twine labels (no routes of
// Twine's protocol, no table, Docker's default route back), applied by the
// ordinary transaction in the container's own namespace only; for the host,
// deleting every route of Twine's protocol. Sysctls are left as they are:
// Twine does not know what they were before, and they die with the namespace.

import type { ContainerInfo, Inventory } from '../docker/container.js';
import { describeError, NamespaceRefusedError } from '../errors.js';
import { isTwineLabel } from '../labels/visible.js';
import type { Logger } from '../log.js';
import { TWINE_RT_PROTO } from '../netns/types.js';
import type { Plan } from '../plan/types.js';
import { hostNamespaceInodes, openOwnNamespace } from './ownership.js';
import { planContainer } from './planner.js';
import { applyRoutesBestEffort } from './route-apply.js';
import { applyPlan, type Applier } from './transaction.js';

/** The plan that leaves no trace of Twine in a container's namespace: its own without the twine labels. */
export function emptyPlan(info: ContainerInfo, inv: Inventory): Plan {
  const labels = Object.fromEntries(Object.entries(info.labels).filter(([k]) => !isTwineLabel(k)));
  return planContainer({ ...info, labels }, inv, { allowHostRoutes: false }).plan;
}

export interface CleanupReport {
  containers: number;
  changed: string[];
  /** Containers not in a namespace of their own (host mode, container:<x>): not touched. */
  skipped: string[];
  hostRoutesDeleted: number;
  errors: string[];
}

/** Takes back what Twine wrote in every running container (or those in `only`) and, given `hostNetns`, on the host. */
export async function cleanupAll(
  a: Applier,
  inv: Inventory,
  hostNetns: string | undefined,
  log: Logger,
  /** Clean only these containers (ids); default every running one. */
  only?: ReadonlySet<string>,
): Promise<CleanupReport> {
  const report: CleanupReport = { containers: 0, changed: [], skipped: [], hostRoutesDeleted: 0, errors: [] };
  const hostNs = hostNamespaceInodes(hostNetns);
  for (const c of inv.containers) {
    if (!c.running || c.pid <= 0 || (only !== undefined && !only.has(c.id))) continue;
    report.containers++;
    try {
      // Only a container's own namespace: a host-mode one's is the host's, whose table and routes are not a label's.
      const handle = openOwnNamespace(c, { hostInodes: hostNs, containers: inv.containers });
      let r;
      try {
        r = await applyPlan(a, { ...emptyPlan(c, inv), ns: handle.target }, { fresh: false });
      } finally {
        handle.close();
      }
      if (!r.noop) {
        report.changed.push(c.name);
        log.info({ container: c.name, routesRemoved: r.routesDeleted.length + r.routesReplaced.length, nftCommands: r.nftCommands }, 'cleaned');
      }
    } catch (err) {
      if (err instanceof NamespaceRefusedError) {
        report.skipped.push(c.name);
        log.info({ container: c.name, reason: err.message }, 'not cleaned: not its own namespace');
        continue;
      }
      // Keep going: one container that died meanwhile must not stop the rest.
      report.errors.push(`${c.name}: ${describeError(err)}`);
    }
  }
  if (hostNetns) {
    const ns = { path: hostNetns };
    try {
      const done = await applyRoutesBestEffort(a.netns, ns, { replace: [], del: await a.netns.routeList(ns, { protocol: TWINE_RT_PROTO }) });
      report.hostRoutesDeleted = done.deleted.length;
      for (const f of done.failures) report.errors.push(`host route ${f.route.dst}: ${describeError(f.error)}`);
    } catch (err) {
      report.errors.push(`host namespace ${hostNetns}: ${describeError(err)}`);
    }
  }
  return report;
}
