// A VPN gateway's tunnel as the tests set it up, and the counters they read:
// wg-quick's policy routing (its default route in a table of its own), a leak
// counter on what leaves a namespace by eth0, and Twine's kill-switch and
// whitelist counters.

import { parseJson } from './exec.js';
import { dockerExec, waitUntil } from './engine.js';
import { execIn, type TestNs } from './netns.js';

/** wg-quick's table and fwmark. */
export const WG_TABLE = '51820';

/**
 * The routing wg-quick sets up for a full tunnel: `default dev wg0 table 51820`,
 * and (once per namespace) `not fwmark 51820 table 51820` and `table main
 * suppress_prefixlength 0`; Docker's default route stays in main.
 */
export async function wgQuickRouting(ns: TestNs, family: 4 | 6, withRules: boolean): Promise<void> {
  const f = `-${family}`;
  await execIn(ns, 'ip', [f, 'route', 'add', 'default', 'dev', 'wg0', 'table', WG_TABLE]);
  if (!withRules) return;
  await execIn(ns, 'ip', [f, 'rule', 'add', 'not', 'fwmark', WG_TABLE, 'table', WG_TABLE]);
  await execIn(ns, 'ip', [f, 'rule', 'add', 'table', 'main', 'suppress_prefixlength', '0']);
}

/** The packets each rule of `table inet <table>` counted, in rule order. */
export async function ruleCounters(ns: TestNs, table: string): Promise<number[]> {
  const out = parseJson<{ nftables: Array<{ rule?: { expr: Array<{ counter?: { packets: number } }> } }> }>(await execIn(ns, 'nft', ['-j', 'list', 'table', 'inet', table]));
  return out.nftables.flatMap((i) => (i.rule ? [i.rule.expr.find((e) => e.counter)?.counter?.packets ?? -1] : []));
}

/** A counter (table inet twt_leak, after everything else) on packets to `prefix` that leave ns by eth0. */
export async function addLeakCounter(ns: TestNs, family: 4 | 6, prefix: string): Promise<void> {
  await execIn(ns, 'nft', ['add table inet twt_leak']);
  await execIn(ns, 'nft', ['add chain inet twt_leak post { type filter hook postrouting priority 500; }']);
  await execIn(ns, 'nft', [`add rule inet twt_leak post oifname "eth0" ${family === 4 ? 'ip' : 'ip6'} daddr ${prefix} counter`]);
}

/** What the leak counter counted. */
export async function leakedByEth0(ns: TestNs): Promise<number> {
  const [n] = await ruleCounters(ns, 'twt_leak');
  if (n === undefined || n < 0) throw new Error('no leak counter in the namespace');
  return n;
}

/** A named counter of Twine's in a gateway's namespace (-1 when there is none). */
async function twineCounter(ns: TestNs, name: string): Promise<number> {
  const out = parseJson<{ nftables: Array<{ counter?: { packets: number } }> }>(await execIn(ns, 'nft', ['-j', 'list', 'counter', 'inet', 'twine', name]));
  return out.nftables.find((i) => i.counter)?.counter?.packets ?? -1;
}

/** Twine's kill-switch counter in a gateway's namespace (-1 when there is none). */
export function killSwitchDrops(ns: TestNs): Promise<number> {
  return twineCounter(ns, 'killswitch');
}

/** Twine's whitelist counter in a gateway's namespace (-1 when there is none). */
export function whitelistDrops(ns: TestNs): Promise<number> {
  return twineCounter(ns, 'whitelist');
}

/** Resolves with what the kill switch counted since `before`, once that is at least `n`. */
export function killSwitchCounted(ns: TestNs, before: number, n: number): Promise<number> {
  return waitUntil(`the kill switch to count ${n} drops`, async () => {
    const d = (await killSwitchDrops(ns)) - before;
    return d >= n ? d : false;
  });
}

/** `docker exec <from> <ping...>`: whether it was answered, and what the gateway's whitelist dropped meanwhile. */
export async function pingWhitelisted(gw: TestNs, from: string, ping: readonly string[]): Promise<{ ok: boolean; dropped: number }> {
  const before = await whitelistDrops(gw);
  const r = await dockerExec(from, ping);
  return { ok: r.exitCode === 0, dropped: (await whitelistDrops(gw)) - before };
}
