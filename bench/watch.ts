// The observer's primitive: the addon's watchNs (native/watch.cc) pointed at
// Twine's work in one namespace — its route (protocol 74 to a CIDR via the
// expected gateway) and, when asked, `table inet twine`.

import { loadAddon } from '../src/netns/addon.js';
import type { NativeError, WatchResult, WatchSpec } from '../src/netns/native.js';
import { TWINE_RT_PROTO } from '../src/netns/types.js';

export type { WatchResult, WatchSeenBy } from '../src/netns/native.js';

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
    return await loadAddon().watchNs({ pid }, spec, Math.max(0, Math.min(600_000, Math.round(timeoutMs))));
  } catch (err) {
    return unwatched((err as Partial<NativeError>).code ?? String(err));
  }
}
