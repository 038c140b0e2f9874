// Route replace + sysctl set in a namespace: the native addon against
// spawning `nsenter --net=<path> ip route replace …` + `nsenter … sysctl -w …`.
// Usage: node dist/bench/netns.js [--n 200]. The last line is `ratio: <x>`
// (spawn median / addon median).

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { performance } from 'node:perf_hooks';
import { cliNum, deleteNetns, vethNetns } from './scratch.js';
import { nativeBackend as nb } from '../src/netns/backend.js';
import { TWINE_RT_PROTO, type NsTarget } from '../src/netns/types.js';

const run = promisify(execFile);
const NS = 'twt-bench-nl';
const PATH = `/var/run/netns/${NS}`;
const target: NsTarget = { path: PATH };

function stats(ms: number[]): { median: number; p99: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { median: at(0.5), p99: at(0.99) };
}

async function measure(n: number, once: (i: number) => Promise<void>): Promise<number[]> {
  for (let i = 0; i < Math.min(10, n); i++) await once(i); // warm-up
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await once(i);
    out.push(performance.now() - t0);
  }
  return out;
}

async function main(): Promise<void> {
  const n = cliNum('--n', 200);
  deleteNetns(NS); // a leftover of a killed run
  vethNetns(NS);
  try {
    const gw = (i: number) => `10.77.0.${2 + (i % 200)}`;
    const addon = await measure(n, async (i) => {
      await nb.routeReplace(target, { family: 4, dst: '10.50.0.0/16', type: 'unicast', gateway: gw(i), dev: 'd0', protocol: TWINE_RT_PROTO });
      await nb.sysctlSet(target, 'net.ipv4.ip_forward', String(i % 2));
    });
    const spawn = await measure(n, async (i) => {
      await run('nsenter', [`--net=${PATH}`, 'ip', 'route', 'replace', '10.50.0.0/16', 'via', gw(i), 'dev', 'd0', 'proto', String(TWINE_RT_PROTO)]);
      await run('nsenter', [`--net=${PATH}`, 'sysctl', '-q', '-w', `net.ipv4.ip_forward=${i % 2}`]);
    });
    const a = stats(addon);
    const s = stats(spawn);
    console.log(`iterations: ${n} (route replace + sysctl set each)`);
    console.log(`addon: median ${a.median.toFixed(3)} ms, p99 ${a.p99.toFixed(3)} ms`);
    console.log(`spawn: median ${s.median.toFixed(3)} ms, p99 ${s.p99.toFixed(3)} ms`);
    console.log(`ratio: ${(s.median / a.median).toFixed(1)}`);
  } finally {
    deleteNetns(NS);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
