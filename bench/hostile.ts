// `node dist/bench/hostile.js [--set hostile|under] [--resync <s>] [-- <twine start args>]`:
// the daemon's time and peak memory with one container whose labels expand
// to many firewall rules, against the real Docker engine. Run it
// under the Docker lock; it needs root (it resets the daemon's VmHWM through
// /proc/<pid>/clear_refs so each phase has a peak of its own).
//
// Phases, each with the daemon's VmHWM (peak RSS) and /healthz probes (every
// 200 ms, 2 s timeout, as a health check would):
// - first apply: the daemon runs, the container starts; until its first outcome
//   (applied, or refused) and 3 s of quiet;
// - first resync: from the periodic re-check's tick to the container's outcome;
// - restart: SIGTERM, a new daemon with the container still running, until it
//   has reconciled.
// Sets: "hostile" = 80 labels twine.nat.forward.e<k>.1000-1255=10.0.0.9:2000
// (20,743 rules before limits); "under" = a set of that shape at the default
// --max-rules: 4,096 rules, the most a container may have.

import { readFileSync, writeFileSync } from 'node:fs';
import { getJson } from '../src/server/client.js';
import { cleanupLeftovers, ensureImage, removeContainer, runContainer, startDaemon, type LogLine, type TestDaemon } from '../test/bed/index.js';

const PREFIX = 'twt-hostile-';
const NAME = `${PREFIX}c`;

function labelSet(set: string): Record<string, string> {
  const labels: Record<string, string> = {};
  if (set === 'hostile') {
    for (let k = 0; k < 80; k++) labels[`twine.nat.forward.e${k}.1000-1255`] = '10.0.0.9:2000';
  } else if (set === 'under') {
    // 14 × 256 + 254 PREROUTING, 256 OUTPUT_NAT (shared by all), 2 masquerade: 4,096 rules (+6 jumps), the default limit.
    for (let k = 0; k < 14; k++) labels[`twine.nat.forward.e${k}.1000-1255`] = '10.0.0.9:2000';
    labels['twine.nat.forward.e14.1000-1253'] = '10.0.0.9:2000';
  } else throw new Error(`--set ${set}: expected hostile or under`);
  return labels;
}

function status(pid: number, key: string): number {
  const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0, "5" in clear_refs). */
function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

interface Probe {
  ms: number;
  ok: boolean;
  error?: string;
}

class Prober {
  probes: Probe[] = [];
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly socket: string) {}
  start(): void {
    this.probes = [];
    const tick = (): void => {
      const t = performance.now();
      getJson({ socket: this.socket }, '/healthz', 2000).then(
        (r) => this.probes.push({ ms: performance.now() - t, ok: r.status === 200 }),
        (err: unknown) => this.probes.push({ ms: performance.now() - t, ok: false, error: String(err) }),
      );
    };
    tick();
    this.timer = setInterval(tick, 200);
  }
  stop(): { probes: number; failed: number; timedOut: number; unreachable: number; maxMs: number } {
    if (this.timer) clearInterval(this.timer);
    const p = this.probes;
    return {
      probes: p.length,
      failed: p.filter((x) => !x.ok).length,
      timedOut: p.filter((x) => x.error?.includes('no answer within') === true).length,
      unreachable: p.filter((x) => x.error !== undefined && !x.error.includes('no answer within')).length,
      maxMs: Math.round(Math.max(0, ...p.map((x) => x.ms))),
    };
  }
}

const OUTCOMES = new Set(['applied', 'in sync, nothing sent', 'start: already in place', 'labels invalid: nothing applied, last good state kept', 'transaction failed, rolled back']);
const isOutcome = (l: LogLine): boolean => l.container === NAME && OUTCOMES.has(l.msg);

async function quiet(d: TestDaemon, ms: number): Promise<void> {
  for (;;) {
    const n = d.lines.length;
    await new Promise((r) => setTimeout(r, ms));
    if (d.lines.length === n) return;
  }
}

function start(resyncS: number, extra: string[], socket: string): TestDaemon {
  return startDaemon({ args: [`--resync-interval=${resyncS}`, ...extra], logLevel: 'info', env: { TWINE_SOCKET: socket } });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const dd = argv.indexOf('--');
  const extra = dd >= 0 ? argv.slice(dd + 1) : [];
  const own = dd >= 0 ? argv.slice(0, dd) : argv;
  const opt = (name: string, def: string): string => {
    const i = own.indexOf(`--${name}`);
    return i >= 0 && own[i + 1] !== undefined ? own[i + 1]! : def;
  };
  const set = opt('set', 'hostile');
  const resyncS = Number(opt('resync', '40'));
  const labels = labelSet(set);
  const socket = `/tmp/twt-hostile-${process.pid}.sock`;
  const out: Record<string, unknown> = { set, labels: Object.keys(labels).length, resyncS, extra };
  await cleanupLeftovers(PREFIX);
  await ensureImage();
  let d = start(resyncS, extra, socket);
  const daemons = [d];
  try {
    const starting = await d.waitForLog((l) => l.msg === 'twine starting', 30_000);
    await d.waitForLog((l) => l.msg === 'reconciled', 60_000);
    const pid1 = d.child.pid!;
    const prober = new Prober(socket);

    // first apply
    resetPeak(pid1);
    prober.start();
    const t0 = Date.now();
    await runContainer({ name: NAME, labels });
    const first = await d.waitForLog(isOutcome, 300_000);
    await quiet(d, 3000);
    out.firstApply = { outcome: first.msg, ms: first.time - t0, stages: first.stages, err: first.err, peakMb: status(pid1, 'VmHWM'), rssMb: status(pid1, 'VmRSS'), health: prober.stop() };
    console.log('first apply', JSON.stringify(out.firstApply));

    // first resync: the interval timer starts right after the 'twine starting' line
    resetPeak(pid1);
    prober.start();
    const tick = starting.time + resyncS * 1000;
    const mark = d.lines.length;
    const resync = await d.waitForLog((l) => d.lines.indexOf(l) >= mark && isOutcome(l) && l.time >= tick - 50, (resyncS + 300) * 1000);
    await quiet(d, 2000);
    out.firstResync = { outcome: resync.msg, ms: resync.time - tick, stages: resync.stages, peakMb: status(pid1, 'VmHWM'), rssMb: status(pid1, 'VmRSS'), health: prober.stop() };
    console.log('first resync', JSON.stringify(out.firstResync));

    // restart with the container running
    prober.start();
    const stop = await d.stop('SIGTERM', 10_000);
    const t1 = Date.now();
    d = start(resyncS, extra, socket);
    daemons.push(d);
    const rec = await d.waitForLog((l) => l.msg === 'reconciled', 300_000);
    const pid2 = d.child.pid!;
    const peakAtReconciled = status(pid2, 'VmHWM');
    await quiet(d, 3000);
    out.restart = {
      stopMs: Math.round(stop.ms),
      ms: rec.time - t1,
      reconcileMs: rec.ms,
      peakMb: peakAtReconciled,
      rssAfterMb: status(pid2, 'VmRSS'),
      health: prober.stop(),
    };
    console.log('restart', JSON.stringify(out.restart));
  } finally {
    for (const x of daemons) await x.stop('SIGKILL');
    await removeContainer(NAME);
  }
  console.log(JSON.stringify(out));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
