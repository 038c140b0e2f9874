// Runs `twine start` as a child process for e2e tests: JSON log lines are
// collected and can be awaited; stop() sends a signal and reports how the
// process ended and how long it took.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OWNER_ENV } from './owner.js';

/** bin/twine.js of this checkout (this file is dist/test/bed/daemon.js). */
export const TWINE_BIN = fileURLToPath(new URL('../../../bin/twine.js', import.meta.url));

export interface LogLine {
  level: number;
  msg: string;
  time: number;
  [k: string]: unknown;
}

export interface DaemonOptions {
  /** Arguments after `start`. */
  args?: string[];
  /** Extra environment (added to the test's own). */
  env?: Record<string, string>;
  /** Default debug. */
  logLevel?: string;
  /** More node flags (e.g. --cpu-prof, which NODE_OPTIONS may not carry). */
  nodeFlags?: string[];
  /** Run it in this network namespace (a path such as /var/run/netns/<name>), as a second node's Twine. */
  netns?: string;
}

export interface DaemonExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** From stop()'s signal to the process's exit. */
  ms: number;
}

export class TestDaemon {
  readonly lines: LogLine[] = [];
  /** Non-JSON output (stderr and anything unparsable), for failure messages. */
  readonly other: string[] = [];
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly child: ChildProcess,
    /** The daemon's unix socket (status API). */
    readonly socket = '',
  ) {
    let buf = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          this.other.push(line);
        }
        for (const w of this.waiters) w();
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => this.other.push(chunk));
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        for (const w of this.waiters) w();
        resolve({ code, signal });
      });
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first log line (already seen or future) matching pred; rejects after timeoutMs or if the daemon exits. */
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      let from = 0;
      const check = (): void => {
        for (; from < this.lines.length; from++) {
          const l = this.lines[from]!;
          if (pred(l)) return done(undefined, l);
        }
        if (!this.running) done(new Error(`twine exited (${this.child.exitCode ?? this.child.signalCode}) before the expected log line${this.tail()}`));
      };
      const timer = setTimeout(() => done(new Error(`no matching log line within ${timeoutMs} ms${this.tail()}`)), timeoutMs);
      const done = (err?: Error, l?: LogLine): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (err) reject(err);
        else resolve(l!);
      };
      this.waiters.add(check);
      check();
    });
  }

  private tail(): string {
    const last = this.lines.slice(-10).map((l) => JSON.stringify(l));
    return `\n--- last log lines:\n${last.join('\n')}\n--- other output:\n${this.other.slice(-10).join('\n')}`;
  }

  /** Sends signal (default SIGTERM) and waits for the exit (SIGKILL after killAfterMs). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', killAfterMs = 5000): Promise<DaemonExit> {
    const t0 = performance.now();
    if (this.running) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), killAfterMs);
    const r = await this.exited;
    clearTimeout(timer);
    return { ...r, ms: performance.now() - t0 };
  }
}

let daemons = 0;

/** The node flags of bin/twine.js's shebang, so the test daemon runs as a deployed one does. */
export const TWINE_NODE_FLAGS: string[] = (readFileSync(TWINE_BIN, 'utf8').split('\n')[0] ?? '')
  .replace(/^#!.*?\bnode\b/, '')
  .trim()
  .split(/\s+/)
  .filter((f) => f.startsWith('--'));

/** Starts `twine start` with JSON logs; the process is tagged so a later cleanup can find it if this test dies. */
export function startDaemon(opts: DaemonOptions = {}): TestDaemon {
  // Each test daemon gets a socket of its own (the socket is also the one-per-host guard) and no TCP port.
  const socket = `/tmp/twt-sock-${process.pid}-${++daemons}.sock`;
  const argv = [process.execPath, ...TWINE_NODE_FLAGS, ...(opts.nodeFlags ?? []), TWINE_BIN, 'start', ...(opts.args ?? [])];
  // nsenter execs node, so the child's pid is the daemon's (`ip netns exec` would remount /sys).
  if (opts.netns !== undefined) argv.unshift('nsenter', `--net=${opts.netns}`);
  const child = spawn(argv[0]!, argv.slice(1), {
    env: {
      ...process.env,
      TWINE_SOCKET: socket,
      TWINE_LISTEN: 'none',
      TWINE_LOG_FORMAT: 'json',
      TWINE_LOG_LEVEL: opts.logLevel ?? 'debug',
      [OWNER_ENV]: String(process.pid),
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Its inspect cache and plans (kept beside the socket by default) go with the socket of its own.
  if (opts.env?.TWINE_SOCKET === undefined) {
    child.on('exit', () => {
      rmSync(`${socket}.inspects.json`, { force: true });
      rmSync(`${socket}.plans.json`, { force: true });
    });
  }
  return new TestDaemon(child, opts.env?.TWINE_SOCKET ?? socket);
}

/**
 * Starts `twine start` and waits for its first reconcile. A daemon that does
 * not get there is killed before the error is thrown (the caller never holds it).
 */
export async function startReconciled(opts: DaemonOptions = {}, timeoutMs = 10_000): Promise<TestDaemon> {
  const d = startDaemon(opts);
  try {
    await d.waitForLog((l) => l.msg === 'reconciled', timeoutMs);
  } catch (err) {
    await d.stop('SIGKILL');
    throw err;
  }
  return d;
}
