// Command line of `npm run bench -- [--quick] [--nft-transport=lib|exec] [--out dir]`,
// or one scenario alone: `--scenario reconcile-synced|repoint|memory [--n N] [--dependents D]`.

import { libTransportAvailable } from '../src/firewall/transport-lib.js';

export type Transport = 'lib' | 'exec';

/** A scenario run on its own, ending with its one line (see apply.ts). */
export const SCENARIOS = ['reconcile-synced', 'repoint', 'memory'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface BenchOptions {
  quick: boolean;
  /** Transports to run, in order; the first is the one the last line reports. */
  transports: Transport[];
  /** Directory for results.json, RESULTS.md and the plots (full runs only by default). */
  outDir: string;
  /** Write RESULTS.md/results.json/plots (default: full runs yes, quick runs no). */
  write: boolean;
  sizes: number[];
  starts: number;
  restarts: number;
  burst: number;
  bursts: number;
  /** Scenario b: dependents of one gateway and repetitions. */
  dependents: number;
  gatewayRounds: number;
  /** Scenario c: containers reconciled at start-up (0 skips). */
  reconcileN: number;
  /** Scenario d: containers for the memory figure (0 skips). */
  memoryN: number;
  /** How often the observer reads a started container's cgroup for its process (the namespace itself is watched, not polled). */
  pollMs: number;
  /** Docker requests at once while the fleet grows (creates, then starts). */
  fleetConcurrency: number;
  /** Run only these scenarios (a fleet of their own; lib, or the --nft-transport list), each ending with its line. */
  scenarios?: Scenario[];
  /** Scenario alone: containers in the fleet (reconcile-synced, memory). */
  n: number;
  /** reconcile-synced: daemon restarts measured (the line gives their median). */
  rounds: number;
  /** Write each daemon's V8 CPU profile (node --cpu-prof) into this directory. */
  cpuProfDir?: string;
}

function value(argv: string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}`) return argv[i + 1];
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}

export function parseOptions(argv: string[], benchDir: string): BenchOptions {
  const quick = argv.includes('--quick');
  // One scenario, or several sharing one fleet (reconcile-synced,memory): each ends with its line.
  const scenarios = value(argv, 'scenario')?.split(',');
  for (const x of scenarios ?? []) if (!(SCENARIOS as readonly string[]).includes(x)) throw new Error(`--scenario=${x}: expected one of ${SCENARIOS.join(', ')}`);
  const scenario = scenarios?.[0];
  const t = value(argv, 'nft-transport')?.split(',');
  for (const x of t ?? []) if (x !== 'lib' && x !== 'exec') throw new Error(`--nft-transport=${x}: expected lib or exec (or both, comma-separated)`);
  const lib = libTransportAvailable();
  if (t?.includes('lib') && !lib) throw new Error('--nft-transport=lib: the addon was built without libnftables');
  // A scenario alone runs one transport (its line is that transport's): lib when built with it.
  const transports: Transport[] = t ? (t as Transport[]) : lib ? (scenario ? ['lib'] : ['lib', 'exec']) : ['exec'];
  const num = (name: string, dflt: number): number => {
    const v = value(argv, name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name}=${v}: expected a whole number`);
    return n;
  };
  const sizes = value(argv, 'sizes')?.split(',').map(Number) ?? (quick ? [10] : [10, 50, 200]);
  const write = argv.includes('--no-write') ? false : argv.includes('--write') || !quick;
  return {
    quick,
    transports,
    outDir: value(argv, 'out') ?? benchDir,
    write,
    sizes,
    starts: num('starts', quick ? 20 : 50),
    restarts: num('restarts', quick ? 10 : 50),
    burst: num('burst', quick ? 10 : 20),
    bursts: num('bursts', quick ? 1 : 3),
    dependents: num('dependents', quick && !scenarios ? 0 : 100),
    gatewayRounds: num('gateway-rounds', 5),
    reconcileN: num('reconcile', quick ? 0 : 200),
    memoryN: num('memory', quick ? 0 : 1000),
    pollMs: num('poll-ms', 1),
    ...(scenarios ? { scenarios: scenarios as Scenario[] } : {}),
    n: num('n', 1000),
    fleetConcurrency: num('fleet-concurrency', 8),
    rounds: num('rounds', 3),
    ...(value(argv, 'cpu-prof') !== undefined ? { cpuProfDir: value(argv, 'cpu-prof')! } : {}),
  };
}
