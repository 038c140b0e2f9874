// The observer's primitive: the bench-only addon's watchNs (twine_bench.node,
// native/bench/watch.cc; not part of the daemon's addon) pointed at Twine's
// work in one namespace — its route (protocol 74 to a CIDR via the expected
// gateway) and, when asked, `table inet twine`.

import { loadNativeModule } from '../src/netns/addon.js';
import type { NativeError, NativeTarget } from '../src/netns/native.js';
import { TWINE_RT_PROTO, type RouteType } from '../src/netns/types.js';
import type { Family } from '../src/net/ip.js';

/** What a namespace watch waits for: a route, an nftables table, or both. */
export interface WatchSpec {
  /** A single-path route matching family, dst, table (main when absent) and type (unicast when absent), and gateway and protocol when given. */
  route?: { family: Family; dst: string; gateway?: string; protocol?: number; table?: number; type?: RouteType };
  table?: { family: 'inet' | 'ip' | 'ip6' | 'arp' | 'bridge' | 'netdev'; name: string };
}

/** How a part was first seen: the check right after subscribing, a notification, or a check after an overrun (ENOBUFS). */
export type WatchSeenBy = 'check' | 'notification' | 'recheck';

/** Wall-clock times (CLOCK_REALTIME, ms since the epoch, µs precision); NaN for what was not seen or not asked for. */
export interface WatchResult {
  routeMs: number;
  /** For a table made by a batch: when the generation announcement closing that batch was received. */
  tableMs: number;
  /** When both sockets were subscribed (before the first check). */
  subscribedMs: number;
  /** When the first check returned. */
  checkedMs: number;
  routeBy?: WatchSeenBy;
  tableBy?: WatchSeenBy;
  /** Notification overruns (ENOBUFS), each followed by a fresh check. */
  overruns: number;
}

/** The binding exported by build/Release/twine_bench.node (native/bench/addon.cc). */
export interface BenchBinding {
  /**
   * Waits on a thread of its own (not a pool worker) until the spec's route
   * and table exist in the namespace or timeoutMs (≤ 600000) passes. Every
   * time is an upper bound of the kernel's commit. Bad arguments throw a
   * TypeError with code EINVAL, as the daemon's addon does.
   */
  watchNs(target: NativeTarget, spec: WatchSpec, timeoutMs: number): Promise<WatchResult>;
}

let bench: BenchBinding | undefined;

/** The bench-only addon (built with the daemon's by `node scripts/build-native.mjs`, unless --no-bench). */
export function loadBenchAddon(): BenchBinding {
  bench ??= loadNativeModule<BenchBinding>('twine_bench.node');
  return bench;
}

/** What Twine writes for `twine.route.<cidr>=<gateway>` (and its table, when `table`). */
export function twineSpec(cidr: string, gatewayIp: string, table: boolean): WatchSpec {
  return {
    route: { family: cidr.includes(':') ? 6 : 4, dst: cidr, gateway: gatewayIp, protocol: TWINE_RT_PROTO },
    ...(table ? { table: { family: 'inet', name: 'twine' } } : {}),
  };
}

/** A watch result, or what could not be watched: the code of the error (e.g. ENOENT when the process is gone). */
export type Watched = WatchResult & { error?: string };

function unwatched(error: string): Watched {
  return { routeMs: NaN, tableMs: NaN, subscribedMs: NaN, checkedMs: NaN, overruns: 0, error };
}

/** Watches pid's namespace for up to timeoutMs; pid 0 (no process found) or a namespace that cannot be entered gives nothing seen. */
export async function watchPid(pid: number, spec: WatchSpec, timeoutMs: number): Promise<Watched> {
  if (pid <= 0) return unwatched('ESRCH');
  try {
    return await loadBenchAddon().watchNs({ pid }, spec, Math.max(0, Math.min(600_000, Math.round(timeoutMs))));
  } catch (err) {
    return unwatched((err as Partial<NativeError>).code ?? String(err));
  }
}
