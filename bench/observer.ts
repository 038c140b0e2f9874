// The external observer: polls a container's namespace from the bench process
// until Twine's work is visible there — its route (protocol 74, via the
// expected gateway) and `table inet twine`. The time recorded is when the
// successful check returned, an upper bound of the real commit (resolution:
// the poll interval plus one check), so the figure cannot flatter Twine.

import { readFileSync, statSync } from 'node:fs';
import { nativeBackend } from '../src/netns/backend.js';
import { TWINE_RT_PROTO } from '../src/netns/types.js';
import { selectTransport } from '../src/firewall/select.js';
import type { NftTransport } from '../src/firewall/transport.js';
import { cgroupProcs, ROUTE_CIDR } from './fleet.js';
import { nowMs, sleep } from './stats.js';

export interface Observed {
  /** Wall-clock ms when the check saw everything (NaN on timeout). */
  doneMs: number;
  /** When the container's process was first seen. */
  pidMs: number;
  /** When the route was first seen. */
  routeMs: number;
  pid: number;
  timedOut: boolean;
}

let nft: NftTransport | undefined;
function transport(): NftTransport {
  nft ??= selectTransport('auto');
  return nft;
}

/** The container's processes now (empty when it is not running). */
export function containerPids(id: string): number[] {
  for (const f of cgroupProcs(id)) {
    try {
      return readFileSync(f, 'utf8').split('\n').filter((l) => l !== '').map(Number);
    } catch {
      // not this layout, or not running
    }
  }
  return [];
}

export async function routeVia(pid: number, gatewayIp: string): Promise<boolean> {
  try {
    const routes = await nativeBackend.routeList({ pid }, { protocol: TWINE_RT_PROTO });
    return routes.some((r) => r.dst === ROUTE_CIDR && r.gateway === gatewayIp);
  } catch {
    return false; // namespace not there (yet/any more)
  }
}

export async function hasTable(pid: number): Promise<boolean> {
  try {
    return (await transport().listTable({ pid }, 'inet', 'twine')) !== null;
  } catch {
    return false;
  }
}

export interface WatchOptions {
  gatewayIp: string;
  /** Pids of the container's previous run (a restart): wait for a new process. */
  oldPids?: readonly number[];
  pollMs: number;
  timeoutMs?: number;
}

const HOST_NS = statSync('/proc/self/ns/net').ino;

function netnsInode(pid: number): number | undefined {
  try {
    return statSync(`/proc/${pid}/ns/net`).ino;
  } catch {
    return undefined;
  }
}

/**
 * A process of the container that lives in the container's namespace. Right
 * after a start the cgroup also holds runc's short-lived set-up processes,
 * still in the host's namespace; they are skipped (and a pid that went away
 * is dropped at the next poll).
 */
export function namespacePid(id: string, old: ReadonlySet<number> = new Set()): number | undefined {
  for (const p of containerPids(id)) {
    if (old.has(p)) continue;
    const ino = netnsInode(p);
    if (ino !== undefined && ino !== HOST_NS) return p;
  }
  return undefined;
}

/** Waits until container `id` runs a new process whose namespace holds Twine's route and table. */
export async function watchApplied(id: string, o: WatchOptions): Promise<Observed> {
  const deadline = nowMs() + (o.timeoutMs ?? 15_000);
  const old = new Set(o.oldPids ?? []);
  const r: Observed = { doneMs: NaN, pidMs: NaN, routeMs: NaN, pid: 0, timedOut: false };
  while (nowMs() < deadline) {
    const pid = namespacePid(id, old);
    if (pid !== undefined) {
      if (Number.isNaN(r.pidMs)) r.pidMs = nowMs();
      r.pid = pid;
      if (Number.isNaN(r.routeMs) && (await routeVia(pid, o.gatewayIp))) r.routeMs = nowMs();
      if (!Number.isNaN(r.routeMs) && (await hasTable(pid))) {
        r.doneMs = nowMs();
        return r;
      }
    }
    await sleep(o.pollMs);
  }
  r.timedOut = true;
  return r;
}

/** Scenario b: waits until every pid's route points at gatewayIp; per-pid first-seen times. */
export async function watchRoutes(pids: readonly number[], gatewayIp: string, pollMs: number, timeoutMs = 15_000): Promise<number[]> {
  const seen = pids.map(() => NaN);
  const deadline = nowMs() + timeoutMs;
  while (nowMs() < deadline) {
    const pending = pids.map((p, i) => ({ p, i })).filter(({ i }) => Number.isNaN(seen[i]!));
    if (pending.length === 0) break;
    await Promise.all(
      pending.map(async ({ p, i }) => {
        if (await routeVia(p, gatewayIp)) seen[i] = nowMs();
      }),
    );
    await sleep(pollMs);
  }
  return seen;
}

/** Scenario c: waits until every pid shows route and table; per-pid first-seen times. */
export async function watchAllApplied(pids: readonly number[], gatewayIps: readonly string[], pollMs: number, timeoutMs = 60_000): Promise<number[]> {
  const seen = pids.map(() => NaN);
  const deadline = nowMs() + timeoutMs;
  while (nowMs() < deadline) {
    const pending = pids.map((p, i) => ({ p, i })).filter(({ i }) => Number.isNaN(seen[i]!));
    if (pending.length === 0) break;
    for (const { p, i } of pending) {
      if ((await routeVia(p, gatewayIps[i]!)) && (await hasTable(p))) seen[i] = nowMs();
    }
    await sleep(pollMs);
  }
  return seen;
}
