// CIDRs: the typed form, strict parsing (host bits must be clear, as `ip route`
// requires) and the comparisons routes and host-route policy need.

import { BITS, bigToIp, ipFamily, ipToBig, maskOf, type Family } from './ip.js';

export interface Cidr {
  family: Family;
  /** The network address as written, e.g. "10.0.0.0" or "fd00::". */
  addr: string;
  prefixLen: number;
}

/**
 * The syntax alone: an address (of `family` when given) and an optional prefix
 * length within the family's bits; host bits are not looked at. Returns what is
 * wrong as a string. The native backend checks its arguments with this; labels
 * and options go through parseCidr.
 */
export function cidrSyntax(s: string, family?: Family): { family: Family; addrText: string; prefixLen: number } | string {
  const slash = s.indexOf('/');
  const addrText = slash < 0 ? s : s.slice(0, slash);
  const f = ipFamily(addrText);
  if (f === undefined || (family !== undefined && f !== family)) return `"${s}" is not an IPv${family ?? '4 or IPv6'} CIDR`;
  let prefixLen = BITS[f];
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > BITS[f]) return `bad prefix length in "${s}" (0-${BITS[f]})`;
    prefixLen = Number(p);
  }
  return { family: f, addrText, prefixLen };
}

/** "10.0.0.0/8", "fd00::/64", "192.168.1.5" (host route). Returns what is wrong as a string. */
export function parseCidr(s: string): Cidr | string {
  const syntax = cidrSyntax(s);
  if (typeof syntax === 'string') return syntax;
  const { family, addrText, prefixLen } = syntax;
  const n = ipToBig(addrText, family);
  if ((n & maskOf(prefixLen, family)) !== n) {
    const net = bigToIp(n & maskOf(prefixLen, family), family);
    return `"${s}" has host bits set (did you mean ${net}/${prefixLen}?)`;
  }
  return { family, addr: bigToIp(n, family), prefixLen };
}

export function sameCidr(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.addr === b.addr && a.prefixLen === b.prefixLen;
}

export function cidrText(c: Cidr): string {
  return `${c.addr}/${c.prefixLen}`;
}

/** The first and last address of a CIDR. */
function range(c: Cidr): [bigint, bigint] {
  const lo = ipToBig(c.addr, c.family) & maskOf(c.prefixLen, c.family);
  return [lo, lo + (1n << BigInt(BITS[c.family] - c.prefixLen)) - 1n];
}

/** Do two CIDRs share an address (one holds the other)? */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const [alo, ahi] = range(a);
  const [blo, bhi] = range(b);
  return alo <= bhi && blo <= ahi;
}

/** Does `outer` hold all of `inner`? */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || outer.prefixLen > inner.prefixLen) return false;
  const [olo, ohi] = range(outer);
  const [ilo, ihi] = range(inner);
  return olo <= ilo && ihi <= ohi;
}

/**
 * The CIDRs inside no other one of the list (of equal ones, the first): two
 * prefixes are nested or disjoint, so these cover the same addresses as the
 * whole list, without overlaps.
 */
export function outermostCidrs(cidrs: readonly Cidr[]): Cidr[] {
  return cidrs.filter((c, i) => !cidrs.some((o, j) => j !== i && cidrContains(o, c) && (o.prefixLen < c.prefixLen || j < i)));
}
