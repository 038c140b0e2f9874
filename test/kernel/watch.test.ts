// The namespace watch (watchNs) against real namespaces: changes made by
// iproute2 and nft from outside are reported with a time inside the window
// of the command that made them, state that already exists is reported at
// once, and what does not match is not reported. Needs root.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import type { NativeError } from '../../src/netns/native.js';
import { loadBenchAddon, type WatchResult, type WatchSpec } from '../../bench/watch.js';
import { TWINE_RT_PROTO } from '../../src/netns/types.js';
import { netnsAdd, netnsDel, threadNamespaces } from '../bed/netns.js';

const PREFIX = 'twt-watch-';
const NAMES = ['a', 'b', 'c', 'd', 'e', 'f'].map((x) => `${PREFIX}${x}`);
const at = (ns: string): { path: string } => ({ path: `/var/run/netns/${ns}` });
const nowMs = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const SPEC: WatchSpec = {
  route: { family: 4, dst: '10.200.0.0/16', gateway: '10.77.0.2', protocol: TWINE_RT_PROTO },
  table: { family: 'inet', name: 'twine' },
};

function ipn(ns: string, args: string[]): void {
  execFileSync('ip', ['-n', ns, ...args]);
}
function nft(ns: string, script: string): void {
  execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: script });
}
/** Runs fn and returns the wall-clock window around it. */
function timed(fn: () => void): [number, number] {
  const t0 = nowMs();
  fn();
  return [t0, nowMs()];
}
// A stamp is taken by the watch thread when the kernel's notification wakes it: never
// before the change began, but on a loaded machine that thread may run well after the
// command returned. The slack still tells a stamp taken at the change from one taken at
// the watch's timeout (5 s) or at a later check.
const LATE_SLACK_MS = 1000;

function within(t: number, [lo, hi0]: [number, number], what: string): void {
  const hi = hi0 + LATE_SLACK_MS;
  assert.ok(t >= lo && t <= hi, `${what}: ${t} not within [${lo}, ${hi}] (${(t - lo).toFixed(3)} ms after the start)`);
}
/** A namespace with a veth whose near end has 10.77.0.1/24 and fd77::1/64, so routes via 10.77.0.x / fd77::x are valid. */
async function prepared(ns: string): Promise<void> {
  await netnsAdd(ns);
  ipn(ns, ['link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1']);
  ipn(ns, ['link', 'set', 'd0', 'up']);
  ipn(ns, ['link', 'set', 'd1', 'up']);
  ipn(ns, ['addr', 'add', '10.77.0.1/24', 'dev', 'd0']);
  ipn(ns, ['addr', 'add', 'fd77::1/64', 'dev', 'd0', 'nodad']);
}

const ownNs = readlinkSync('/proc/self/ns/net');
const addon = loadBenchAddon();

describe('watchNs', () => {
  before(async () => {
    for (const n of NAMES) await netnsDel(n);
    for (const n of NAMES) await prepared(n);
  });
  after(async () => {
    for (const n of NAMES) await netnsDel(n);
  });

  it('reports a route and a table added after it subscribed, stamped within the commands that added them', async () => {
    const ns = NAMES[0]!;
    const watching = addon.watchNs(at(ns), SPEC, 5000);
    await sleep(100); // subscribed long before the changes (asserted below)
    // While it waits, the watch thread is back in this process's namespace.
    assert.deepEqual([...new Set(threadNamespaces())], [ownNs]);
    const routeWindow = timed(() => ipn(ns, ['route', 'add', '10.200.0.0/16', 'via', '10.77.0.2', 'proto', String(TWINE_RT_PROTO)]));
    const tableWindow = timed(() => nft(ns, 'add table inet twine\nadd chain inet twine c\nadd rule inet twine c accept\n'));
    const r = await watching;
    assert.ok(r.subscribedMs < routeWindow[0], 'subscribed before the route was added');
    assert.equal(r.routeBy, 'notification');
    assert.equal(r.tableBy, 'notification');
    within(r.routeMs, routeWindow, 'route');
    within(r.tableMs, tableWindow, 'table');
  });

  it('returns promptly, at the check, when the route and table already exist', async () => {
    const ns = NAMES[0]!; // left in place by the previous test
    const t0 = nowMs();
    const r = await addon.watchNs(at(ns), SPEC, 5000);
    const t1 = nowMs();
    assert.ok(t1 - t0 < 500, `took ${(t1 - t0).toFixed(1)} ms`);
    assert.equal(r.routeBy, 'check');
    assert.equal(r.tableBy, 'check');
    within(r.routeMs, [r.subscribedMs, r.checkedMs], 'route');
    within(r.tableMs, [r.subscribedMs, r.checkedMs], 'table');
  });

  it('gives NaN for what was not seen before the timeout', async () => {
    const t0 = nowMs();
    const r: WatchResult = await addon.watchNs(at(NAMES[1]!), SPEC, 200);
    assert.ok(nowMs() - t0 >= 195, 'waited for the timeout');
    assert.ok(Number.isNaN(r.routeMs) && Number.isNaN(r.tableMs));
    assert.equal(r.routeBy, undefined);
    assert.equal(r.tableBy, undefined);
    assert.ok(Number.isFinite(r.subscribedMs) && Number.isFinite(r.checkedMs));
  });

  it('ignores routes through another gateway or of another protocol, and a table of another family', async () => {
    const ns = NAMES[2]!;
    const watching = addon.watchNs(at(ns), SPEC, 5000);
    await sleep(100);
    const ignored = timed(() => {
      ipn(ns, ['route', 'add', '10.200.0.0/16', 'via', '10.77.0.3', 'proto', String(TWINE_RT_PROTO)]);
      ipn(ns, ['route', 'add', '10.200.0.0/16', 'via', '10.77.0.2', 'proto', '99', 'metric', '10']);
      ipn(ns, ['route', 'add', '10.201.0.0/16', 'via', '10.77.0.2', 'proto', String(TWINE_RT_PROTO)]);
      nft(ns, 'add table ip twine\nadd table inet other\n');
    });
    await sleep(100);
    const matching = timed(() => {
      ipn(ns, ['route', 'add', '10.200.0.0/16', 'via', '10.77.0.2', 'proto', String(TWINE_RT_PROTO), 'metric', '20']);
      nft(ns, 'add table inet twine\n');
    });
    const r = await watching;
    assert.ok(r.routeMs > ignored[1], 'the route counted only once it matched');
    assert.ok(r.tableMs > ignored[1], 'the table counted only once it matched');
    within(r.routeMs, matching, 'route');
    within(r.tableMs, matching, 'table');

    const other = await addon.watchNs(at(ns), { route: { ...SPEC.route!, gateway: '10.77.0.9' } }, 200);
    assert.ok(Number.isNaN(other.routeMs), 'no route via 10.77.0.9 exists');
  });

  it('watches an IPv6 route alone', async () => {
    const ns = NAMES[3]!;
    const watching = addon.watchNs(at(ns), { route: { family: 6, dst: 'fd66:1::/32', gateway: 'fd77::2', protocol: TWINE_RT_PROTO } }, 5000);
    await sleep(100);
    const window = timed(() => ipn(ns, ['-6', 'route', 'add', 'fd66:1::/32', 'via', 'fd77::2', 'proto', String(TWINE_RT_PROTO)]));
    const r = await watching;
    within(r.routeMs, window, 'route');
    assert.ok(Number.isNaN(r.tableMs), 'no table was asked for');
  });

  it('after an overrun (ENOBUFS) checks again; the time is never before the batch', () => {
    // A child process whose watch sockets have the smallest receive buffer
    // and whose threads only run when the CPU they share with nft is idle
    // (SCHED_IDLE): the batch announces its 5000 rules before the watch
    // reads any, so the socket overruns for certain.
    const ns = NAMES[4]!;
    const rules = Array.from({ length: 5000 }, (_, i) => `add rule inet twine c tcp dport ${1 + i} accept`);
    const batch = ['add table inet twine', 'add chain inet twine c', ...rules].join('\n') + '\n';
    const watchJs = new URL('../../bench/watch.js', import.meta.url).href;
    const child = `
      import { execFileSync } from 'node:child_process';
      import { readFileSync } from 'node:fs';
      import { loadBenchAddon } from ${JSON.stringify(watchJs)};
      const now = () => performance.timeOrigin + performance.now();
      const watching = loadBenchAddon().watchNs({ path: ${JSON.stringify(at(ns).path)} }, { table: { family: 'inet', name: 'twine' } }, 60000);
      await new Promise((r) => setTimeout(r, 100));
      const t0 = now();
      execFileSync('chrt', ['--other', '0', 'ip', 'netns', 'exec', ${JSON.stringify(ns)}, 'nft', '-f', '-'], { input: readFileSync(0) });
      const t1 = now();
      console.log(JSON.stringify({ t0, t1, r: await watching }));`;
    const out = execFileSync('taskset', ['-c', '0', 'chrt', '--idle', '0', process.execPath, '--input-type=module', '-e', child], {
      input: batch,
      env: { ...process.env, TWINE_WATCH_RCVBUF: '1' },
      encoding: 'utf8',
    });
    const { t0, t1, r } = JSON.parse(out) as { t0: number; t1: number; r: WatchResult };
    assert.ok(r.overruns > 0, 'the socket overran');
    assert.equal(r.tableBy, 'recheck');
    // Starved on purpose, the watch may read only after nft returned.
    within(r.tableMs, [t0, t1 + 50], 'table');
  });

  it('rejects a namespace that does not exist with a typed error, and bad arguments synchronously', async () => {
    await assert.rejects(addon.watchNs(at(`${PREFIX}missing`), SPEC, 100), (e: NativeError) => {
      assert.equal(e.code, 'ENOENT');
      assert.equal(e.op, 'watchNs');
      assert.equal(e.stage, 'open');
      return true;
    });
    const bad: Array<[unknown, unknown]> = [
      [{}, 100],
      [{ route: { family: 4, dst: '10.200.0.0/33' } }, 100],
      [{ route: { ...SPEC.route!, dev: 'd0' } }, 100],
      [{ table: { family: 'inet6', name: 'x' } }, 100],
      [{ table: { family: 'inet', name: '' } }, 100],
      [SPEC, -1],
      [SPEC, 700_000],
    ];
    for (const [spec, timeout] of bad) {
      assert.throws(() => addon.watchNs(at(NAMES[5]!), spec as WatchSpec, timeout as number), (e: NativeError) => e.code === 'EINVAL');
    }
  });

  it('runs many watches at once, one thread each, all reported', async () => {
    // Sixty watches of one namespace: sixty threads, all subscribed before the changes.
    const ns = NAMES[5]!;
    const watches = Array.from({ length: 60 }, () => addon.watchNs(at(ns), SPEC, 5000));
    await sleep(300);
    const window = timed(() => {
      ipn(ns, ['route', 'add', '10.200.0.0/16', 'via', '10.77.0.2', 'proto', String(TWINE_RT_PROTO)]);
      nft(ns, 'add table inet twine\n');
    });
    // Sixty threads woken at once on a machine with few CPUs: the last may
    // run after the command returned (within()'s slack), never before the change began.
    for (const r of await Promise.all(watches)) {
      within(r.routeMs, window, 'route');
      within(r.tableMs, window, 'table');
    }
  });
});
