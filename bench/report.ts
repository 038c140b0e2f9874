// What a run produces: results.json, the markdown tables, the plots and
// bench/RESULTS.md.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BenchOptions, Transport } from './options.js';
import type { GatewayRound, MemoryPoint, ReconcileRun, Sample, SyncedRun } from './scenarios.js';
import { fmt, summarize, type Summary } from './stats.js';
import { cdfPoints, COLORS, lineChart, type Series } from './svg.js';

export interface Machine {
  nproc: number;
  kernel: string;
  docker: string;
  node: string;
  nft: string;
  memTotalMb: number;
}

export interface Results {
  startedAt: string;
  durationS: number;
  command: string;
  machine: Machine;
  options: BenchOptions;
  samples: Sample[];
  gateway: GatewayRound[];
  reconcile: ReconcileRun[];
  memory: MemoryPoint[];
  /** Restarts with every container already in sync (absent in results of older runs). */
  synced: SyncedRun[];
  notes: string[];
}

export interface Row {
  n: number;
  transport: Transport;
  kind: string;
  external: Summary;
  twine: Summary;
}

export function rows(r: Results): Row[] {
  const out: Row[] = [];
  const sizes = [...new Set(r.samples.map((s) => s.n))].sort((a, b) => a - b);
  for (const t of r.options.transports) {
    for (const n of sizes) {
      for (const kind of ['start', 'restart', 'burst', 'all']) {
        const s = r.samples.filter((x) => x.transport === t && x.n === n && (kind === 'all' || x.kind === kind));
        if (s.length === 0) continue;
        out.push({ n, transport: t, kind, external: summarize(s.map((x) => x.externalMs)), twine: summarize(s.map((x) => x.twineMs)) });
      }
    }
  }
  return out;
}

const q = (s: Summary): string => `${fmt(s.p50)} / ${fmt(s.p95)} / ${fmt(s.p99)} / ${fmt(s.max)}`;

/** Applied before the start event: the observer saw Twine's route and table before Docker's start event. */
export const appliedEarly = (x: Sample): boolean => (x.rawExternalMs ?? 0) < 0;

export function latencyTable(r: Results): string {
  const lines = [
    '| N | transport | scenario | samples | observer p50 / p95 / p99 / max (ms) | Twine\'s own p50 / p95 / p99 / max (ms) | in place before the start event | before the process ran |',
    '|---:|---|---|---:|---|---|---:|---:|',
  ];
  for (const x of rows(r)) {
    const b = x.kind === 'all' ? '**' : '';
    const s = samplesOf(r, x);
    lines.push(`| ${x.n} | ${x.transport} | ${b}${x.kind}${b} | ${x.external.n} | ${b}${q(x.external)}${b} | ${q(x.twine)} | ${s.filter(appliedEarly).length} | ${s.filter((y) => y.beforeExec).length} |`);
  }
  return lines.join('\n');
}

function samplesOf(r: Results, x: Row): Sample[] {
  return r.samples.filter((y) => y.transport === x.transport && y.n === x.n && (x.kind === 'all' || y.kind === x.kind));
}

/** Samples applied before the start event: how much earlier, and the stages of that transaction. */
export function earlyTable(r: Results): string {
  const keys = STAGES.filter((k) => r.samples.some((s) => appliedEarly(s) && typeof s.stages[k] === 'number'));
  const lines = [
    `| N | transport | samples | before the start event, p50 / min (ms) | ${keys.map((k) => `twine: ${k.replace(/Ms$/, '')}`).join(' | ')} |`,
    `|---:|---|---:|---|${keys.map(() => '---:').join('|')}|`,
  ];
  const sizes = [...new Set(r.samples.map((s) => s.n))].sort((a, b) => a - b);
  for (const t of r.options.transports) {
    for (const n of sizes) {
      const s = r.samples.filter((x) => x.transport === t && x.n === n && appliedEarly(x));
      if (s.length === 0) continue;
      const lead = summarize(s.map((x) => -(x.rawExternalMs ?? 0)));
      const cols = keys.map((k) => {
        const m = summarize(s.map((x) => x.stages[k] ?? NaN));
        return `${fmt(m.mean)} · ${fmt(m.p50)}`;
      });
      lines.push(`| ${n} | ${t} | ${s.length} | ${fmt(lead.p50)} / ${fmt(lead.min)} | ${cols.join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

const STAGES = ['eventDelayMs', 'queueMs', 'inspectMs', 'startInfoMs', 'planMs', 'observeMs', 'netlinkMs', 'verifyMs', 'nftMs'];

/** Mean (additive: the stages sum to the total), median and p99 per stage of the transactions applied after the start event, per transport and N. */
export function stageTable(r: Results): string {
  const present = STAGES.filter((k) => r.samples.some((s) => typeof s.stages[k] === 'number'));
  const head = ['bench: event delivery', ...present.map((k) => `twine: ${k.replace(/Ms$/, '')}`), 'twine: unaccounted', 'twine total', 'observer − twine', 'observer total'];
  const lines = [`| N | transport | ${head.join(' | ')} |`, `|---:|---|${head.map(() => '---:').join('|')}|`];
  const sizes = [...new Set(r.samples.map((s) => s.n))].sort((a, b) => a - b);
  for (const t of r.options.transports) {
    for (const n of sizes) {
      const s = r.samples.filter((x) => x.transport === t && x.n === n && Number.isFinite(x.twineMs) && !appliedEarly(x));
      if (s.length === 0) continue;
      const cell = (v: number[]): string => {
        const m = summarize(v);
        return `${fmt(m.mean)} · ${fmt(m.p50)} · ${fmt(m.p99)}`;
      };
      const cols = [cell(s.map((x) => x.eventDelayMs))];
      for (const k of present) cols.push(cell(s.map((x) => x.stages[k] ?? NaN)));
      cols.push(cell(s.map((x) => x.twineMs - present.reduce((a, k) => a + (x.stages[k] ?? 0), 0))));
      cols.push(cell(s.map((x) => x.twineMs)));
      cols.push(cell(s.map((x) => x.externalMs - x.twineMs)));
      cols.push(cell(s.map((x) => x.externalMs)));
      lines.push(`| ${n} | ${t} | ${cols.join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

export function gatewayTable(r: Results): string {
  const lines = ['| transport | dependents | rounds | observer: all re-pointed, median / max (ms) | Twine: slowest dependent, median / max (ms) | per-dependent observer p50 / p99 (ms) |', '|---|---:|---:|---|---|---|'];
  for (const t of r.options.transports) {
    const g = r.gateway.filter((x) => x.transport === t);
    if (g.length === 0) continue;
    const e = summarize(g.map((x) => x.externalMs));
    const w = summarize(g.map((x) => x.twineMs));
    const per = summarize(g.flatMap((x) => x.perDependentMs));
    lines.push(`| ${t} | ${g[0]!.dependents} | ${g.length} | ${fmt(e.p50)} / ${fmt(e.max)} | ${fmt(w.p50)} / ${fmt(w.max)} | ${fmt(per.p50)} / ${fmt(per.p99)} |`);
  }
  const withStages = r.gateway.filter((x) => x.stagesMean && Object.keys(x.stagesMean).length > 0);
  if (withStages.length > 0) {
    const keys = STAGES.filter((k) => withStages.some((x) => typeof x.stagesMean[k] === 'number'));
    lines.push('', 'Mean per stage of one dependent\'s transaction (ms), averaged over the rounds:', '', `| transport | ${keys.map((k) => k.replace(/Ms$/, '')).join(' | ')} |`, `|---|${keys.map(() => '---:').join('|')}|`);
    for (const t of r.options.transports) {
      const g = withStages.filter((x) => x.transport === t);
      if (g.length === 0) continue;
      lines.push(`| ${t} | ${keys.map((k) => fmt(g.reduce((a, x) => a + (x.stagesMean[k] ?? 0), 0) / g.length)).join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

export function reconcileTable(r: Results): string {
  const lines = ['| transport | containers | daemon "reconciled" (ms) | spawn → reconciled (ms) | observer: spawn → all applied (ms) |', '|---|---:|---:|---:|---:|'];
  for (const x of r.reconcile) lines.push(`| ${x.transport} | ${x.containers} | ${fmt(x.reconciledMs)} | ${fmt(x.spawnToReconciledMs)} | ${fmt(x.externalMs)}${x.missing ? ` (${x.missing} missing)` : ''} |`);
  return lines.join('\n');
}

export function syncedTable(r: Results): string {
  const lines = ['| transport | containers | restarts | spawn → reconciled, median / each (ms) | daemon "reconciled", median (ms) | daemon CPU time to then, median (ms) | found in sync / applied, each restart |', '|---|---:|---:|---|---:|---:|---|'];
  for (const x of r.synced ?? []) {
    const each = x.spawnToReconciledMs.map(fmt).join(', ');
    lines.push(`| ${x.transport} | ${x.containers} | ${x.spawnToReconciledMs.length} | ${fmt(summarize(x.spawnToReconciledMs).p50)} / ${each} | ${fmt(summarize(x.reconciledMs).p50)} | ${fmt(summarize(x.cpuMs ?? []).p50)} | ${x.inSync.map((n, i) => `${n} / ${x.applied[i]}`).join(', ')} |`);
  }
  return lines.join('\n');
}

export function memoryTable(r: Results): string {
  const lines = ['| transport | labelled bench containers | when | VmRSS (MB) |', '|---|---:|---|---:|'];
  for (const x of r.memory) lines.push(`| ${x.transport} | ${x.containers} | ${x.when} | ${fmt(x.rssMb)} |`);
  return lines.join('\n');
}

/** Plots: a latency CDF per transport (one line per N, observer solid, Twine's own dashed), p50/p99 against N. */
export function plots(r: Results): Record<string, string> {
  const out: Record<string, string> = {};
  const sizes = [...new Set(r.samples.map((s) => s.n))].sort((a, b) => a - b);
  for (const t of r.options.transports) {
    const series: Series[] = [];
    sizes.forEach((n, i) => {
      const s = r.samples.filter((x) => x.transport === t && x.n === n);
      if (s.length === 0) return;
      series.push({ name: `N=${n} observer`, points: cdfPoints(s.map((x) => x.externalMs)), color: COLORS[i % COLORS.length]! });
      series.push({ name: `N=${n} twine`, points: cdfPoints(s.map((x) => x.twineMs)), color: COLORS[i % COLORS.length]!, dashed: true });
    });
    out[`cdf-${t}.svg`] = lineChart({ title: `Apply latency CDF, ${t} transport (starts, restarts, bursts)`, xLabel: 'ms from Docker start event (log)', yLabel: 'fraction of applies', series, xLog: true, yMin: 0, yMax: 1 });
  }
  const series: Series[] = [];
  r.options.transports.forEach((t, ti) => {
    for (const [k, which] of [
      ['p50', 0.5],
      ['p99', 0.99],
    ] as const) {
      const pts: Array<[number, number]> = [];
      for (const n of sizes) {
        const s = summarize(r.samples.filter((x) => x.transport === t && x.n === n).map((x) => x.externalMs));
        pts.push([n, which === 0.5 ? s.p50 : s.p99]);
      }
      series.push({ name: `${t} ${k}`, points: pts, color: COLORS[ti * 2 + (k === 'p99' ? 1 : 0)]!, dashed: k === 'p99', markers: true });
    }
  });
  out['percentiles-vs-n.svg'] = lineChart({
    title: 'Apply latency against N (external observer)',
    xLabel: 'labelled containers running (N, log)',
    yLabel: 'ms (log)',
    series,
    xLog: true,
    yLog: true,
    hLines: [
      { y: 3, label: 'lib p50 target 3 ms' },
      { y: 10, label: 'p50 target 10 ms' },
      { y: 15, label: 'lib p99 target 15 ms' },
      { y: 40, label: 'p99 target 40 ms' },
    ],
  });
  return out;
}

/** The section `npm run bench:runtime` writes into RESULTS.md; a full bench run keeps it. */
export const RUNTIME_BEGIN = '<!-- bench:runtime begin -->';
export const RUNTIME_END = '<!-- bench:runtime end -->';

export function writeResults(r: Results, dir: string, markdown: string): void {
  mkdirSync(path.join(dir, 'plots'), { recursive: true });
  const file = path.join(dir, 'RESULTS.md');
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const a = old.indexOf(RUNTIME_BEGIN);
  const b = old.indexOf(RUNTIME_END);
  if (a >= 0 && b > a) markdown = `${markdown.trimEnd()}\n\n${old.slice(a, b + RUNTIME_END.length)}\n`;
  // Infinity (a timed-out sample) and NaN (no figure) as strings: JSON has neither.
  writeFileSync(path.join(dir, 'results.json'), `${JSON.stringify(r, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 1)}\n`);
  for (const [name, svg] of Object.entries(plots(r))) writeFileSync(path.join(dir, 'plots', name), svg);
  writeFileSync(path.join(dir, 'RESULTS.md'), markdown);
}
