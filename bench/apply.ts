// `npm run bench [-- --quick] [-- --nft-transport=lib|exec]`: apply latency
// under churn against the real Docker engine (issue 7), with both nft
// transports side by side (issue 8). See bench/RESULTS.md for the method.
// The last line is `apply p50_ms=<x> p99_ms=<y> n=<samples>` (observer, first transport).

import { execFileSync } from 'node:child_process';
import { availableParallelism, release, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanup, createGateway, createNetwork, docker, fixedIp, BENCH_PREFIX } from './fleet.js';
import { parseOptions } from './options.js';
import { killDaemons } from './daemon.js';
import { StartEvents } from './events.js';
import { churn, gatewayMove, growFleet, memoryAt, startupReconcile, startTwine, stopTwine, waitReconciled, type Ctx } from './scenarios.js';
import { latencyTable, earlyTable, gatewayTable, reconcileTable, memoryTable, stageTable, writeResults, type Machine, type Results } from './report.js';
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
    notes: [],
  };
  log(`transports: ${o.transports.join(', ')}; sizes: ${o.sizes.join(', ')}${o.quick ? ' (quick)' : ''}`);
  await cleanup();
  const events = new StartEvents();
  await events.open(d);
  try {
    await createNetwork(d);
    const gws = [await createGateway(d, `${BENCH_PREFIX}gwa`, fixedIp(2)), await createGateway(d, `${BENCH_PREFIX}gwb`, fixedIp(3))] as Ctx['gws'];
    const c: Ctx = { d, o, events, gws, fleet: [], samples: results.samples, log };

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
        results.notes.push(`start-up reconcile of ${c.fleet.length} containers already configured (all in sync), ${t}: ${String(rec.ms)} ms`);
        await memoryAt(c, b, results.memory, `after start-up with ${c.fleet.length}`, true);
        await stopTwine(b);
      }
    }
  } finally {
    events.close();
    log('cleaning up');
    await cleanup();
  }

  results.durationS = (nowMs() - t0) / 1000;
  const bad = results.samples.filter((s) => !Number.isFinite(s.externalMs) || s.timedOut);
  if (bad.length) results.notes.push(`${bad.length} sample(s) timed out or had no matching start event (counted as infinite when timed out): ${bad.slice(0, 5).map((s) => s.container).join(', ')}`);
  console.log(`\n${latencyTable(results)}\n\n${stageTable(results)}\n\n${earlyTable(results)}\n`);
  if (results.gateway.length) console.log(`${gatewayTable(results)}\n`);
  if (results.reconcile.length) console.log(`${reconcileTable(results)}\n`);
  console.log(`${memoryTable(results)}\n`);
  if (o.write) {
    writeResults(results, o.outDir, resultsPage(results));
    log(`wrote ${path.join(o.outDir, 'RESULTS.md')}, results.json and plots/`);
  }
  const first = results.samples.filter((s) => s.transport === o.transports[0]);
  const sel = summarize(first.map((s) => s.externalMs));
  console.log(`${o.transports[0]}: in place before Docker's start event ${first.filter((s) => (s.rawExternalMs ?? 0) < 0).length} of ${first.length}; before the container's process ran ${first.filter((s) => s.beforeExec).length} of ${first.length}`);
  console.log(`apply p50_ms=${sel.p50.toFixed(2)} p99_ms=${sel.p99.toFixed(2)} n=${sel.n}`);
  return 0;
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error(`bench: ${sig}, removing the bench's daemons, containers and network`);
    killDaemons();
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
