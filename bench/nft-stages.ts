// The nft stage of a transaction, from the JS call to the promise settling,
// for the batches the bench's containers get (bench/fleet.ts fleetLabels):
//   fresh    the first, add-only batch (`create table …`) in a fresh `ip netns`
//   diff     listTable + diffTable + apply on an existing table, alternating
//            the forward's target between two gateways (deletes three rules,
//            adds three), in pairs: two transactions back to back, then --gap ms
//            of quiet (150; 0 = every transaction back to back)
//   repoint  K namespaces with the table, all re-pointed at once (listTable +
//            diffTable + apply each, as the engine does when a gateway moves),
//            for several rounds back to back
//   noop     a sysctl read in the same namespace: the pool's round trip alone
// Usage (root): node dist/bench/nft-stages.js [--n 200] [--transport lib|exec]
//   [--only fresh,diff,repoint] [--gap <ms of quiet after each diff pair>] [--k <namespaces re-pointed at once, 50>] [--json <file>]
// Namespaces are named twt-nfts-<pid>-<i> and removed at the end.
// The stages inside libnftables are timed by bench/nft-stages.cc.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { addTableBatch, diffTable, freshTableBatch } from '../src/firewall/batch.js';
import { TABLE_FAMILY, TABLE_NAME, type NftBatch } from '../src/firewall/nft.js';
import { createExecTransport } from '../src/firewall/transport-exec.js';
import { createLibTransport } from '../src/firewall/transport-lib.js';
import type { NftTransport } from '../src/firewall/transport.js';
import { parseLabels } from '../src/labels/parse.js';
import { compile } from '../src/plan/compile.js';
import type { Plan } from '../src/plan/types.js';
import type { ContainerInfo, Inventory } from '../src/docker/container.js';
import { resolve } from '../src/resolve/resolve.js';
import { nativeBackend } from '../src/netns/backend.js';
import type { NsTarget } from '../src/netns/types.js';
import { fleetLabels } from './fleet.js';
import { fmt, percentile, sleep } from './stats.js';
import { cliArg } from './scratch.js';

const PREFIX = `twt-nfts-${process.pid}-`;

function attachment(ip: string): ContainerInfo['networks'][number] {
  return { networkId: 'n'.repeat(64), networkName: 'twt-bench-net', ipv4: ip, ipv4PrefixLen: 16, gatewayV4: '10.88.0.1', aliases: [], dnsNames: [], iface: 'eth0' };
}

/** The plan a fleet container gets when its gateway is `gw` (10.88.0.2 or .3). */
function fleetPlan(gw: string): Plan {
  const fleet: ContainerInfo = { id: 'f'.repeat(64), name: 'twt-bench-f1', pid: 4242, running: true, labels: fleetLabels(gw), networks: [attachment('10.88.128.5')] };
  const gws: ContainerInfo[] = ['10.88.0.2', '10.88.0.3'].map((ip, i) => ({ id: String(i).repeat(64), name: `twt-bench-gw${i}`, pid: 4243 + i, running: true, labels: {}, networks: [attachment(ip)] }));
  const inv: Inventory = { containers: [fleet, ...gws] };
  return compile(resolve(fleet, parseLabels(fleet.name, fleet.labels), inv).desired);
}

function ipBatch(lines: string[]): void {
  if (lines.length) execFileSync('ip', ['-batch', '-'], { input: `${lines.join('\n')}\n` });
}

function nsList(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(PREFIX));
}

type Columns = Record<string, number[]>;

function push(cols: Columns, key: string, ms: number): void {
  (cols[key] ??= []).push(ms);
}

async function timed<T>(cols: Columns, key: string, f: () => Promise<T>): Promise<T> {
  const t = performance.now();
  const r = await f();
  push(cols, key, performance.now() - t);
  return r;
}

async function fresh(nft: NftTransport, batch: NftBatch, n: number, cols: Columns): Promise<void> {
  const names = Array.from({ length: n }, (_, i) => `${PREFIX}${i}`);
  ipBatch(names.map((x) => `netns add ${x}`));
  try {
    for (const [i, name] of names.entries()) {
      const ns: NsTarget = { path: `/var/run/netns/${name}` };
      const t = performance.now();
      const text = JSON.stringify(batch);
      push(cols, 'fresh: JSON.stringify', performance.now() - t);
      if (text.length === 0) throw new Error('empty batch');
      await timed(cols, 'fresh: apply (create table …)', () => nft.apply(ns, batch));
      // Every tenth namespace again, for the pool's round trip without nft.
      if (i % 10 === 0) await timed(cols, 'noop: sysctlGet round trip', () => nativeBackend.sysctlGet(ns, 'net.ipv4.ip_forward'));
    }
  } finally {
    ipBatch(nsList().map((x) => `netns del ${x}`));
  }
}

/**
 * Pairs of diff transactions on one namespace: the second right after the
 * first (as when two events about a container come close together), then
 * gapMs of quiet. With gapMs 0 the namespace is re-applied back to back.
 */
async function diff(nft: NftTransport, plans: [Plan, Plan], n: number, gapMs: number, cols: Columns): Promise<void> {
  const name = `${PREFIX}diff`;
  ipBatch([`netns add ${name}`]);
  const ns: NsTarget = { path: `/var/run/netns/${name}` };
  let i = 0;
  const transaction = async (key: string): Promise<void> => {
    const live = await timed(cols, 'diff: listTable', () => nft.listTable(ns, TABLE_FAMILY, TABLE_NAME));
    const t = performance.now();
    const batch = diffTable(plans[++i % 2]!.table, live);
    push(cols, 'diff: diffTable', performance.now() - t);
    if (batch.nftables.length === 0) throw new Error('the two plans do not differ');
    await timed(cols, `diff: apply (${batch.nftables.length} commands), ${key}`, () => nft.apply(ns, batch));
  };
  try {
    await nft.apply(ns, addTableBatch(plans[0].table));
    for (let p = 0; p < n + 5; p++) {
      await transaction('1st of a pair');
      await transaction('2nd, right after');
      if (gapMs > 0) await sleep(gapMs);
    }
    // The first five pairs are warm-up.
    for (const k of Object.keys(cols)) if (k.startsWith('diff: ')) cols[k] = cols[k]!.slice(k.includes('apply') ? 5 : 10);
  } finally {
    ipBatch([`netns del ${name}`]);
  }
}

async function repoint(nft: NftTransport, plans: [Plan, Plan], k: number, rounds: number, cols: Columns): Promise<void> {
  const names = Array.from({ length: k }, (_, i) => `${PREFIX}r${i}`);
  ipBatch(names.map((x) => `netns add ${x}`));
  const targets: NsTarget[] = names.map((x) => ({ path: `/var/run/netns/${x}` }));
  try {
    await Promise.all(targets.map((ns) => nft.apply(ns, addTableBatch(plans[0].table))));
    for (let r = 1; r <= rounds; r++) {
      const t = performance.now();
      await Promise.all(
        targets.map(async (ns) => {
          const t0 = performance.now();
          const live = await nft.listTable(ns, TABLE_FAMILY, TABLE_NAME);
          const batch = diffTable(plans[r % 2]!.table, live);
          await timed(cols, `repoint: apply (k=${k})`, () => nft.apply(ns, batch));
          push(cols, `repoint: listTable+apply (k=${k})`, performance.now() - t0);
        }),
      );
      push(cols, `repoint: all ${k} re-pointed`, performance.now() - t);
    }
  } finally {
    ipBatch(nsList().map((x) => `netns del ${x}`));
  }
}

async function main(): Promise<void> {
  const n = Number(cliArg('--n') ?? 200);
  const transport = cliArg('--transport') ?? 'lib';
  const nft = transport === 'exec' ? createExecTransport() : createLibTransport();
  const plans: [Plan, Plan] = [fleetPlan('10.88.0.2'), fleetPlan('10.88.0.3')];
  const first = freshTableBatch(plans[0].table);
  const cols: Columns = {};

  const only = new Set((cliArg('--only') ?? 'fresh,diff,repoint').split(','));

  // Warm-up: the first batches pay for lazy loading in Node and in libnftables.
  await fresh(nft, first, 10, {});
  if (only.has('fresh')) await fresh(nft, first, n, cols);
  if (only.has('diff')) await diff(nft, plans, n, Number(cliArg('--gap') ?? 150), cols);
  const k = Number(cliArg('--k') ?? 50);
  if (only.has('repoint')) await repoint(nft, plans, k, Math.max(2, Math.ceil(n / k)), cols);

  console.log(`nft transport ${transport}, ${first.nftables.length}-command first batch (${JSON.stringify(first).length} bytes JSON), n=${n}`);
  console.log(`${'stage'.padEnd(44)} ${'median'.padStart(8)} ${'p90'.padStart(8)} ${'p99'.padStart(8)}  (ms)`);
  const summary: Record<string, { n: number; p50: number; p90: number; p99: number }> = {};
  for (const [k, v] of Object.entries(cols)) {
    const s = [...v].sort((a, b) => a - b);
    summary[k] = { n: s.length, p50: percentile(s, 0.5), p90: percentile(s, 0.9), p99: percentile(s, 0.99) };
    console.log(`${k.padEnd(44)} ${fmt(summary[k].p50).padStart(8)} ${fmt(summary[k].p90).padStart(8)} ${fmt(summary[k].p99).padStart(8)}`);
  }
  const out = cliArg('--json');
  if (out) writeFileSync(out, `${JSON.stringify({ transport, n, summary }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
