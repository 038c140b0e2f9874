// Command line of `npm run bench -- [--quick] [--nft-transport=lib|exec] [--out dir]`.

import { libTransportAvailable } from '../src/firewall/transport-lib.js';

export type Transport = 'lib' | 'exec';

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
  const t = value(argv, 'nft-transport');
  if (t !== undefined && t !== 'lib' && t !== 'exec') throw new Error(`--nft-transport=${t}: expected lib or exec`);
  const lib = libTransportAvailable();
  if (t === 'lib' && !lib) throw new Error('--nft-transport=lib: the addon was built without libnftables');
  const transports: Transport[] = t ? [t] : lib ? ['lib', 'exec'] : ['exec'];
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
    dependents: num('dependents', quick ? 0 : 100),
    gatewayRounds: num('gateway-rounds', 5),
    reconcileN: num('reconcile', quick ? 0 : 200),
    memoryN: num('memory', quick ? 0 : 1000),
    pollMs: num('poll-ms', 1),
  };
}
