// Helpers for the engine's e2e tests: what a running `twine start` logged
// about its transactions, and what Twine wrote into a namespace, read back
// from the kernel (ip -j, nft -j).

import { runAllowFail, parseJson } from './exec.js';
import { execInAllowFail, netnsAdd, routes, vethPair, type IpRoute, type TestNs } from './netns.js';
import { createNetwork, type NetworkOptions } from './docker.js';
import { TWINE_BIN, type LogLine, type TestDaemon } from './daemon.js';
import { mapLimit } from '../../src/util/map-limit.js';
import { getJson } from '../../src/server/client.js';
import type { HealthDoc } from '../../src/server/api.js';
import type { DockerProxy } from './docker-proxy.js';

/** Twine's routing protocol number as `ip -j` prints it. */
export const TWINE_PROTO = '74';

export const TX_MSGS = new Set(['applied', 'in sync, nothing sent']);
export const LABEL_ERROR_MSG = 'labels invalid: nothing applied, last good state kept';

/** The info line of one transaction (applied, or in sync). */
export function isTx(l: LogLine, container?: string): boolean {
  return TX_MSGS.has(l.msg) && (container === undefined || l.container === container);
}

export function reasonsOf(l: LogLine): string[] {
  return Array.isArray(l.reasons) ? (l.reasons as string[]) : [];
}

/** Transactions logged from index `from` on (optionally of one container). */
export function txLines(d: TestDaemon, opts: { from?: number; container?: string } = {}): LogLine[] {
  return d.lines.slice(opts.from ?? 0).filter((l) => isTx(l, opts.container));
}

/** Like daemon.waitForLog, but only lines logged at index `from` or later count. */
export function waitForLogFrom(d: TestDaemon, from: number, pred: (l: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
  // waitForLog calls pred exactly once per line, in order.
  let i = 0;
  return d.waitForLog((l) => i++ >= from && pred(l), timeoutMs);
}

/** The next transaction of `container` logged at index `from` or later (optionally matching pred). */
export function waitTx(d: TestDaemon, container: string, from: number, pred: (l: LogLine) => boolean = () => true, timeoutMs = 10_000): Promise<LogLine> {
  return waitForLogFrom(d, from, (l) => isTx(l, container) && pred(l), timeoutMs);
}

/** Polls fn until it returns a value other than undefined/false; throws with the last error/value after timeoutMs. */
export async function waitUntil<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 5000, intervalMs = 25): Promise<T> {
  const t0 = performance.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (performance.now() - t0 > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Resolves once the daemon (talking to Docker through `proxy`) has handled every
 * event the proxy passed to it so far and nothing those events caused is still
 * under way (/healthz: `events` reached the proxy's count with `busy` 0). The
 * positive signal that late effects of those events had their chance: a check
 * that something did not happen looks after this, not after a quiet spell.
 */
export async function caughtUp(d: TestDaemon, proxy: DockerProxy, timeoutMs = 20_000): Promise<HealthDoc> {
  return waitUntil(`the daemon to handle every event passed to it, and finish what they caused`, async () => {
    const passed = proxy.eventsPassed();
    const h = (await getJson<HealthDoc>({ socket: d.socket }, '/healthz', 2000)).body;
    return h.events !== undefined && h.events >= passed && h.busy === 0 ? h : undefined;
  }, timeoutMs);
}

/** Routes of Twine's protocol in ns (IPv4). */
export async function twineRoutes(ns: TestNs): Promise<IpRoute[]> {
  return (await routes(ns)).filter((r) => r.protocol === TWINE_PROTO);
}

/** The IPv4 default route(s) in ns. */
export async function defaultRoutes(ns: TestNs): Promise<IpRoute[]> {
  return (await routes(ns)).filter((r) => r.dst === 'default');
}

export interface RouteGet {
  ok: boolean;
  route?: IpRoute;
  /** The error text when there is no route (e.g. "RTNETLINK answers: Network is unreachable"). */
  error: string;
}

/** `ip -j route get <dst>` in ns: the routing decision, no packet sent. */
export async function routeGet(ns: TestNs, dst: string): Promise<RouteGet> {
  const r = await execInAllowFail(ns, 'ip', ['-j', 'route', 'get', dst]);
  if (r.exitCode !== 0) return { ok: false, error: r.stderr.trim() };
  return { ok: true, route: parseJson<IpRoute[]>(r.stdout)[0], error: '' };
}

interface NftItem {
  table?: { family: string; name: string };
  chain?: { family: string; table: string; name: string };
  rule?: { family: string; table: string; chain: string; handle: number; expr: unknown[]; comment?: string };
}

export interface NftRule {
  chain: string;
  comment?: string;
  expr: unknown[];
}

/** The rules of `table inet twine` in ns, or null when the table does not exist. */
export async function twineTable(ns: TestNs): Promise<{ chains: string[]; rules: NftRule[] } | null> {
  const r = await execInAllowFail(ns, 'nft', ['-j', 'list', 'table', 'inet', 'twine']);
  if (r.exitCode !== 0) {
    if (/No such file|does not exist/i.test(r.stderr)) return null;
    throw new Error(`nft -j list table inet twine: exit ${r.exitCode}: ${r.stderr.trim()}`);
  }
  const items = parseJson<{ nftables: NftItem[] }>(r.stdout).nftables;
  const chains: string[] = [];
  const rules: NftRule[] = [];
  for (const it of items) {
    if (it.chain) chains.push(it.chain.name);
    if (it.rule) rules.push({ chain: it.rule.chain, comment: it.rule.comment, expr: it.rule.expr });
  }
  return { chains, rules };
}

/** Rules that appear more than once in the same chain (same expressions and comment). */
export function duplicateRules(rules: NftRule[]): string[] {
  const seen = new Map<string, number>();
  for (const r of rules) {
    const k = `${r.chain} ${r.comment ?? ''} ${JSON.stringify(r.expr)}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return [...seen].filter(([, n]) => n > 1).map(([k, n]) => `${n}x ${k}`);
}

/** Reads /proc/sys/<key with dots> in ns (sysctls under net/ follow the reader's namespace). */
export async function sysctlIn(ns: TestNs, key: string): Promise<string> {
  const r = await execInAllowFail(ns, 'cat', [`/proc/sys/${key.replace(/\./g, '/')}`]);
  if (r.exitCode !== 0) throw new Error(`sysctl ${key}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** `iptables -S` and `iptables -t nat -S` in ns: both must exit 0 (Docker runs them in every container). */
export async function iptablesListings(ns: TestNs): Promise<Array<{ args: string; exitCode: number; stderr: string }>> {
  const out = [];
  for (const args of [['-S'], ['-t', 'nat', '-S']]) {
    const r = await execInAllowFail(ns, 'iptables', args);
    out.push({ args: args.join(' '), exitCode: r.exitCode, stderr: r.stderr.trim() });
  }
  return out;
}

export interface AutoNetwork {
  id: string;
  subnet: string;
  /** The first three octets, e.g. "10.213.7" (the subnets are /24). */
  base: string;
}

/**
 * A test network with a /24 subnet of our own choosing (so containers can be
 * given fixed addresses with --ip), trying candidates derived from the pid
 * until Docker accepts one that overlaps no existing network.
 */
export async function createNetworkWithSubnet(name: string, opts: Omit<NetworkOptions, 'subnet'> = {}): Promise<AutoNetwork> {
  let lastErr: unknown;
  for (let i = 0; i < 40; i++) {
    const n = (process.pid * 7 + i * 13) % 250;
    const base = `10.213.${n}`;
    const subnet = `${base}.0/24`;
    try {
      const id = await createNetwork(name, { ...opts, subnet });
      return { id, subnet, base };
    } catch (err) {
      lastErr = err;
      if (!/overlap/i.test(String(err))) throw err;
    }
  }
  throw new Error(`no free /24 for ${name}: ${String(lastErr)}`);
}

/**
 * An `ip netns` namespace playing the Docker host for host-route tests: a veth
 * pair inside it holds <net>.250, so container addresses on `net` are on-link
 * there, as they are on the real host's bridge. Never the real host.
 */
export async function fakeHost(name: string, vethPrefix: string, net: AutoNetwork): Promise<TestNs> {
  await netnsAdd(name);
  const ns = { netns: name };
  await vethPair(vethPrefix, { ns, name: 'h0', addresses: [`${net.base}.250/24`] }, { ns, name: 'h1' });
  return ns;
}

/** `docker exec <container> <cmd...>` (the container's own tools, e.g. busybox ping/nslookup). */
export function dockerExec(container: string, args: readonly string[], timeoutMs = 15_000) {
  return runAllowFail('docker', ['exec', container, ...args], { timeoutMs });
}

/** Runs several async jobs at once, at most `limit` in flight. */
export const parallel = mapLimit;

/** `twine <args>` of this checkout (e.g. cleanup), run to completion. */
export function twineCli(args: readonly string[]) {
  return runAllowFail(process.execPath, [TWINE_BIN, ...args], { timeoutMs: 30_000 });
}
