// docker-compose (1.29, Debian's, installed by setup-host.sh) on the shipped
// examples, with an override file the test writes: compose merges it over the
// example, so the example's own settings (capabilities, mounts, pid, networks)
// are what runs, and the override only swaps what this machine cannot have
// (images from a registry, fixed names, host paths) and adds the test labels.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runAllowFail, type RunResult } from './exec.js';
import { OWNER_LABEL, TEST_LABEL } from './owner.js';

export const EXAMPLES_DIR = fileURLToPath(new URL('../../../examples/', import.meta.url));

/** examples/<name>/docker-compose.yml */
export function exampleFile(name: string): string {
  return path.join(EXAMPLES_DIR, name, 'docker-compose.yml');
}

/** The labels every test container carries (cleanup finds leftovers by them). */
export function testLabelMap(): Record<string, string> {
  return { [TEST_LABEL]: '1', [OWNER_LABEL]: String(process.pid) };
}

/**
 * Writes a compose override (JSON is YAML) for services of an example, with
 * the test labels added to each and `restart: "no"` (a leftover must not come
 * back); returns its path.
 */
export function writeOverride(file: string, services: Record<string, Record<string, unknown>>): string {
  const withLabels = Object.fromEntries(
    Object.entries(services).map(([name, s]) => [name, { restart: 'no', ...s, labels: { ...testLabelMap(), ...((s.labels as Record<string, string>) ?? {}) } }]),
  );
  writeFileSync(file, JSON.stringify({ version: '2.4', services: withLabels }, null, 2));
  return file;
}

export interface ComposeOptions {
  /** Project name: a twt-* prefix, so that compose's containers and networks are test resources. */
  project: string;
  files: string[];
  /** Where relative paths in the files point (compose's default: the first file's directory). */
  projectDirectory?: string;
  timeoutMs?: number;
}

export function compose(opts: ComposeOptions, args: readonly string[]): Promise<RunResult> {
  const pre = ['-p', opts.project, ...opts.files.flatMap((f) => ['-f', f])];
  if (opts.projectDirectory) pre.push('--project-directory', opts.projectDirectory);
  return runAllowFail('docker-compose', [...pre, ...args], { timeoutMs: opts.timeoutMs ?? 120_000 });
}
