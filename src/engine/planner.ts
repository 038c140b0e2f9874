// labels → spec → desired state → plan for one container: the pure part of a
// transaction, shared by the engine and `twine plan`.

import { LabelError } from '../errors.js';
import { parseLabels } from '../labels/parse.js';
import type { LabelWarning } from '../labels/spec.js';
import { resolve } from '../resolve/resolve.js';
import type { DesiredState, Resolution, Unresolved } from '../resolve/desired.js';
import type { ContainerInfo, Inventory } from '../resolve/inventory.js';
import { compile } from '../plan/compile.js';
import type { Plan } from '../plan/types.js';
import type { Dependencies } from './graph.js';

export interface PlanOutcome {
  plan: Plan;
  resolution: Resolution;
  desired: DesiredState;
  deps: Dependencies;
  warnings: LabelWarning[];
  unresolved: Unresolved[];
}

export const HOST_ROUTES_LABEL = 'twine.host.routes';

/** Throws LabelError (naming container and label) when the labels are invalid or not allowed. */
export function planContainer(info: ContainerInfo, inv: Inventory, opts: { allowHostRoutes: boolean }): PlanOutcome {
  const spec = parseLabels(info.name, info.labels);
  if (spec.hostRoutes.length > 0 && !opts.allowHostRoutes) {
    throw new LabelError(info.name, [
      {
        container: info.name,
        key: HOST_ROUTES_LABEL,
        value: info.labels[HOST_ROUTES_LABEL] ?? '',
        reason: 'host routes change the Docker host and are off: start twine with --allow-host-routes (TWINE_ALLOW_HOST_ROUTES=true) to allow them',
      },
    ]);
  }
  const r = resolve(info, spec, inv);
  return {
    plan: compile(r.desired),
    resolution: r,
    desired: r.desired,
    deps: { refs: r.refs, ids: r.deps },
    warnings: spec.warnings,
    unresolved: r.unresolved,
  };
}
