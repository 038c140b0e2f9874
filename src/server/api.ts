// The JSON shapes of /api/containers and /healthz: one place, shared by the
// server and the `twine status` client.

import type { DesiredState } from '../resolve/desired.js';
import { routeText, tableText } from '../plan/explain.js';
import type { ContainerState } from './view.js';

/**
 * applied: the last plan is committed; invalid: labels rejected (last good state kept);
 * failed: the last transaction rolled back; refused: its network namespace is not its own
 * (the host's or another container's), nothing written; pending: nothing applied yet; stopped.
 */
export type ContainerStatus = 'applied' | 'invalid' | 'failed' | 'refused' | 'pending' | 'stopped';

export interface Counts {
  /** Routes / forwards / rules whose destination resolved. */
  up: number;
  /** Whose destination is down (a route is then `unreachable`: kill switch). */
  down: number;
}

export interface ContainerSummary {
  status: ContainerStatus;
  routes: Counts;
  forwards: Counts;
  rules: Counts;
  hostRoutes: number;
  natInterfaces: string[];
}

/** What is committed in the namespace, as text for people (the dashboard shows it). */
export interface AppliedText {
  routes: string[];
  table: string[];
}

/**
 * What /api/containers/<name> answers: the engine's state of the container plus the counts of the table,
 * and for a NAT gateway with a kill switch the packets it dropped (read from the kernel for the request).
 */
export type ContainerDoc = ContainerState & ContainerSummary & { appliedText?: AppliedText; killSwitchDropped?: number; whitelistDropped?: number };

export interface HealthDoc {
  ok: boolean;
  /** Why not ok; absent when ok. */
  reason?: string;
  reconciled: boolean;
  dockerConnected: boolean;
  /** While not connected to Docker: since when (ISO time) and the last failure. */
  dockerDownSince?: string;
  dockerError?: string;
  containers: number;
  errors: number;
  version: string;
  uptimeSeconds: number;
  /** Docker events the engine has handled since it started. */
  events?: number;
  /** Work under way that may still change something (jobs queued or running, reads of Docker, starts being watched); 0: idle. */
  busy?: number;
}

function count<T extends { state: string }>(xs: readonly T[] | undefined): Counts {
  let up = 0;
  let down = 0;
  for (const x of xs ?? []) {
    if (x.state === 'down') down++;
    else up++;
  }
  return { up, down };
}

function asDesired(d: unknown): Partial<DesiredState> | undefined {
  return d !== null && typeof d === 'object' ? (d as Partial<DesiredState>) : undefined;
}

/** The last transaction's error and the host routes' one, together: either makes the container failed. */
export function lastErrorOf(c: Pick<ContainerState, 'lastError' | 'hostRoutesError'>): string | undefined {
  const errors = [c.lastError, c.hostRoutesError].filter((e): e is string => e !== undefined);
  return errors.length > 0 ? errors.join('\n') : undefined;
}

/** Counted in /healthz's `errors` and twine_containers_with_errors. */
export function hasError(c: ContainerState): boolean {
  return lastErrorOf(c) !== undefined || c.labelErrors.length > 0;
}

export function statusOf(c: ContainerState): ContainerStatus {
  if (!c.running) return 'stopped';
  if (c.labelErrors.length > 0) return 'invalid';
  if (c.refusal !== undefined) return 'refused';
  if (lastErrorOf(c) !== undefined) return 'failed';
  return c.applied ? 'applied' : 'pending';
}

export function summarize(c: ContainerState): ContainerSummary {
  const d = asDesired(c.desired);
  return {
    status: statusOf(c),
    routes: count(d?.routes),
    forwards: count(d?.forwards),
    rules: count(d?.rules),
    hostRoutes: d?.hostRoutes?.length ?? 0,
    natInterfaces: d?.natInterfaces ?? [],
  };
}

/**
 * One container's document as /api/containers/<name> answers it: the list's, plus what is
 * committed as text (rendered per request, so the list the dashboard polls stays cheap).
 */
export function containerDetailDoc(c: ContainerState): ContainerDoc {
  const doc = containerDoc(c);
  if (c.applied !== undefined) doc.appliedText = { routes: c.applied.routes.map(routeText), table: tableText(c.applied.table) };
  return doc;
}

export function containerDoc(c: ContainerState): ContainerDoc {
  const doc: ContainerDoc = {
    id: c.id,
    name: c.name,
    running: c.running,
    ...summarize(c),
    labels: c.labels,
    labelErrors: c.labelErrors,
    warnings: c.warnings,
  };
  if (c.desired !== undefined) doc.desired = c.desired;
  if (c.plan !== undefined) doc.plan = c.plan;
  if (c.applied !== undefined) doc.applied = c.applied;
  if (c.dependencies !== undefined) doc.dependencies = c.dependencies;
  const lastError = lastErrorOf(c);
  if (lastError !== undefined) doc.lastError = lastError;
  if (c.hostRoutesError !== undefined) doc.hostRoutesError = c.hostRoutesError;
  if (c.refusal !== undefined) doc.refusal = c.refusal;
  if (c.lastApplyAt !== undefined) doc.lastApplyAt = c.lastApplyAt;
  if (c.lastLatencyMs !== undefined) doc.lastLatencyMs = c.lastLatencyMs;
  return doc;
}
