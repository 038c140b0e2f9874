// The external observer: watches a container's namespace from the bench
// process until Twine's work is visible there — its route (protocol 74 to
// ROUTE_CIDR via the expected gateway) and `table inet twine`. The container's
// new process is found by polling its cgroup; its namespace is then handed to
// the addon's watchNs (bench/watch.ts), which subscribes to the namespace's
// route and nftables notifications, checks the current state, and stamps each
// part when its notification is received (or at the check's return when
// Twine committed before the subscription). Every time is an upper bound of
// the kernel's commit, so the figure cannot flatter Twine.

import { readFileSync } from 'node:fs';
import { containerNsPid, netnsInode } from '../src/docker/cgroup.js';
import { ROUTE_CIDR } from './fleet.js';
import { nowMs, sleep } from './stats.js';
import { twineSpec, watchPid, type WatchSeenBy } from './watch.js';

export interface Observed {
  /** Wall-clock ms when both route and table had been seen: the later of the two (NaN on timeout). */
  doneMs: number;
  /** When the container's process was first seen. */
  pidMs: number;
  /** When the watch of its namespace was subscribed (before its first check). */
  subscribedMs: number;
  /** When the route and the table were first seen. */
  routeMs: number;
  tableMs: number;
  /** How the later of the two was seen: "check" means Twine had committed it before the watch subscribed. */
  doneBy?: WatchSeenBy;
  pid: number;
  /**
   * True when, right after route and table were seen, the container's process
   * was still runc's init, waiting to run the entrypoint: Twine's work was in
   * place before the container's own code ran. False when it had already run
   * (or could not be told).
   */
  beforeExec?: boolean;
  timedOut: boolean;
}

export interface WatchOptions {
  gatewayIp: string;
  /** Pids of the container's previous run (a restart): wait for a new process. */
  oldPids?: readonly number[];
  /** How often the cgroup is read while no new process is there. */
  pollMs: number;
  timeoutMs?: number;
}

const HOST_NS = new Set([netnsInode('self') ?? 0]);

/**
 * A process of the container that lives in the container's namespace. Right
 * after a start the cgroup also holds runc's short-lived set-up processes,
 * still in the host's namespace; they are skipped (and a pid that went away
 * is dropped at the next poll).
 */
export function namespacePid(id: string, old: ReadonlySet<number> = new Set()): number | undefined {
  return containerNsPid(id, HOST_NS, old)?.pid;
}

/** Whether container `id`'s process in its namespace is still runc's init (it has not run the entrypoint yet). */
function stillInit(id: string, old: ReadonlySet<number>): boolean {
  const pid = namespacePid(id, old);
  if (pid === undefined) return false;
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'runc:[2:INIT]';
  } catch {
    return false;
  }
}

/** Waits until container `id` runs a new process whose namespace holds Twine's route and table. */
export async function watchApplied(id: string, o: WatchOptions): Promise<Observed> {
  const deadline = nowMs() + (o.timeoutMs ?? 15_000);
  const old = new Set(o.oldPids ?? []);
  const r: Observed = { doneMs: NaN, pidMs: NaN, subscribedMs: NaN, routeMs: NaN, tableMs: NaN, pid: 0, timedOut: false };
  while (nowMs() < deadline) {
    const pid = namespacePid(id, old);
    if (pid === undefined) {
      await sleep(o.pollMs);
      continue;
    }
    if (Number.isNaN(r.pidMs)) r.pidMs = nowMs();
    r.pid = pid;
    const w = await watchPid(pid, twineSpec(ROUTE_CIDR, o.gatewayIp, true), deadline - nowMs());
    if (w.error) {
      old.add(pid); // gone before its namespace could be entered: look for the next one
      continue;
    }
    r.subscribedMs = w.subscribedMs;
    r.routeMs = w.routeMs;
    r.tableMs = w.tableMs;
    r.doneMs = Math.max(w.routeMs, w.tableMs); // NaN when either was not seen
    r.doneBy = w.routeMs > w.tableMs ? w.routeBy : w.tableBy;
    r.timedOut = Number.isNaN(r.doneMs);
    if (!r.timedOut) r.beforeExec = stillInit(id, old);
    return r;
  }
  r.timedOut = true;
  return r;
}

/** Per watched pid: when it was seen (NaN: not before the timeout) and whether the check at subscription saw it. */
export interface SeenAt {
  ms: number;
  byCheck: boolean;
}

/**
 * Scenario b: waits until every pid's route points at gatewayIp. One watch
 * (one thread) per pid, started together: 200 of them are all subscribed
 * within ~70 ms and then sleep in poll() (bench/watch-resolution.ts --many).
 */
export async function watchRoutes(pids: readonly number[], gatewayIp: string, timeoutMs = 15_000): Promise<SeenAt[]> {
  const spec = twineSpec(ROUTE_CIDR, gatewayIp, false);
  const seen = await Promise.all(pids.map((p) => watchPid(p, spec, timeoutMs)));
  return seen.map((w) => ({ ms: w.routeMs, byCheck: w.routeBy === 'check' }));
}

/** Scenario c: waits until every pid shows route and table: the later of the two per pid. */
export async function watchAllApplied(pids: readonly number[], gatewayIps: readonly string[], timeoutMs = 60_000): Promise<SeenAt[]> {
  const seen = await Promise.all(pids.map((p, i) => watchPid(p, twineSpec(ROUTE_CIDR, gatewayIps[i]!, true), timeoutMs)));
  return seen.map((w) => ({ ms: Math.max(w.routeMs, w.tableMs), byCheck: (w.routeMs > w.tableMs ? w.routeBy : w.tableBy) === 'check' }));
}
