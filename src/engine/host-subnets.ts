// The subnets connected on the Docker host, which no host route may overlap:
// the prefixes of the addresses in the host's namespace (the one the daemon
// is configured with) and the subnets of Docker's networks (some, like
// overlay or macvlan networks, have no address on the host).

import type { NetworkEntry } from '../docker/networks.js';
import { bigToIp, ipToBig, maskOf, type Family } from '../net/ip.js';
import type { Cidr } from '../net/cidr.js';
import type { ConnectedSubnet, HostRoutePolicy } from '../labels/host-routes.js';
import type { Addr } from '../netns/types.js';

function network(family: Family, addr: string, prefixLen: number): Cidr {
  return { family, addr: bigToIp(ipToBig(addr, family) & maskOf(prefixLen, family), family), prefixLen };
}

/** The addresses in the host's namespace (`ip addr` there) plus Docker's networks, as a host-route policy. */
export function hostRoutePolicy(hostAddrs: readonly Addr[], networks: readonly NetworkEntry[], allow: Cidr[] | undefined): HostRoutePolicy {
  const connected: ConnectedSubnet[] = hostAddrs.map((a) => ({
    cidr: network(a.family, a.address, a.prefixlen),
    where: `${a.ifname} (${a.address}/${a.prefixlen})`,
  }));
  for (const n of networks) {
    for (const s of n.subnets) connected.push({ cidr: network(s.family, s.addr, s.prefixLen), where: `Docker network ${n.name}` });
  }
  return allow ? { connected, allow } : { connected };
}
