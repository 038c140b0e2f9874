// Running host tools for tests: argument arrays only (never a shell string).

import { execa } from 'execa';

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs a command and returns its stdout; throws (with stderr in the message) when it exits non-zero. */
export async function run(cmd: string, args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await runAllowFail(cmd, args, opts);
  if (r.exitCode !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.exitCode}: ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}

/** Runs a command and reports its exit code instead of throwing. */
export async function runAllowFail(
  cmd: string,
  args: readonly string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const r = await execa(cmd, [...args], {
    reject: false,
    input: opts.input,
    timeout: opts.timeoutMs ?? 30_000,
    stripFinalNewline: false,
  });
  if (r.failed && r.exitCode === undefined) {
    throw new Error(`${cmd} ${args.join(' ')}: ${r.message}`);
  }
  return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? -1 };
}

/** Parses `... -j ...` JSON output (empty output is an empty list). */
export function parseJson<T>(text: string): T {
  const t = text.trim();
  return JSON.parse(t === '' ? '[]' : t) as T;
}
