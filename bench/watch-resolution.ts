// How late the observer sees a commit. Another process (a child, through the
// addon as Twine does it) replaces a route and then adds `table inet twine`
// in an ip netns, stamping before and after each operation; the commit lies
// between the two. Compared: the watch (watchNs) and the former observer
// (route list + `list table` every 1 ms). With --many N, N namespaces are
// watched at once (one thread each), as scenario c does with 200.
// Usage (root): node dist/bench/watch-resolution.js [--n 200] [--many 200]

import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadAddon } from '../src/netns/addon.js';
import { nativeBackend as nb } from '../src/netns/backend.js';
import { TWINE_RT_PROTO } from '../src/netns/types.js';
import { fmt, nowMs, percentile, sleep, summarize } from './stats.js';
import { loadBenchAddon, twineSpec } from './watch.js';
import { cliNum, deleteNetns, vethNetns } from './scratch.js';

const PREFIX = 'twt-bw-';
const CIDR = '10.200.0.0/16';
const gw = (i: number): string => `10.77.0.${2 + (i % 2)}`;
const nsPath = (ns: string): string => `/var/run/netns/${ns}`;
const TABLE_BATCH = JSON.stringify({
  nftables: [
    { add: { table: { family: 'inet', name: 'twine' } } },
    { add: { chain: { family: 'inet', table: 'twine', name: 'TWINE_INPUT' } } },
    { add: { rule: { family: 'inet', table: 'twine', chain: 'TWINE_INPUT', expr: [{ accept: null }] } } },
  ],
});
const DELETE_TABLE = JSON.stringify({ nftables: [{ add: { table: { family: 'inet', name: 'twine' } } }, { delete: { table: { family: 'inet', name: 'twine' } } }] });

/** The adder's stamps: route op [t0, t1], table batch [t1, t2]. */
interface Applied {
  t0: number;
  t1: number;
  t2: number;
}

// ---- the adder (child process) ----

async function adder(): Promise<void> {
  const nft = loadAddon().nftRun!;
  process.on('message', (m: { ns: string; i: number; reset?: boolean }) => {
    void (async () => {
      const target = { path: nsPath(m.ns) };
      if (m.reset) {
        await nft(target, DELETE_TABLE);
        process.send!({ done: true });
        return;
      }
      const t0 = nowMs();
      await nb.routeReplace(target, { family: 4, dst: CIDR, type: 'unicast', gateway: gw(m.i), protocol: TWINE_RT_PROTO });
      const t1 = nowMs();
      await nft(target, TABLE_BATCH);
      const t2 = nowMs();
      process.send!({ t0, t1, t2 });
    })();
  });
}

// ---- the observer side ----

function request<T>(child: ChildProcess, msg: object): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    child.send(msg);
  });
}

/** The former observer: route list, then `list table`, every 1 ms; the stamp is the return of the check that saw each. */
async function poll(ns: string, gateway: string): Promise<{ routeMs: number; tableMs: number }> {
  const target = { path: nsPath(ns) };
  const r = { routeMs: NaN, tableMs: NaN };
  const deadline = nowMs() + 5000;
  while (nowMs() < deadline && (Number.isNaN(r.routeMs) || Number.isNaN(r.tableMs))) {
    if (Number.isNaN(r.routeMs)) {
      const routes = await nb.routeList(target, { protocol: TWINE_RT_PROTO });
      if (routes.some((x) => x.dst === CIDR && x.gateway === gateway)) r.routeMs = nowMs();
    }
    if (!Number.isNaN(r.routeMs)) {
      try {
        await loadAddon().nftRun!(target, JSON.stringify({ nftables: [{ list: { table: { family: 'inet', name: 'twine' } } }] }));
        r.tableMs = nowMs();
      } catch {
        // not there yet
      }
    }
    if (Number.isNaN(r.tableMs)) await sleep(1);
  }
  return r;
}

interface Lags {
  routeAfter: number[];
  routeBefore: number[];
  tableAfter: number[];
  tableBefore: number[];
}

function line(name: string, xs: number[]): string {
  const s = summarize(xs);
  const p90 = percentile([...xs].filter((x) => !Number.isNaN(x)).sort((a, b) => a - b), 0.9);
  return `  ${name.padEnd(44)} p50 ${fmt(s.p50)}  p90 ${fmt(p90)}  p99 ${fmt(s.p99)}  max ${fmt(s.max)} ms (n=${s.n})`;
}
function report(title: string, l: Lags): void {
  console.log(title);
  console.log(line('route: seen − adder got the ack', l.routeAfter));
  console.log(line('route: seen − adder sent the request', l.routeBefore));
  console.log(line('table: seen − adder got the batch result', l.tableAfter));
  console.log(line('table: seen − adder started the batch', l.tableBefore));
}

async function single(child: ChildProcess, n: number, method: 'watch' | 'poll'): Promise<Lags> {
  const ns = `${PREFIX}0`;
  const l: Lags = { routeAfter: [], routeBefore: [], tableAfter: [], tableBefore: [] };
  const subscribe: number[] = [];
  for (let i = 0; i < n + 5; i++) {
    await request(child, { ns, i, reset: true });
    let seen: Promise<{ routeMs: number; tableMs: number; subscribedMs?: number }>;
    const started = nowMs();
    if (method === 'watch') {
      seen = loadBenchAddon().watchNs({ path: nsPath(ns) }, twineSpec(CIDR, gw(i), true), 5000);
      await sleep(5); // subscribed before the adder starts
    } else {
      seen = poll(ns, gw(i));
    }
    const a = await request<Applied>(child, { ns, i });
    const r = await seen;
    if (i < 5) continue; // warm-up
    if (r.subscribedMs !== undefined) subscribe.push(r.subscribedMs - started);
    l.routeAfter.push(r.routeMs - a.t1);
    l.routeBefore.push(r.routeMs - a.t0);
    l.tableAfter.push(r.tableMs - a.t2);
    l.tableBefore.push(r.tableMs - a.t1);
  }
  if (subscribe.length) console.log(line('subscribed − watchNs called', subscribe));
  return l;
}

function status(key: string): string {
  return /^(\S+):\s+(.*)$/m.exec(readFileSync('/proc/self/status', 'utf8').split('\n').find((x) => x.startsWith(key)) ?? '')?.[2] ?? '?';
}

async function many(child: ChildProcess, count: number): Promise<void> {
  const names = Array.from({ length: count }, (_, i) => `${PREFIX}m${i}`);
  for (const ns of names) vethNetns(ns);
  const rssBefore = status('VmRSS');
  const t0 = nowMs();
  const watches = names.map((ns) => loadBenchAddon().watchNs({ path: nsPath(ns) }, twineSpec(CIDR, gw(0), true), 60_000));
  const started = nowMs();
  await sleep(500);
  console.log(`${count} watches: started in ${fmt(started - t0)} ms; threads ${status('Threads')}, VmRSS ${rssBefore} → ${status('VmRSS')}`);
  const applied: Applied[] = [];
  for (const ns of names) applied.push(await request<Applied>(child, { ns, i: 0 }));
  const seen = await Promise.all(watches);
  console.log(line('subscribed − watch started', seen.map((r) => r.subscribedMs - t0)));
  const l: Lags = {
    routeAfter: seen.map((r, i) => r.routeMs - applied[i]!.t1),
    routeBefore: seen.map((r, i) => r.routeMs - applied[i]!.t0),
    tableAfter: seen.map((r, i) => r.tableMs - applied[i]!.t2),
    tableBefore: seen.map((r, i) => r.tableMs - applied[i]!.t1),
  };
  report(`${count} namespaces watched at once, changed one after another:`, l);
  console.log(`  seen by notification: ${seen.filter((r) => r.routeBy === 'notification' && r.tableBy === 'notification').length}/${count}, overruns ${seen.reduce((a, r) => a + r.overruns, 0)}`);
}

async function main(): Promise<void> {
  const n = cliNum('--n', 200);
  const count = cliNum('--many', 0);
  deleteNetns(PREFIX);
  vethNetns(`${PREFIX}0`);
  const child = fork(fileURLToPath(import.meta.url), ['--adder'], { stdio: 'inherit' });
  try {
    report(`watch (watchNs), ${n} changes:`, await single(child, n, 'watch'));
    report(`former observer (poll every 1 ms), ${n} changes:`, await single(child, n, 'poll'));
    if (count > 0) await many(child, count);
  } finally {
    child.kill();
    deleteNetns(PREFIX);
  }
}

if (process.argv.includes('--adder')) {
  void adder();
} else {
  main().catch((err: unknown) => {
    console.error(err);
    deleteNetns(PREFIX);
    process.exit(1);
  });
}
