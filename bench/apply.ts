// `npm run bench [-- --quick] [-- --nft-transport=lib|exec]`: apply latency
// under churn against the real Docker engine, with both nft
// transports side by side. See bench/RESULTS.md for the method.
// The last line is `apply p50_ms=<x> p99_ms=<y> n=<samples>` (observer, first transport).
// `--scenario reconcile-synced|repoint|memory` runs one scenario alone (one transport) and
// ends with its line instead (./lines.ts).

import { execFileSync } from 'node:child_process';
import { availableParallelism, release, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanup, createGateway, createNetwork, docker, fixedIp, BENCH_PREFIX } from './fleet.js';
import { parseOptions } from './options.js';
import { killDaemons, removeInspectCache } from './daemon.js';
import { StartEvents } from './events.js';
import { churn, gatewayMove, growFleet, memoryAt, reconcileSynced, startupReconcile, startTwine, stopTwine, waitReconciled, type Ctx } from './scenarios.js';
import { repointLine, rssLine, syncedLine } from './lines.js';
import { latencyTable, earlyTable, gatewayTable, reconcileTable, memoryTable, stageTable, syncedTable, writeResults, type Machine, type Results } from './report.js';
import { resultsPage } from './page.js';
import { nowMs, summarize } from './stats.js';

/** bench/ of the checkout (this file runs as dist/bench/apply.js). */
const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench');

async function machine(d: ReturnType<typeof docker>): Promise<Machine> {
  let nft = 'nft ?';
  try {
    nft = execFileSync('nft', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    // not installed: the exec transport would fail anyway
  }
  return { nproc: availableParallelism(), kernel: release(), docker: (await d.version()).Version, node: process.version, nft, memTotalMb: Math.round(totalmem() / 2 ** 20) };
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const o = parseOptions(argv, BENCH_DIR);
  const t0 = nowMs();
  const log = (msg: string): void => console.log(`[${((nowMs() - t0) / 1000).toFixed(0).padStart(4)} s] ${msg}`);
  const d = docker();
  const results: Results = {
    startedAt: new Date().toISOString(),
    durationS: 0,
    command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
    machine: await machine(d),
    options: o,
    samples: [],
    gateway: [],
    reconcile: [],
    memory: [],
    synced: [],
    notes: [],
  };
  log(`transports: ${o.transports.join(', ')}; sizes: ${o.sizes.join(', ')}${o.quick ? ' (quick)' : ''}`);
  await cleanup();
  const events = new StartEvents();
  await events.open(d);
  let scenarioLines: (string | undefined)[] = [];
  try {
    await createNetwork(d);
    const gws = [await createGateway(d, `${BENCH_PREFIX}gwa`, fixedIp(2)), await createGateway(d, `${BENCH_PREFIX}gwb`, fixedIp(3))] as Ctx['gws'];
    const c: Ctx = { d, o, events, gws, fleet: [], samples: results.samples, log };
    if (o.scenarios) scenarioLines = await scenariosAlone(c, results);
    else await fullRun(c, results);
  } finally {
    events.close();
    log('cleaning up');
    await cleanup();
    removeInspectCache();
  }

  if (o.scenarios) {
    // The scenarios' lines, last (their tables came before the clean-up).
    for (const [i, l] of scenarioLines.entries()) console.log(l ?? `${o.scenarios[i % o.scenarios.length]!}: no figure`);
    return scenarioLines.every((l) => l !== undefined) ? 0 : 1;
  }
  results.durationS = (nowMs() - t0) / 1000;
  const bad = results.samples.filter((s) => !Number.isFinite(s.externalMs) || s.timedOut);
  if (bad.length) results.notes.push(`${bad.length} sample(s) timed out or had no matching start event (counted as infinite when timed out): ${bad.slice(0, 5).map((s) => s.container).join(', ')}`);
  console.log(`\n${latencyTable(results)}\n\n${stageTable(results)}\n\n${earlyTable(results)}\n`);
  if (results.gateway.length) console.log(`${gatewayTable(results)}\n`);
  if (results.reconcile.length) console.log(`${reconcileTable(results)}\n`);
  if (results.synced.length) console.log(`${syncedTable(results)}\n`);
  console.log(`${memoryTable(results)}\n`);
  if (o.write) {
    writeResults(results, o.outDir, resultsPage(results));
    log(`wrote ${path.join(o.outDir, 'RESULTS.md')}, results.json and plots/`);
  }
  const first = results.samples.filter((s) => s.transport === o.transports[0]);
  const sel = summarize(first.map((s) => s.externalMs));
  console.log(`${o.transports[0]}: in place before Docker's start event ${first.filter((s) => (s.rawExternalMs ?? 0) < 0).length} of ${first.length}; before the container's process ran ${first.filter((s) => s.beforeExec).length} of ${first.length}`);
  // The restart, re-pointing and memory figures, per transport (the scenarios' own lines, with the transport named).
  for (const t of o.transports) {
    const lines = [syncedLine(results, t), repointLine(results, t), rssLine(results, t)].filter((x): x is string => x !== undefined);
    for (const l of lines) console.log(`${l} transport=${t}`);
  }
  console.log(`apply p50_ms=${sel.p50.toFixed(2)} p99_ms=${sel.p99.toFixed(2)} n=${sel.n}`);
  return 0;
}

/** Every scenario, both transports where built: the tables of RESULTS.md. */
async function fullRun(c: Ctx, results: Results): Promise<void> {
  const { o, gws } = c;
  // d (idle): no labelled container yet
  for (const t of o.transports) {
    const b = startTwine(t);
    await waitReconciled(b);
    await memoryAt(c, b, results.memory, 'idle');
    await stopTwine(b);
  }

  const largest = Math.max(...o.sizes);
  for (const n of o.sizes) {
    await growFleet(c, n);
    for (const t of o.transports) {
      const b = startTwine(t);
      await waitReconciled(b);
      await churn(c, b);
      if (n === largest && o.dependents > 0) {
        const deps = c.fleet.filter((m) => m.gw === gws[1]).length;
        if (deps < o.dependents) results.notes.push(`scenario b ran with ${deps} dependents (the fleet of ${n} has no more)`);
        await gatewayMove(c, b, results.gateway);
      }
      await memoryAt(c, b, results.memory, `after scenario a at N=${n}`);
      await stopTwine(b);
    }
  }

  if (o.reconcileN > 0) {
    await growFleet(c, o.reconcileN);
    if (c.fleet.length !== o.reconcileN) results.notes.push(`scenario c reconciled ${c.fleet.length} containers (the fleet was already larger than ${o.reconcileN})`);
    for (const t of o.transports) await startupReconcile(c, t, results.reconcile);
  }

  if (o.memoryN > 0) {
    try {
      await growFleet(c, o.memoryN);
    } catch (err) {
      results.notes.push(`scenario d: growing to ${o.memoryN} containers stopped at ${c.fleet.length}: ${(err as Error).message}`);
    }
    for (const t of o.transports) {
      const b = startTwine(t);
      const rec = await waitReconciled(b, 300_000);
      results.notes.push(`start-up reconcile of ${c.fleet.length} containers (${t}; those started since the last daemon ran are new to it): ${String(rec.ms)} ms`);
      await memoryAt(c, b, results.memory, `after start-up with ${c.fleet.length}`, true);
      await stopTwine(b);
      await reconcileSynced(c, t, results.synced);
    }
  }
}

/**
 * Scenarios alone, on a fleet of their own (the largest any of them needs), per
 * transport: their tables, and their lines, the first transport's last and in the
 * order asked (undefined where a scenario gave no figure).
 */
async function scenariosAlone(c: Ctx, results: Results): Promise<(string | undefined)[]> {
  const { o } = c;
  const asked = o.scenarios ?? [];
  if (asked.includes('memory')) {
    // The baseline: the same daemon with no labelled container yet.
    for (const t of o.transports) {
      const b = startTwine(t);
      await waitReconciled(b);
      await memoryAt(c, b, results.memory, 'idle');
      await stopTwine(b);
    }
  }
  await growFleet(c, Math.max(asked.includes('repoint') ? 2 * o.dependents : 0, asked.some((x) => x !== 'repoint') ? o.n : 0));
  const lines = new Map<string, string | undefined>();
  for (const t of o.transports) {
    // Memory first: its daemon is the one that brings a new fleet in sync.
    if (asked.includes('memory')) {
      // Never profiled: the profiler's own memory would count.
      const b = startTwine(t);
      const rec = await waitReconciled(b, 300_000);
      c.log(`  d: ${t}: start-up with ${c.fleet.length} reconciled in ${String(rec.ms)} ms`);
      await memoryAt(c, b, results.memory, `after start-up with ${c.fleet.length}`, true);
      await stopTwine(b);
      lines.set(`memory ${t}`, rssLine(results, t));
    }
    if (asked.includes('repoint')) {
      // Half of the fleet depends on the gateway that moves.
      const b = startTwine(t, o.cpuProfDir);
      await waitReconciled(b, 300_000);
      await gatewayMove(c, b, results.gateway);
      await stopTwine(b);
      lines.set(`repoint ${t}`, repointLine(results, t));
    }
    if (asked.includes('reconcile-synced')) {
      await reconcileSynced(c, t, results.synced);
      lines.set(`reconcile-synced ${t}`, syncedLine(results, t));
    }
  }
  if (results.memory.length) console.log(`\n${memoryTable(results)}`);
  if (results.gateway.length) console.log(`\n${gatewayTable(results)}`);
  if (results.synced.length) console.log(`\n${syncedTable(results)}`);
  console.log('');
  const [first, ...others] = o.transports;
  const out: (string | undefined)[] = [];
  for (const t of others) for (const x of asked) out.push(`${lines.get(`${x} ${t}`) ?? `${x}: no figure`} transport=${t}`);
  for (const x of asked) out.push(lines.get(`${x} ${first!}`));
  return out;
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error(`bench: ${sig}, removing the bench's daemons, containers and network`);
    killDaemons();
    removeInspectCache();
    cleanup().finally(() => process.exit(130));
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
