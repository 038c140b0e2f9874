// Address arguments of iptables options: IP literals, CIDRs (prefix length or
// dotted netmask, as iptables accepts) and container references.

import { isIPv4, isIPv6 } from 'node:net';
import type { Family } from '../../netns/types.js';

/** A network in canonical form: host bits cleared, as iptables-translate prints it. */
export interface Net {
  kind: 'net';
  family: Family;
  addr: string;
  len: number;
}

/** A container name, compose service name or network alias to resolve later. */
export interface Ref {
  kind: 'ref';
  name: string;
}

/** Docker's rule for container names (and a fair rule for aliases). */
const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$/;

export function isDockerName(s: string): boolean {
  return DOCKER_NAME.test(s);
}

function v4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
}

function intToV4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** 8 groups of 16 bits. */
function v6ToGroups(ip: string): number[] {
  let s = ip;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const n = v4ToInt(tail);
    s = `${s.slice(0, lastColon + 1)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, rest] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const r = rest === undefined ? [] : rest ? rest.split(':') : [];
  const fill = rest === undefined ? [] : new Array<string>(8 - h.length - r.length).fill('0');
  return [...h, ...fill, ...r].map((g) => parseInt(g, 16));
}

/** RFC 5952 text: lower case, longest run (≥ 2) of zero groups as "::". */
function groupsToV6(g: number[]): string {
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

function maskV4(ip: string, len: number): string {
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return intToV4((v4ToInt(ip) & mask) >>> 0);
}

function maskV6(ip: string, len: number): string {
  const g = v6ToGroups(ip);
  for (let i = 0; i < 8; i++) {
    const bits = Math.max(0, Math.min(16, len - i * 16));
    g[i] = g[i]! & ((0xffff << (16 - bits)) & 0xffff);
  }
  return groupsToV6(g);
}

/** Canonical text of an IP literal (IPv6 compressed, lower case). */
export function canonicalIp(ip: string): string {
  return isIPv6(ip) ? groupsToV6(v6ToGroups(ip)) : ip;
}

/** A dotted IPv4 netmask's prefix length, or undefined when it is not contiguous. */
function netmaskLen(mask: string): number | undefined {
  const n = v4ToInt(mask);
  for (let len = 0; len <= 32; len++) {
    if ((len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0) === n) return len;
  }
  return undefined;
}

/**
 * Parse an -s/-d argument. Returns a reason string when it is neither an IP,
 * a CIDR nor a valid container name.
 */
export function parseAddr(arg: string): Net | Ref | string {
  if (arg.includes(',')) return 'one address per rule (iptables would make one rule for each)';
  const slash = arg.indexOf('/');
  const ip = slash < 0 ? arg : arg.slice(0, slash);
  const suffix = slash < 0 ? undefined : arg.slice(slash + 1);
  let family: Family;
  if (isIPv4(ip)) family = 4;
  else if (isIPv6(ip)) family = 6;
  else if (suffix === undefined && isDockerName(arg)) return { kind: 'ref', name: arg };
  else return 'not an IP address, a CIDR or a container name';
  const max = family === 4 ? 32 : 128;
  let len = max;
  if (suffix !== undefined) {
    if (/^\d{1,3}$/.test(suffix)) len = Number(suffix);
    else if (family === 4 && isIPv4(suffix)) {
      const m = netmaskLen(suffix);
      if (m === undefined) return `netmask ${suffix} is not contiguous`;
      len = m;
    } else return `bad prefix length "${suffix}"`;
    if (len > max) return `prefix length ${len} is longer than ${max}`;
  }
  const addr = family === 4 ? maskV4(ip, len) : maskV6(ip, len);
  return { kind: 'net', family, addr, len };
}
