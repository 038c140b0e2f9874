// The one-line figures of the restart, re-pointing and memory scenarios, as a scenario run alone ends with them
// (`npm run bench -- --scenario …`) and a full run lists them per transport.

import type { Results } from './report.js';
import type { Transport } from './options.js';
import { summarize } from './stats.js';

const r1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : String(x));

/** `reconcile_synced n=<containers> ms=<median over the restarts of spawn → "reconciled">`. */
export function syncedLine(r: Results, t: Transport): string | undefined {
  const s = r.synced.find((x) => x.transport === t);
  if (!s || s.spawnToReconciledMs.length === 0) return undefined;
  return `reconcile_synced n=${s.containers} ms=${r1(summarize(s.spawnToReconciledMs).p50)}`;
}

/** `repoint n=<dependents> worst_ms=<worst round> median_ms=<median round>` (observer: the gateway's start event → every dependent re-pointed). */
export function repointLine(r: Results, t: Transport): string | undefined {
  const g = r.gateway.filter((x) => x.transport === t);
  if (g.length === 0) return undefined;
  const s = summarize(g.map((x) => (Number.isFinite(x.externalMs) ? x.externalMs : Infinity)));
  return `repoint n=${g[0]!.dependents} worst_ms=${r1(s.max)} median_ms=${r1(s.p50)}`;
}

/** `rss n=<containers> mb=<VmRSS once settled>` after a start-up with them. */
export function rssLine(r: Results, t: Transport): string | undefined {
  const m = r.memory.filter((x) => x.transport === t && x.settled).at(-1);
  return m ? `rss n=${m.containers} mb=${r1(m.rssMb)}` : undefined;
}
