// What twine.host.routes may route on the Docker host. A host route changes
// the host for everyone on it, so some prefixes are never accepted:
// - the default route, and any prefix shorter than /8 for IPv4 or /32 for
//   IPv6 (0.0.0.0/1 and 128.0.0.0/1 together take over the host's egress
//   just as well; 2000::/8 would take a sixth of global unicast);
// - loopback, link-local (169.254.0.0/16 holds cloud metadata services),
//   multicast, and the unspecified, broadcast and IPv4-mapped ranges;
// - any prefix overlapping a subnet connected on the host: its interfaces'
//   addresses and Docker's networks (a route there would cut them off);
// - any prefix overlapping a route the host has itself, in any table (a
//   static, VPN or BGP route: an equal prefix would replace it, a longer one
//   would take part of its traffic). Only the default route does not count,
//   and routes of Twine's own protocol, which the claims keep apart.
// And one container's prefixes together may cover at most a /8 of IPv4 and a
// /32 of IPv6 (HOST_ROUTE_BUDGET): many prefixes each long enough must not add
// up to a quarter of the address space.
// An allow list (--host-routes-allow) narrows that further: each prefix must
// then lie inside one of its CIDRs.

import { cidrContains, cidrsOverlap, cidrText, outermostCidrs, type Cidr } from '../net/cidr.js';
import { BITS, type Family } from '../net/ip.js';

/** The label that asks for host routes. */
export const HOST_ROUTES_LABEL = 'twine.host.routes';

/** A subnet the host is connected to, and where it comes from (for messages). */
export interface ConnectedSubnet {
  cidr: Cidr;
  /** "eth0 (192.0.2.2/24)", "Docker network bridge". */
  where: string;
}

export interface HostRoutePolicy {
  /** When set, only prefixes inside one of these are accepted. */
  allow?: Cidr[];
  connected: ConnectedSubnet[];
  /** The host's own routes (not Twine's, not default routes), in every table. */
  hostRoutes?: ConnectedSubnet[];
}

/** The shortest prefix a host route may have, per family. */
export const MIN_HOST_PREFIX: Readonly<Record<Family, number>> = { 4: 8, 6: 32 };

/** How much address space one container's host routes may cover together, per family (as a prefix length). */
export const HOST_ROUTE_BUDGET: Readonly<Record<Family, number>> = { 4: 8, 6: 32 };

/** Addresses the union of `cidrs` (one family) covers. */
export function addressSpace(cidrs: readonly Cidr[]): bigint {
  return outermostCidrs(cidrs).reduce((n, c) => n + (1n << BigInt(BITS[c.family] - c.prefixLen)), 0n);
}

/** Why the prefixes together are too much for one container, per family (empty when they are not). */
export function hostRouteBudgetProblems(cidrs: readonly Cidr[]): string[] {
  const out: string[] = [];
  for (const f of [4, 6] as const) {
    const mine = cidrs.filter((c) => c.family === f);
    const have = addressSpace(mine);
    const max = 1n << BigInt(BITS[f] - HOST_ROUTE_BUDGET[f]);
    if (have > max) {
      out.push(`the IPv${f} prefixes (${mine.map(cidrText).join(', ')}) cover ${have} addresses together, more than one container may route on the host: ${max} (a /${HOST_ROUTE_BUDGET[f]})`);
    }
  }
  return out;
}

const RESERVED: { cidr: Cidr; what: string }[] = [
  { cidr: { family: 4, addr: '0.0.0.0', prefixLen: 8 }, what: '"this network" (0.0.0.0/8)' },
  { cidr: { family: 4, addr: '127.0.0.0', prefixLen: 8 }, what: 'loopback (127.0.0.0/8)' },
  { cidr: { family: 4, addr: '169.254.0.0', prefixLen: 16 }, what: 'link-local (169.254.0.0/16, where cloud metadata services live)' },
  { cidr: { family: 4, addr: '224.0.0.0', prefixLen: 4 }, what: 'multicast (224.0.0.0/4)' },
  { cidr: { family: 4, addr: '255.255.255.255', prefixLen: 32 }, what: 'broadcast (255.255.255.255)' },
  { cidr: { family: 6, addr: '::', prefixLen: 128 }, what: 'the unspecified address (::)' },
  { cidr: { family: 6, addr: '::1', prefixLen: 128 }, what: 'loopback (::1)' },
  { cidr: { family: 6, addr: '::ffff:0:0', prefixLen: 96 }, what: 'IPv4-mapped (::ffff:0:0/96)' },
  { cidr: { family: 6, addr: 'fe80::', prefixLen: 10 }, what: 'link-local (fe80::/10)' },
  { cidr: { family: 6, addr: 'ff00::', prefixLen: 8 }, what: 'multicast (ff00::/8)' },
];

/** Why `c` may not be a host route under `policy`, or undefined when it may. */
export function hostRouteProblem(c: Cidr, policy: HostRoutePolicy): string | undefined {
  if (c.prefixLen === 0) return `${cidrText(c)} is the default route: it would take over the host's egress`;
  // Inside a reserved range says more than "too short" (224.0.0.0/4 is multicast).
  const inside = RESERVED.find((r) => cidrContains(r.cidr, c));
  if (inside) return `${cidrText(c)} is ${inside.what}, which is never routed through a container`;
  const min = MIN_HOST_PREFIX[c.family];
  if (c.prefixLen < min) {
    return `${cidrText(c)} is shorter than /${min}, the shortest IPv${c.family} host route: a prefix that large takes over much of the host's egress (as a split default route does)`;
  }
  const reserved = RESERVED.find((r) => cidrsOverlap(r.cidr, c));
  if (reserved) return `${cidrText(c)} overlaps ${reserved.what}, which is never routed through a container`;
  const connected = policy.connected.find((s) => cidrsOverlap(s.cidr, c));
  if (connected) return `${cidrText(c)} overlaps ${cidrText(connected.cidr)}, a subnet connected on the host (${connected.where})`;
  const route = policy.hostRoutes?.find((s) => cidrsOverlap(s.cidr, c));
  if (route) return `${cidrText(c)} overlaps ${cidrText(route.cidr)}, a route of the host (${route.where}), which Twine never replaces or takes traffic from`;
  if (policy.allow && !policy.allow.some((a) => cidrContains(a, c))) {
    return `${cidrText(c)} is not inside the allowed prefixes (--host-routes-allow=${policy.allow.map(cidrText).join(',')})`;
  }
  return undefined;
}
