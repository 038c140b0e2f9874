// What the micro-benchmarks (bench:netns, bench:watch, bench:nft) share: their
// command-line values, and scratch namespaces with a veth pair to write to.

import { execFileSync } from 'node:child_process';

/** The value after `--name` on the command line. */
export function cliArg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** A number after `--name`, or `dflt`. */
export function cliNum(name: string, dflt: number): number {
  const v = cliArg(name);
  return v === undefined ? dflt : Number(v);
}

/** `ip netns add <name>` with d0 (10.77.0.1/24) and its peer d1, both up. */
export function vethNetns(name: string): void {
  execFileSync('ip', ['netns', 'add', name]);
  for (const c of [
    ['link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1'],
    ['link', 'set', 'd0', 'up'],
    ['link', 'set', 'd1', 'up'],
    ['addr', 'add', '10.77.0.1/24', 'dev', 'd0'],
  ])
    execFileSync('ip', ['-n', name, ...c]);
}

/** Deletes every `ip netns` whose name starts with `prefix` (this run's, or a killed run's). */
export function deleteNetns(prefix: string): void {
  const names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '');
  for (const n of names) if (n.startsWith(prefix)) execFileSync('ip', ['netns', 'del', n]);
}
