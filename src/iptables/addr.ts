// Address arguments of iptables options: IP literals, CIDRs (prefix length or
// dotted netmask, as iptables accepts) and container references.

import { isIPv4, isIPv6 } from 'node:net';
import { bigToIp, canonicalIp as canonical, ipToBig, maskOf, type Family } from '../net/ip.js';

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

/** Canonical text of an IP literal (IPv6 compressed, lower case); the caller has checked it is one. */
export function canonicalIp(ip: string): string {
  return canonical(ip) ?? ip;
}

/** The network address of ip/len: host bits cleared, as iptables-translate prints it. */
function networkOf(ip: string, len: number, family: Family): string {
  return bigToIp(ipToBig(ip, family) & maskOf(len, family), family);
}

/** A dotted IPv4 netmask's prefix length, or undefined when it is not contiguous. */
function netmaskLen(mask: string): number | undefined {
  const n = ipToBig(mask, 4);
  for (let len = 0; len <= 32; len++) if (maskOf(len, 4) === n) return len;
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
  const addr = networkOf(ip, len, family);
  return { kind: 'net', family, addr, len };
}
