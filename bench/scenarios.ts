// The scenarios: (a) starts, restarts and bursts at N running containers,
// (b) a gateway with many dependents coming back on a new address,
// (c) start-up reconcile, (d) resident memory. Each latency sample carries
// both figures: the external observer's and Twine's own.

import type Docker from 'dockerode';
import { nativeBackend } from '../src/netns/backend.js';
import { TWINE_RT_PROTO } from '../src/netns/types.js';
import { selectTransport } from '../src/firewall/select.js';
import { BENCH_PREFIX, createContainer, fixedIp, fleetLabels, pool, readdressGateway, removeContainers, restartContainer, startContainer, type Gateway } from './fleet.js';
import { containerPids } from '../src/docker/cgroup.js';
import { namespacePid, watchAllApplied, watchApplied, watchRoutes } from './observer.js';
import { cpuMs, cpuTimes, rssMb, startTwine, stopTwine, txLines, waitApplied, waitReconciled, type BenchDaemon, type TxLine } from './daemon.js';
import type { BenchOptions, Transport } from './options.js';
import { StartEvents } from './events.js';
import type { WatchSeenBy } from './watch.js';
import { nowMs, sleep } from './stats.js';

export type Kind = 'start' | 'restart' | 'burst';

export interface Sample {
  kind: Kind;
  n: number;
  transport: Transport;
  container: string;
  /** Start event → the observer saw route and table; 0 when they were there before the start event. */
  externalMs: number;
  /** The same, signed: negative when route and table were seen that long before Docker's start event. */
  rawExternalMs?: number;
  /** Route and table were in place while the container's process was still runc's init, before its entrypoint ran. */
  beforeExec?: boolean;
  /** Twine's own: latencyMs of the transaction that applied it (or its log time − the start event). */
  twineMs: number;
  /** Docker's start event stamp → the bench received it. */
  eventDelayMs: number;
  /** Start event → the observer first saw the process / the route. */
  pidMs: number;
  routeMs: number;
  /** The process first seen → its namespace's watch subscribed. */
  subscribeMs?: number;
  /** How the observer's figure was taken: "check" when Twine committed before the watch subscribed (the check's return). */
  seenBy?: WatchSeenBy;
  /** The applying transaction's reasons and stages. */
  reasons: string[];
  stages: Record<string, number>;
  timedOut: boolean;
}

export interface FleetMember {
  id: string;
  name: string;
  gw: Gateway;
}

export interface Ctx {
  d: Docker;
  o: BenchOptions;
  events: StartEvents;
  gws: [Gateway, Gateway];
  fleet: FleetMember[];
  samples: Sample[];
  log: (msg: string) => void;
}

let serial = 0;

/**
 * Time given to many watches started at once to subscribe before the change
 * they wait for is triggered (200 take ~70 ms on 2 CPUs). Not required for
 * correctness (a change made earlier is seen by the watch's first check),
 * only so that each figure is a notification's, not a check's.
 */
const SUBSCRIBE_MS = 300;

/** Creates `count` labelled containers (not started); gateways alternate so half depend on each. */
export async function createMembers(c: Ctx, tag: string, count: number, offset = 0, runtime?: string, concurrency = 4): Promise<FleetMember[]> {
  return pool(Array.from({ length: count }, (_, i) => i), concurrency, async (i) => {
    const gw = c.gws[(offset + i) % 2]!;
    const name = `${BENCH_PREFIX}${tag}-${++serial}`;
    const id = await createContainer(c.d, { name, labels: fleetLabels(gw.name), ...(runtime ? { runtime } : {}) });
    return { id, name, gw };
  });
}

/** Grows the running fleet to n containers. */
export async function growFleet(c: Ctx, n: number): Promise<void> {
  const add = n - c.fleet.length;
  if (add <= 0) return;
  const t0 = nowMs();
  const members = await createMembers(c, 'f', add, c.fleet.length, undefined, c.o.fleetConcurrency);
  await pool(members, c.o.fleetConcurrency, (m) => startContainer(c.d, m.id));
  c.fleet.push(...members);
  c.log(`fleet: ${c.fleet.length} running (+${add} in ${((nowMs() - t0) / 1000).toFixed(1)} s)`);
}

function twineFigure(line: TxLine | undefined, eventMs: number): number {
  if (!line) return NaN;
  if (line.latencyMs !== undefined && line.reasons.includes('start')) return line.latencyMs;
  return line.time - eventMs;
}

/** Starts (or restarts) one container and measures it both ways. */
export async function measure(c: Ctx, b: BenchDaemon, m: FleetMember, kind: Kind, n: number): Promise<Sample> {
  const oldPids = kind === 'restart' ? containerPids(m.id) : [];
  const t0 = nowMs();
  const watching = watchApplied(m.id, { gatewayIp: m.gw.ip, oldPids, pollMs: c.o.pollMs });
  if (kind === 'restart') await restartContainer(c.d, m.id);
  else await startContainer(c.d, m.id);
  const obs = await watching;
  const ev = await c.events.startOf(m.id, t0);
  const line = await waitApplied(b, m.name, t0, 5000);
  // Applied before the start event: the stages are those of that transaction.
  const early = line?.beforeStartMs !== undefined ? txLines(b, m.name, t0).find((l) => l.reasons.includes('network ready') || l.reasons.includes('runtime hook')) : undefined;
  const evMs = ev?.timeMs ?? NaN;
  const raw = obs.timedOut ? Infinity : obs.doneMs - evMs;
  const s: Sample = {
    kind,
    n,
    transport: b.transport,
    container: m.name,
    externalMs: Math.max(0, raw),
    rawExternalMs: raw,
    ...(obs.beforeExec !== undefined ? { beforeExec: obs.beforeExec } : {}),
    twineMs: twineFigure(line, evMs),
    eventDelayMs: (ev?.receivedMs ?? NaN) - evMs,
    pidMs: obs.pidMs - evMs,
    routeMs: obs.routeMs - evMs,
    subscribeMs: obs.subscribedMs - obs.pidMs,
    ...(obs.doneBy ? { seenBy: obs.doneBy } : {}),
    reasons: early ? [...early.reasons, ...(line?.reasons ?? [])] : (line?.reasons ?? []),
    stages: (early ?? line)?.stages ?? {},
    timedOut: obs.timedOut,
  };
  c.samples.push(s);
  return s;
}

/** Scenario a at the fleet's current size, with one daemon. */
export async function churn(c: Ctx, b: BenchDaemon): Promise<void> {
  const n = c.fleet.length;
  const t = b.transport;
  // 1. new containers started one at a time
  const fresh = await createMembers(c, `s${t}`, c.o.starts);
  for (const m of fresh) await measure(c, b, m, 'start', n);
  await removeContainers(c.d, fresh.map((m) => m.id));
  await sleep(300);
  // 2. restarts of running ones (cycling when n < restarts)
  for (let i = 0; i < c.o.restarts; i++) await measure(c, b, c.fleet[(i * 7) % n]!, 'restart', n);
  // 3. bursts started at once
  for (let k = 0; k < c.o.bursts; k++) {
    const burst = await createMembers(c, `b${t}`, c.o.burst);
    await Promise.all(burst.map((m) => measure(c, b, m, 'burst', n)));
    await removeContainers(c.d, burst.map((m) => m.id));
    await sleep(300);
  }
  const mine = c.samples.filter((s) => s.n === n && s.transport === t);
  const bad = mine.filter((s) => s.timedOut || !Number.isFinite(s.externalMs)).length;
  c.log(`  a: n=${n} ${t}: ${mine.length} samples${bad ? `, ${bad} timed out or unmatched` : ''}`);
}

export interface GatewayRound {
  transport: Transport;
  dependents: number;
  round: number;
  /** Gateway's start event → the observer saw every dependent's route at the new address. */
  externalMs: number;
  /** Twine's own: the slowest dependent's transaction latency. */
  twineMs: number;
  /** Per-dependent observer figures (ms after the start event). */
  perDependentMs: number[];
  missing: number;
  /** Dependents whose route the watch's first check already saw (re-pointed before it subscribed). */
  byCheck?: number;
  /** Mean per stage over the dependents' transactions (and their count). */
  stagesMean: Record<string, number>;
  transactions: number;
  /** The daemon's CPU time (all threads) from the gateway's start to every dependent's line. */
  cpuMs?: number;
  /** Transaction lines per dependent in that time (1 when each was re-planned once). */
  txPerDependent?: number;
}

/** Waits until the daemon has logged nothing for `ms` (at most `maxMs`). */
async function quiet(b: BenchDaemon, ms: number, maxMs: number): Promise<void> {
  const end = nowMs() + maxMs;
  let count = b.d.lines.length;
  let since = nowMs();
  while (nowMs() < end) {
    await sleep(50);
    if (b.d.lines.length !== count) {
      count = b.d.lines.length;
      since = nowMs();
    } else if (nowMs() - since >= ms) return;
  }
}

/** Scenario b: gws[1] (half of the fleet depends on it) comes back on a new address. */
export async function gatewayMove(c: Ctx, b: BenchDaemon, out: GatewayRound[]): Promise<void> {
  const gw = c.gws[1];
  const deps = c.fleet.filter((m) => m.gw === gw).slice(0, c.o.dependents);
  for (let r = 0; r < c.o.gatewayRounds; r++) {
    const ip = gw.ip === fixedIp(3) ? fixedIp(4) : fixedIp(3);
    await readdressGateway(c.d, gw, ip);
    // The stop, disconnect and connect each re-plan every dependent (the kill
    // switch turns their routes unreachable): let that work drain first, so the
    // round measures the return alone.
    await quiet(b, 300, 20_000);
    const pids = deps.map((m) => namespacePid(m.id) ?? 0);
    const t0 = nowMs();
    const watching = watchRoutes(pids, ip);
    await sleep(SUBSCRIBE_MS);
    const cpu0 = cpuTimes(b);
    await startContainer(c.d, gw.id);
    const seen = await watching;
    const ev = await c.events.startOf(gw.id, t0);
    const evMs = ev?.timeMs ?? NaN;
    // Twine commits after the routes (the nft batch comes last): wait for every dependent's line.
    const lineOf = (m: FleetMember): TxLine | undefined =>
      txLines(b, m.name, t0).find((x) => x.msg === 'applied' && x.reasons.some((y) => y.startsWith('dependency')));
    for (let i = 0; i < 100 && deps.some((m) => !lineOf(m)); i++) await sleep(50);
    const cpuNow = cpuTimes(b);
    const [user, system] = [cpuNow.user - cpu0.user, cpuNow.system - cpu0.system];
    const cpu = user + system;
    // Every transaction line of the dependents since the gateway's start (not only the one that re-pointed).
    const txPerDep = deps.reduce((n, m) => n + txLines(b, m.name, t0).length, 0) / deps.length;
    const twine = deps.map((m) => {
      const l = lineOf(m);
      return l ? (l.latencyMs ?? l.time - evMs) : NaN;
    });
    const lines = deps.map(lineOf).filter((l): l is TxLine => l !== undefined);
    const stagesMean: Record<string, number> = {};
    for (const l of lines) for (const [k, v] of Object.entries(l.stages ?? {})) stagesMean[k] = (stagesMean[k] ?? 0) + v / lines.length;
    const per = seen.map((x) => x.ms - evMs);
    // The daemon's re-point step (src/engine/repoint.ts): routes written ahead of the transactions.
    const rp = b.d.lines.filter((l) => l.msg === 'dependents re-pointed: routes written ahead of their transactions' && Number(l.time) >= Math.floor(t0)) as unknown as { count: number; left?: number; submitMs: number; settledMs: number; time: number }[];
    const repointed = rp.length > 0 ? `, re-point step: ${rp.map((x) => `${x.count}${x.left ? ` (${x.left} busy, left to their transactions)` : ''} in ${x.submitMs.toFixed(1)} ms main thread, settled ${x.settledMs.toFixed(1)} ms, logged ${(x.time - evMs).toFixed(0)} ms after the start event`).join('; ')}` : '';
    const missing = per.filter((x) => !Number.isFinite(x)).length;
    out.push({
      transport: b.transport,
      dependents: deps.length,
      round: r,
      externalMs: missing ? NaN : Math.max(...per),
      twineMs: twine.some((x) => !Number.isFinite(x)) ? NaN : Math.max(...twine),
      perDependentMs: per,
      missing,
      byCheck: seen.filter((x) => x.byCheck).length,
      stagesMean,
      transactions: lines.length,
      cpuMs: cpu,
      txPerDependent: txPerDep,
    });
    c.log(`  b: ${b.transport} round ${r}: ${deps.length} dependents re-pointed in ${Math.max(...per).toFixed(1)} ms (observer), ${Math.max(...twine).toFixed(1)} ms (twine), daemon CPU ${cpu.toFixed(0)} ms (user ${user.toFixed(0)}, system ${system.toFixed(0)}), ${txPerDep.toFixed(2)} transactions per dependent${missing ? `, ${missing} missing` : ''}${repointed}`);
  }
}

export interface ReconcileRun {
  transport: Transport;
  containers: number;
  /** The daemon's own "reconciled" ms. */
  reconciledMs: number;
  /** Spawn of the daemon → its "reconciled" line. */
  spawnToReconciledMs: number;
  /** Spawn → the observer saw every container's route and table. */
  externalMs: number;
  missing: number;
  /** Containers whose state the watch's first check already saw. */
  byCheck?: number;
}

/** Removes Twine's work (proto-74 routes, table inet twine) from every fleet namespace, as if they were new. */
async function strip(c: Ctx): Promise<void> {
  const nft = selectTransport('auto');
  await pool(c.fleet, 4, async (m) => {
    const pid = namespacePid(m.id);
    if (!pid) return;
    for (const r of await nativeBackend.routeList({ pid }, { protocol: TWINE_RT_PROTO })) await nativeBackend.routeDel({ pid }, r);
    if (await nft.listTable({ pid }, 'inet', 'twine')) await nft.apply({ pid }, { nftables: [{ delete: { table: { family: 'inet', name: 'twine' } } }] });
  });
}

/** Scenario c: Twine starts after the fleet is up; none of them has Twine's state yet. */
export async function startupReconcile(c: Ctx, t: Transport, out: ReconcileRun[]): Promise<void> {
  await strip(c);
  const pids = c.fleet.map((m) => namespacePid(m.id) ?? 0);
  const ips = c.fleet.map((m) => m.gw.ip);
  const watching = watchAllApplied(pids, ips);
  await sleep(SUBSCRIBE_MS);
  const b = startTwine(t);
  const rec = await waitReconciled(b);
  const seen = await watching;
  const missing = seen.filter((x) => !Number.isFinite(x.ms)).length;
  const run: ReconcileRun = {
    transport: t,
    containers: c.fleet.length,
    reconciledMs: Number(rec.ms),
    spawnToReconciledMs: rec.time - b.spawnedMs,
    externalMs: missing ? NaN : Math.max(...seen.map((x) => x.ms)) - b.spawnedMs,
    missing,
    byCheck: seen.filter((x) => x.byCheck).length,
  };
  out.push(run);
  c.log(`  c: ${t}: reconciled ${c.fleet.length} in ${run.reconciledMs} ms (daemon); spawn → all applied ${run.externalMs.toFixed(0)} ms (observer)`);
  await stopTwine(b);
}

export interface SyncedRun {
  transport: Transport;
  containers: number;
  /** Per measured restart: daemon spawn → its "reconciled" line, every container checked (ms). */
  spawnToReconciledMs: number[];
  /** Per measured restart: the daemon's own "reconciled" ms (from its start-up sync's beginning). */
  reconciledMs: number[];
  /** Per measured restart: the daemon's CPU time (all threads) from spawn to shortly after "reconciled". */
  cpuMs?: number[];
  /** Per measured restart: fleet containers whose transaction found them in sync / had to change something. */
  inSync: number[];
  applied: number[];
}

/**
 * Labelled containers (the fleet and its gateways) the start-up sync found in
 * sync and changed, by the daemon's own count on its "reconciled" line: at
 * info level a full re-sync logs only the containers it changed.
 */
function outcomes(rec: Record<string, unknown>): { inSync: number; applied: number } {
  return { inSync: Number(rec.inSync), applied: Number(rec.applied) };
}

/**
 * Twine restarted (an upgrade) while every container is already as it wants it:
 * one daemon brings the fleet in sync, then each measured daemon's spawn → its
 * "reconciled" line (every labelled container observed and diffed).
 */
export async function reconcileSynced(c: Ctx, t: Transport, out: SyncedRun[]): Promise<SyncedRun> {
  const first = startTwine(t);
  await waitReconciled(first, 300_000);
  await stopTwine(first);
  const run: SyncedRun = { transport: t, containers: c.fleet.length, spawnToReconciledMs: [], reconciledMs: [], cpuMs: [], inSync: [], applied: [] };
  // With --cpu-prof, one more restart after the measured ones writes the profile (its figure is not counted).
  const profiled = c.o.cpuProfDir ? 1 : 0;
  for (let r = 0; r < c.o.rounds + profiled; r++) {
    const prof = r === c.o.rounds ? c.o.cpuProfDir : undefined;
    const b = startTwine(t, prof);
    const rec = await waitReconciled(b, 300_000);
    const cpu = cpuMs(b);
    const o = outcomes(rec);
    const ms = rec.time - b.spawnedMs;
    c.log(`  synced: ${t} ${prof ? 'profiled restart' : `round ${r}`}: ${c.fleet.length} containers, spawn → reconciled ${ms.toFixed(0)} ms (daemon ${String(rec.ms)} ms, CPU ${cpu.toFixed(0)} ms); ${o.inSync} in sync, ${o.applied} applied; ${String(rec.reused)} from saved inspects, ${String(rec.inspected)} inspected, ${String(rec.plansReused)} plans kept`);
    await stopTwine(b);
    if (prof) continue;
    run.spawnToReconciledMs.push(ms);
    run.reconciledMs.push(Number(rec.ms));
    run.cpuMs!.push(cpu);
    run.inSync.push(o.inSync);
    run.applied.push(o.applied);
  }
  out.push(run);
  return run;
}

export interface MemoryPoint {
  transport: Transport;
  /** Labelled bench containers running. */
  containers: number;
  rssMb: number;
  when: string;
  /** Measured once the daemon was idle for 10 s (steady state), not 1 s after a burst of work. */
  settled?: boolean;
}

export async function memoryAt(c: Ctx, b: BenchDaemon, out: MemoryPoint[], when: string, settle = false): Promise<void> {
  await sleep(1000);
  out.push({ transport: b.transport, containers: c.fleet.length, rssMb: rssMb(b), when });
  if (!settle) return;
  // Steady state: the daemon hands freed native memory back 5 s after its last transactions.
  await sleep(9000);
  out.push({ transport: b.transport, containers: c.fleet.length, rssMb: rssMb(b), when: `${when}, settled (10 s)`, settled: true });
}

export { startTwine, stopTwine, waitReconciled };
