// The daemon under test: `twine start` as a child process (the test bed's
// runner) with a private socket, no TCP listener and JSON logs at info level,
// plus what the bench reads from it: transaction lines and resident memory.

import { readFileSync, rmSync } from 'node:fs';
import { startDaemon, type LogLine, type TestDaemon } from '../test/bed/index.js';
import type { Transport } from './options.js';
import { nowMs } from './stats.js';

export interface TxLine extends LogLine {
  container: string;
  reasons: string[];
  latencyMs?: number;
  /** Set when the start event found everything applied earlier: by how much. */
  beforeStartMs?: number;
  changed?: { routes: number; sysctls: number; nft: number };
  stages?: Record<string, number>;
}

export interface BenchDaemon {
  d: TestDaemon;
  transport: Transport;
  /** Wall clock when it was spawned. */
  spawnedMs: number;
}

/** The daemons' unix socket (one daemon at a time): the runtime bench's hook asks there. */
export const BENCH_SOCKET = `/tmp/twt-bench-${process.pid}.sock`;

/** The daemons' inspect cache and plans (beside the socket): kept from one daemon to the next, as across a restart; removed with the fleet. */
export function removeInspectCache(): void {
  rmSync(`${BENCH_SOCKET}.inspects.json`, { force: true });
  rmSync(`${BENCH_SOCKET}.plans.json`, { force: true });
}

/** With `cpuProfDir`, the daemon writes its V8 CPU profile there when it exits. */
export function startTwine(transport: Transport, cpuProfDir?: string): BenchDaemon {
  const spawnedMs = nowMs();
  const d = startDaemon({
    args: [`--nft-transport=${transport}`, '--resync-interval=0', '--listen=none'],
    env: { TWINE_SOCKET: BENCH_SOCKET },
    ...(cpuProfDir ? { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] } : {}),
    // What a deployment runs: debug would add a line per Docker event and per change.
    logLevel: 'info',
  });
  const b = { d, transport, spawnedMs };
  live.add(b);
  return b;
}

const live = new Set<BenchDaemon>();

/** SIGKILLs the daemons this bench started and has not stopped (on an interrupted run). */
export function killDaemons(): void {
  for (const b of live) b.d.child.kill('SIGKILL');
  live.clear();
}

export async function stopTwine(b: BenchDaemon): Promise<void> {
  const r = await b.d.stop('SIGTERM', 5000);
  live.delete(b);
  if (r.code !== 0) console.error(`bench: twine (${b.transport}) exited ${r.code ?? r.signal}`);
}

/** The "reconciled" line of the daemon's first full sync. */
export function waitReconciled(b: BenchDaemon, timeoutMs = 120_000): Promise<LogLine> {
  return b.d.waitForLog((l) => l.msg === 'reconciled', timeoutMs);
}

export function isTx(l: LogLine): l is TxLine {
  // The last: the start event's check of a transaction applied before it (it carries the latency).
  return (l.msg === 'applied' || l.msg === 'in sync, nothing sent' || l.msg === 'start: already in place') && typeof l.container === 'string';
}

/** Transaction lines of one container logged at or after `sinceMs` (pino's time, ms). */
export function txLines(b: BenchDaemon, container: string, sinceMs: number): TxLine[] {
  return b.d.lines.filter((l): l is TxLine => isTx(l) && l.container === container && l.time >= Math.floor(sinceMs));
}

/**
 * Waits for the transaction of `container`'s start event at or after sinceMs:
 * "applied", or "in sync" when Twine had applied before the start event.
 */
export function waitApplied(b: BenchDaemon, container: string, sinceMs: number, timeoutMs = 15_000): Promise<TxLine | undefined> {
  return b.d
    .waitForLog((l) => isTx(l) && l.container === container && l.reasons.includes('start') && l.time >= Math.floor(sinceMs), timeoutMs)
    .then((l) => l as TxLine)
    .catch(() => undefined);
}

/** CPU time (user + system, all threads) the daemon has used since it was spawned, in ms: a figure a loaded host does not inflate as it does wall time. */
export function cpuMs(b: BenchDaemon): number {
  const t = cpuTimes(b);
  return t.user + t.system;
}

/** The same, split: user (JavaScript, libnftables) and system (the kernel: netlink, nftables commits, syscalls). */
export function cpuTimes(b: BenchDaemon): { user: number; system: number } {
  const stat = readFileSync(`/proc/${b.d.child.pid}/stat`, 'utf8');
  // Fields after the command (which may hold spaces) start at state; utime and stime are the 12th and 13th after it.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: (Number(f[11]) * 1000) / CLK_TCK, system: (Number(f[12]) * 1000) / CLK_TCK };
}

/** USER_HZ: 100 on every Linux architecture Node runs on. */
const CLK_TCK = 100;

/** The daemon's VmRSS in MB. */
export function rssMb(b: BenchDaemon): number {
  const pid = b.d.child.pid;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
