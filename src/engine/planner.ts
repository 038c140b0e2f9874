// labels → spec → desired state → plan for one container: the pure part of a
// transaction, shared by the engine and `twine plan`.

import { LabelError, RuleLimitError } from '../errors.js';
import { SpecCache } from '../labels/spec-cache.js';
import type { LabelWarning } from '../labels/spec.js';
import { resolve } from '../resolve/resolve.js';
import { DNS_FIX, DNS_LABEL, dnsPath, leakWarnings } from '../resolve/leaks.js';
import type { DesiredState, Resolution, Unresolved } from '../resolve/desired.js';
import type { ContainerInfo, Inventory } from '../docker/container.js';
import { compile } from '../plan/compile.js';
import { DEFAULT_LIMITS, LIMIT_OPTIONS, type Limits } from '../labels/limits.js';
import { HOST_ROUTES_LABEL, hostRouteBudgetProblems, hostRouteProblem, type HostRoutePolicy } from '../labels/host-routes.js';
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

export interface PlanOptions {
  allowHostRoutes: boolean;
  /** Default DEFAULT_LIMITS. */
  limits?: Limits;
  /** What host routes may be; without it only the fixed refusals apply (no connected subnets known). */
  hostRoutes?: HostRoutePolicy;
  /** The Docker engine's version ("28.5.2"): where its embedded resolver forwards from (../resolve/leaks.ts); undefined: not known. */
  dockerVersion?: string;
  /** The snapshot's labels, parsed once for every plan made from it (the engine's store); default: this call's own, with `limits`. */
  specs?: SpecCache;
}

/** The rule limit as a label error, on the label that makes the most rules. */
function ruleLimitError(info: ContainerInfo, e: RuleLimitError): LabelError {
  const top = e.bounds[0];
  const key = top?.label ?? 'twine.*';
  const shown = e.bounds.slice(0, 3).map((b) => `${b.label} up to ${b.rules}`);
  const rest = e.bounds.length > 3 ? ` and ${e.bounds.length - 3} more labels` : '';
  return new LabelError(info.name, [
    {
      container: info.name,
      key,
      value: info.labels[key] ?? '',
      reason:
        `the labels expand to more than ${e.limit} firewall rules, the limit per container (${LIMIT_OPTIONS.rules} raises it); ` +
        `the most rules come from ${shown.join(', ')}${rest}`,
    },
  ]);
}

/** Throws LabelError (naming container and label) when the labels are invalid, not allowed or over a limit. */
export function planContainer(info: ContainerInfo, inv: Inventory, opts: PlanOptions): PlanOutcome {
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const specs = opts.specs ?? new SpecCache(limits);
  const spec = specs.specOf(info);
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
  if (spec.hostRoutes.length > 0) {
    const policy = opts.hostRoutes ?? { connected: [] };
    const value = info.labels[HOST_ROUTES_LABEL] ?? '';
    const problems = spec.hostRoutes.map((c) => hostRouteProblem(c, policy));
    // The budget counts the prefixes that are acceptable on their own (the others are reported already).
    const budget = hostRouteBudgetProblems(spec.hostRoutes.filter((_, i) => problems[i] === undefined));
    const issues = [...problems, ...budget]
      .filter((reason): reason is string => reason !== undefined)
      .map((reason) => ({ container: info.name, key: HOST_ROUTES_LABEL, value, reason }));
    if (issues.length > 0) throw new LabelError(info.name, issues);
  }
  if (spec.dns === 'required') {
    const dns = dnsPath(info, spec, opts.dockerVersion);
    if (dns.leak !== false) {
      const reason = dns.leak === true ? `its DNS lookups would leak: ${dns.why}; ${DNS_FIX}` : `cannot tell whether its DNS lookups follow its routes: ${dns.why}`;
      throw new LabelError(info.name, [{ container: info.name, key: DNS_LABEL, value: info.labels[DNS_LABEL] ?? '', reason }]);
    }
  }
  const r = resolve(info, spec, inv, specs);
  const leaks = leakWarnings(info, spec, opts.dockerVersion);
  if (leaks.length > 0) r.desired.warnings = [...spec.warnings, ...leaks];
  let plan: Plan;
  try {
    plan = compile(r.desired, limits.rules);
  } catch (e) {
    throw e instanceof RuleLimitError ? ruleLimitError(info, e) : e;
  }
  return {
    plan,
    resolution: r,
    desired: r.desired,
    deps: { refs: r.refs, ids: r.deps },
    warnings: r.desired.warnings,
    unresolved: r.unresolved,
  };
}
