// IP address and CIDR arithmetic on bigints: strict parsing (no shorthand
// forms like "10.1" or octal octets that inet_aton would accept), canonical
// formatting (RFC 5952 for IPv6) and the containment tests the resolver needs.

import { isIPv4, isIPv6 } from 'node:net';

/** An IP address family. */
export type Family = 4 | 6;

export const BITS: Record<Family, number> = { 4: 32, 6: 128 };

/** The family of an IP literal, or undefined when it is not one. Zone ids (fe80::1%eth0) are refused. */
export function ipFamily(s: string): Family | undefined {
  if (isIPv4(s) && /^\d{1,3}(\.\d{1,3}){3}$/.test(s)) return 4;
  if (isIPv6(s) && !s.includes('%')) return 6;
  return undefined;
}

/** The address as an unsigned integer; the caller has checked ipFamily(). */
export function ipToBig(s: string, family: Family): bigint {
  if (family === 4) {
    return s.split('.').reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n);
  }
  let text = s;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const n = ipToBig(v4[1], 4);
    text = text.slice(0, -v4[1].length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Canonical text: dotted quad, or RFC 5952 (lower case, longest zero run compressed). */
export function bigToIp(n: bigint, family: Family): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => ((n >> s) & 0xffn).toString()).join('.');
  }
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  let bestAt = -1;
  let bestLen = 1; // a single zero group is not compressed
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
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(g);
  return `${hex(g.slice(0, bestAt))}::${hex(g.slice(bestAt + bestLen))}`;
}

export function canonicalIp(s: string): string | undefined {
  const f = ipFamily(s);
  return f === undefined ? undefined : bigToIp(ipToBig(s, f), f);
}

export function maskOf(prefixLen: number, family: Family): bigint {
  const bits = BITS[family];
  return prefixLen === 0 ? 0n : ((1n << BigInt(prefixLen)) - 1n) << BigInt(bits - prefixLen);
}

/** Is `ip` inside `net/prefixLen` (both of `family`)? */
export function ipInNet(ip: string, net: string, prefixLen: number, family: Family): boolean {
  const m = maskOf(prefixLen, family);
  return (ipToBig(ip, family) & m) === (ipToBig(net, family) & m);
}

/**
 * Do the given CIDRs together cover the whole address space of the family?
 * (0.0.0.0/0, or 0.0.0.0/1 + 128.0.0.0/1, ...)
 */
export function coversAll(cidrs: { addr: string; prefixLen: number }[], family: Family): boolean {
  const bits = BigInt(BITS[family]);
  const iv = cidrs
    .map((c) => {
      const lo = ipToBig(c.addr, family) & maskOf(c.prefixLen, family);
      return [lo, lo + (1n << (bits - BigInt(c.prefixLen))) - 1n] as const;
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let next = 0n;
  for (const [lo, hi] of iv) {
    if (lo > next) return false;
    if (hi + 1n > next) next = hi + 1n;
  }
  return next === 1n << bits;
}
