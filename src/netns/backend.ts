// The real NetnsBackend: the native addon, with arguments checked here first
// and its errors turned into NetlinkError.

import { isIPv4, isIPv6 } from 'node:net';
import { NetlinkError } from '../errors.js';
import { loadAddon } from './addon.js';
import type { NativeBinding, NativeError } from './native.js';
import type { Addr, BatchOutcome, ConntrackFilter, Link, NetnsBackend, NsStep, NsTarget, Route, RouteFilter } from './types.js';
import type { Family } from '../net/ip.js';
import { cidrSyntax } from '../net/cidr.js';

const EINVAL = 22;

/** How errors name a target: "pid 42" or the namespace path (a handle: the name it was opened by). */
export function describeNs(ns: NsTarget): string {
  if ('fd' in ns) return ns.name;
  return 'pid' in ns ? `pid ${ns.pid}` : ns.path;
}

function invalid(op: string, ns: NsTarget, what: string): NetlinkError {
  return new NetlinkError(`${op} in ${describeNs(ns)}: ${what}`, 'EINVAL', EINVAL, op, describeNs(ns));
}

function checkTarget(op: string, ns: NsTarget): void {
  if ('fd' in ns) {
    if (!Number.isSafeInteger(ns.fd) || ns.fd < 0) throw invalid(op, ns, `bad namespace fd ${String(ns.fd)}`);
  } else if ('pid' in ns) {
    if (!Number.isSafeInteger(ns.pid) || ns.pid < 1) throw invalid(op, ns, `bad pid ${String(ns.pid)}`);
  } else if (typeof ns.path !== 'string' || !ns.path.startsWith('/') || ns.path.includes('\0')) {
    throw invalid(op, ns, 'namespace path must be absolute');
  }
}

function isAddr(family: Family, s: string): boolean {
  return family === 4 ? isIPv4(s) : isIPv6(s);
}

/** "10.0.0.0/8", "10.0.0.1" (host route) or "::/0" of `family`; throws on anything else. */
export function checkCidr(op: string, ns: NsTarget, family: Family, cidr: string): void {
  const problem = typeof cidr === 'string' ? cidrSyntax(cidr, family) : 'not a string';
  if (typeof problem === 'string') throw invalid(op, ns, problem);
}

function checkRoute(op: string, ns: NsTarget, r: Route): void {
  if (r.family !== 4 && r.family !== 6) throw invalid(op, ns, 'family must be 4 or 6');
  checkCidr(op, ns, r.family, r.dst);
  if (r.gateway !== undefined && !isAddr(r.family, r.gateway))
    throw invalid(op, ns, `gateway "${r.gateway}" is not an IPv${r.family} address`);
  if (r.dev !== undefined && !/^[^/\s\0]{1,15}$/.test(r.dev)) throw invalid(op, ns, `"${r.dev}" is not an interface name`);
}

function checkConntrackFilter(op: string, ns: NsTarget, f: ConntrackFilter): void {
  if (f.family !== 4 && f.family !== 6) throw invalid(op, ns, 'family must be 4 or 6');
  if (f.origDst !== undefined) checkCidr(op, ns, f.family, f.origDst);
  if (f.replySrc !== undefined && !isAddr(f.family, f.replySrc)) throw invalid(op, ns, `"${f.replySrc}" is not an IPv${f.family} address`);
}

const SYSCTL_KEY = /^net\.[A-Za-z0-9_.-]+$/;

/** sysctl keys: "net." first, no "..", no "/", only [A-Za-z0-9_.-]. */
export function checkSysctlKey(op: string, ns: NsTarget, key: string): void {
  if (typeof key !== 'string' || !SYSCTL_KEY.test(key) || key.includes('..') || key.endsWith('.'))
    throw invalid(op, ns, `sysctl key ${JSON.stringify(key)} is not a net.* key`);
}

/** Turns an addon rejection (or sync throw) into NetlinkError; passes anything else through. */
export function toNetlinkError(err: unknown, op: string, ns: NsTarget): unknown {
  const e = err as Partial<NativeError>;
  if (err instanceof Error && typeof e.code === 'string') {
    return new NetlinkError(err.message, e.code, e.errno ?? 0, e.op ?? op, describeNs(ns), e.kernelMessage);
  }
  return err;
}

async function call<T>(op: string, ns: NsTarget, run: (b: NativeBinding) => Promise<T>): Promise<T> {
  try {
    return await run(loadAddon());
  } catch (err) {
    throw toNetlinkError(err, op, ns);
  }
}

export const nativeBackend: NetnsBackend = {
  async routeList(ns: NsTarget, filter?: RouteFilter): Promise<Route[]> {
    checkTarget('routeList', ns);
    return call('routeList', ns, (b) => b.routeList(ns, filter ?? {}));
  },
  async routeAdd(ns: NsTarget, route: Route): Promise<void> {
    checkTarget('routeAdd', ns);
    checkRoute('routeAdd', ns, route);
    return call('routeAdd', ns, (b) => b.routeAdd(ns, route));
  },
  async routeReplace(ns: NsTarget, route: Route): Promise<void> {
    checkTarget('routeReplace', ns);
    checkRoute('routeReplace', ns, route);
    return call('routeReplace', ns, (b) => b.routeReplace(ns, route));
  },
  async routeDel(ns: NsTarget, route: Route): Promise<void> {
    checkTarget('routeDel', ns);
    checkRoute('routeDel', ns, route);
    return call('routeDel', ns, (b) => b.routeDel(ns, route));
  },
  async linkList(ns: NsTarget): Promise<Link[]> {
    checkTarget('linkList', ns);
    return call('linkList', ns, (b) => b.linkList(ns));
  },
  async addrList(ns: NsTarget): Promise<Addr[]> {
    checkTarget('addrList', ns);
    return call('addrList', ns, (b) => b.addrList(ns));
  },
  async sysctlGet(ns: NsTarget, key: string): Promise<string> {
    checkTarget('sysctlGet', ns);
    checkSysctlKey('sysctlGet', ns, key);
    return call('sysctlGet', ns, (b) => b.sysctlGet(ns, key));
  },
  async sysctlSet(ns: NsTarget, key: string, value: string): Promise<void> {
    checkTarget('sysctlSet', ns);
    checkSysctlKey('sysctlSet', ns, key);
    return call('sysctlSet', ns, (b) => b.sysctlSet(ns, key, value));
  },
  async batch(ns: NsTarget, steps: NsStep[]): Promise<BatchOutcome> {
    checkTarget('batch', ns);
    for (const st of steps) {
      if (st.op === 'sysctlGet' || st.op === 'sysctlSet') checkSysctlKey(st.op, ns, st.key);
      else if (st.op === 'routeReplace' || st.op === 'routeDel') checkRoute(st.op, ns, st.route);
      else if (st.op === 'conntrackDelete') checkConntrackFilter(st.op, ns, st.filter);
    }
    const out = await call('batch', ns, (b) => b.batch(ns, steps));
    if (out.failedAt === undefined) return { results: out.results };
    const op = steps[out.failedAt]?.op ?? 'batch';
    return { results: out.results, failedAt: out.failedAt, error: toNetlinkError(out.error, op, ns) };
  },
};

/**
 * What one read of a container's namespace may take (native/rtnl.h
 * ReadLimits): past it the read fails with code ELIMIT, and the engine
 * refuses the namespace. Twine writes at most `routes` routes and `rules`
 * rules (plus its own jumps) into one namespace: the caps leave room for twice
 * that, and never go below the default 65536 for the dumps; the table's cap is
 * tighter, as the kernel's cost of dumping a chain grows with its square.
 */
export function setReadLimits(limits: { rules: number; routes: number }): { messages: number; tableMessages: number } {
  return loadAddon().setReadLimits(Math.max(65536, 2 * Math.max(limits.rules, limits.routes) + 4096), 2 * limits.rules + 4096);
}
