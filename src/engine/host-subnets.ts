// The subnets connected on the Docker host, which no host route may overlap:
// the prefixes of the addresses in the host's namespace (the one the daemon
// is configured with) and the subnets of Docker's networks (some, like
// overlay or macvlan networks, have no address on the host); and the host's
// own routes, in every table, which no host route may overlap either.

import type { NetworkEntry } from '../docker/networks.js';
import { bigToIp, ipToBig, maskOf, type Family } from '../net/ip.js';
import type { Cidr } from '../net/cidr.js';
import type { ConnectedSubnet, HostRoutePolicy } from '../labels/host-routes.js';
import { MAIN_TABLE, TWINE_RT_PROTO, type Addr, type Route } from '../netns/types.js';
import { parseCidr } from '../net/cidr.js';

function network(family: Family, addr: string, prefixLen: number): Cidr {
  return { family, addr: bigToIp(ipToBig(addr, family) & maskOf(prefixLen, family), family), prefixLen };
}

/** Where a route of the host goes, for messages: "via 198.18.62.2 dev eth1, table main, proto static". */
function routeWhere(r: Route): string {
  const via = [r.type !== 'unicast' ? r.type : '', r.gateway ? `via ${r.gateway}` : '', r.dev ? `dev ${r.dev}` : ''].filter((x) => x !== '').join(' ');
  const table = (r.table ?? MAIN_TABLE) === MAIN_TABLE ? 'main' : String(r.table);
  return `${via || r.dst}, table ${table}, proto ${r.protocol ?? 0}`;
}

/** The host's own routes a host route may not overlap: all but Twine's and default routes. */
export function hostOwnRoutes(routes: readonly Route[]): ConnectedSubnet[] {
  const out: ConnectedSubnet[] = [];
  for (const r of routes) {
    if (r.protocol === TWINE_RT_PROTO) continue;
    const c = parseCidr(r.dst);
    if (typeof c === 'string' || c.prefixLen === 0) continue;
    out.push({ cidr: network(c.family, c.addr, c.prefixLen), where: routeWhere(r) });
  }
  return out;
}

/** The addresses in the host's namespace (`ip addr` there) plus Docker's networks, and the host's routes (`ip route show table all`), as a host-route policy. */
export function hostRoutePolicy(hostAddrs: readonly Addr[], networks: readonly NetworkEntry[], allow: Cidr[] | undefined, routes: readonly Route[] = []): HostRoutePolicy {
  const connected: ConnectedSubnet[] = hostAddrs.map((a) => ({
    cidr: network(a.family, a.address, a.prefixlen),
    where: `${a.ifname} (${a.address}/${a.prefixlen})`,
  }));
  for (const n of networks) {
    for (const s of n.subnets) connected.push({ cidr: network(s.family, s.addr, s.prefixLen), where: `Docker network ${n.name}` });
  }
  const hostRoutes = hostOwnRoutes(routes);
  return allow ? { connected, hostRoutes, allow } : { connected, hostRoutes };
}
