// Namespaces for tests: run host tools inside a container's namespace
// (nsenter -t <pid> -n) or a test namespace (ip netns), create test namespaces
// and veth pairs, and read state back with `ip -j`.

import { execFileSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { run, runAllowFail, parseJson } from './exec.js';
import { forgetOwner, PREFIX, recordOwner } from './owner.js';

/** A namespace to act in: a container's (by pid), a test namespace (by ip netns name), or the root namespace. */
export type TestNs = { pid: number } | { netns: string } | 'root';

function checkName(name: string): void {
  if (!name.startsWith(PREFIX)) throw new Error(`test resource ${JSON.stringify(name)} must start with ${PREFIX}`);
}

/** Runs a host tool in a container's network namespace: nsenter -t <pid> -n <cmd> <args...>. */
export function inNs(pid: number, cmd: string, args: readonly string[]): Promise<string> {
  return run('nsenter', ['-t', String(pid), '-n', cmd, ...args]);
}

/** The command line that runs cmd+args in ns. */
export function nsCommand(ns: TestNs, cmd: string, args: readonly string[]): [string, string[]] {
  if (ns === 'root') return [cmd, [...args]];
  if ('pid' in ns) return ['nsenter', ['-t', String(ns.pid), '-n', cmd, ...args]];
  return ['ip', ['netns', 'exec', ns.netns, cmd, ...args]];
}

export function execIn(ns: TestNs, cmd: string, args: readonly string[]): Promise<string> {
  const [c, a] = nsCommand(ns, cmd, args);
  return run(c, a);
}

export function execInAllowFail(ns: TestNs, cmd: string, args: readonly string[]) {
  const [c, a] = nsCommand(ns, cmd, args);
  return runAllowFail(c, a);
}

/** `ip -j <args>` in ns, parsed. */
export async function ipJson<T = Record<string, unknown>>(ns: TestNs, args: readonly string[]): Promise<T[]> {
  return parseJson<T[]>(await execIn(ns, 'ip', ['-j', ...args]));
}

/** `ip <args>` in ns. */
export function ip(ns: TestNs, args: readonly string[]): Promise<string> {
  return execIn(ns, 'ip', args);
}

export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  type?: string;
  scope?: string;
  prefsrc?: string;
  metric?: number;
}

/** ip -j route show [args] in ns (IPv4 unless args say -6 via family). */
export function routes(ns: TestNs, family: 4 | 6 = 4, args: readonly string[] = []): Promise<IpRoute[]> {
  return ipJson<IpRoute>(ns, [`-${family}`, 'route', 'show', ...args]);
}

export interface IpAddrInfo {
  ifname: string;
  ifindex: number;
  address?: string;
  operstate?: string;
  addr_info: Array<{ family: 'inet' | 'inet6'; local: string; prefixlen: number }>;
}

export function addresses(ns: TestNs, dev?: string): Promise<IpAddrInfo[]> {
  return ipJson<IpAddrInfo>(ns, ['addr', 'show', ...(dev ? ['dev', dev] : [])]);
}

/** ip netns add <name> (removing a leftover of the same name first), with lo up. */
export async function netnsAdd(name: string): Promise<TestNs> {
  checkName(name);
  await runAllowFail('ip', ['netns', 'del', name]);
  recordOwner('netns', name);
  await run('ip', ['netns', 'add', name]);
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return { netns: name };
}

export async function netnsDel(name: string): Promise<void> {
  await runAllowFail('ip', ['netns', 'del', name]);
  forgetOwner('netns', name);
}

/**
 * Deletes every `ip netns` whose name starts with `prefix`: a kernel test's own
 * namespaces, or those an earlier, killed run of it left. Synchronous, for
 * before/after hooks; a namespace that cannot be deleted throws, unless `ignoreFailures`.
 */
export function deleteNetnsWithPrefix(prefix: string, opts: { ignoreFailures?: boolean } = {}): void {
  const names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '');
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    try {
      execFileSync('ip', ['netns', 'del', n], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      if (!opts.ignoreFailures) throw err;
    }
  }
}

export async function netnsList(): Promise<string[]> {
  const out = await runAllowFail('ip', ['-j', 'netns', 'list']);
  if (out.exitCode !== 0 || out.stdout.trim() === '') return [];
  return parseJson<Array<{ name: string }>>(out.stdout).map((n) => n.name);
}

function nsArg(ns: TestNs): string {
  if (ns === 'root') return '1';
  return 'pid' in ns ? String(ns.pid) : ns.netns;
}

export interface VethEnd {
  ns: TestNs;
  /** The name it gets in ns (e.g. wg0). */
  name: string;
  /** CIDR addresses to add, e.g. 10.99.0.1/30. */
  addresses?: string[];
  up?: boolean;
}

/**
 * Creates a veth pair whose ends live in two namespaces under their final
 * names. Both ends are made in the root namespace under temporary twt-*
 * names (so a killed run leaves only twt-* links behind), then moved and
 * renamed in one step, addressed and brought up.
 */
export async function vethPair(tmpPrefix: string, a: VethEnd, b: VethEnd): Promise<void> {
  checkName(tmpPrefix);
  const ta = `${tmpPrefix}a`.slice(0, 15);
  const tb = `${tmpPrefix}b`.slice(0, 15);
  if (ta === tb) throw new Error(`vethPair: prefix ${tmpPrefix} too long for distinct names`);
  await runAllowFail('ip', ['link', 'del', ta]);
  await runAllowFail('ip', ['link', 'del', tb]);
  recordOwner('link', ta);
  recordOwner('link', tb);
  await run('ip', ['link', 'add', ta, 'type', 'veth', 'peer', 'name', tb]);
  try {
    for (const [tmp, end] of [[ta, a], [tb, b]] as const) {
      if (end.ns === 'root') {
        if (end.name !== tmp) await run('ip', ['link', 'set', 'dev', tmp, 'name', end.name]);
      } else {
        await run('ip', ['link', 'set', 'dev', tmp, 'netns', nsArg(end.ns), 'name', end.name]);
      }
      for (const addr of end.addresses ?? []) await ip(end.ns, ['addr', 'add', addr, 'dev', end.name]);
      if (end.up !== false) await ip(end.ns, ['link', 'set', 'dev', end.name, 'up']);
    }
  } catch (err) {
    await runAllowFail('ip', ['link', 'del', ta]);
    throw err;
  } finally {
    forgetOwner('link', ta);
    forgetOwner('link', tb);
  }
}

/** `busybox nc -w 3 <host> <port>` from the `ip netns` namespace `netns`, sending nothing: what came back. */
export function ncFrom(netns: string, host: string, port: string | number) {
  return runAllowFail('ip', ['netns', 'exec', netns, 'busybox', 'nc', '-w', '3', host, String(port)], { input: '' });
}

/** ip link del <name> in ns (ignores a link that is already gone). */
export async function linkDel(ns: TestNs, name: string): Promise<void> {
  const [c, a] = nsCommand(ns, 'ip', ['link', 'del', name]);
  await runAllowFail(c, a);
}

/** The network namespace of every thread of this process (threads that exit while listed are left out). */
export function threadNamespaces(): string[] {
  return readdirSync('/proc/self/task').flatMap((tid) => {
    try {
      return [readlinkSync(`/proc/self/task/${tid}/ns/net`)];
    } catch {
      return [];
    }
  });
}
