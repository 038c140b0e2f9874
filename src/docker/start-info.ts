// A just-started container's ContainerInfo without `docker inspect`.
//
// Inspecting a container right after its start event waits for Docker to
// finish starting it (~2 ms here, far more on a busy host), and that wait is
// most of a transaction. Everything the planner needs is known without it:
// the labels and network list from an earlier inspect (at create, or the
// previous run: neither changes while a container is stopped, except through
// network connect/disconnect, which the checks below catch), the process from
// the container's cgroup, and the addresses and interface names from its
// namespace (one address dump; MACs are not needed to plan and come with the
// inspect that follows). Each interface is matched to a network by its address falling in
// that network's subnet. Whenever the picture is not complete and unambiguous
// the answer is a fallback reason, and the engine inspects as before. The
// engine inspects after the transaction anyway and corrects any difference.

import type { Addr } from '../netns/types.js';
import type { DefaultGateways } from '../netns/procfs.js';
import { ipInNet } from '../net/ip.js';
import type { ContainerInfo, NetworkAttachment } from './container.js';
import type { NetworkEntry, Subnet } from './networks.js';

export interface StartFacts {
  /** From the start event (a rename while stopped is in it). */
  name: string;
  pid: number;
  addrs: readonly Addr[];
  /**
   * The namespace's default routes, while Docker's are the only ones: they
   * name the gateway of a network created with --subnet and no --gateway,
   * which Docker's network list leaves out (its inspect of the container has it).
   */
  gateways?: () => DefaultGateways | undefined;
}

export type StartInfo = { info: ContainerInfo } | { fallback: string };

/** Addresses Docker does not assign: loopback and IPv6 link-local. */
function assignedByDocker(a: Addr): boolean {
  if (a.family === 4) return !a.address.startsWith('127.');
  const lower = a.address.toLowerCase();
  return lower !== '::1' && !/^fe[89ab]/.test(lower);
}

function inSubnet(a: Addr, s: Subnet): boolean {
  return a.family === s.family && ipInNet(a.address, s.addr, s.prefixLen, s.family);
}

/**
 * `template` is the container as last inspected (created or previously run);
 * `network` looks a network up by name.
 */
export function startedInfo(
  template: ContainerInfo,
  facts: StartFacts,
  network: (name: string) => NetworkEntry | undefined,
): StartInfo {
  if (template.networks.length === 0) return { fallback: 'no networks of its own (network mode host, none or container:)' };
  const addrs = facts.addrs.filter(assignedByDocker);
  const claimed = new Map<number, string>();
  let read: { g: DefaultGateways | undefined } | undefined;
  const defaults = (): DefaultGateways | undefined => (read ??= { g: facts.gateways?.() }).g;
  const attached: { a: NetworkAttachment; index: number }[] = [];

  for (const t of template.networks) {
    const net = network(t.networkName);
    if (!net) return { fallback: `network ${t.networkName} is not known` };
    if (net.subnets.length === 0) return { fallback: `network ${t.networkName} has no subnet` };
    const v4 = addrs.filter((a) => a.family === 4 && net.subnets.some((s) => inSubnet(a, s)));
    const v6 = addrs.filter((a) => a.family === 6 && net.subnets.some((s) => inSubnet(a, s)));
    const ifindexes = new Set([...v4, ...v6].map((a) => a.ifindex));
    if (ifindexes.size !== 1 || v4.length > 1 || v6.length > 1) {
      return { fallback: `network ${t.networkName}: ${ifindexes.size === 0 ? 'no' : 'more than one'} interface with an address in its subnet` };
    }
    const index = [...ifindexes][0]!;
    const other = claimed.get(index);
    if (other !== undefined) return { fallback: `networks ${other} and ${t.networkName} share an interface` };
    claimed.set(index, t.networkName);

    const a: NetworkAttachment = { networkId: net.id, networkName: t.networkName, aliases: [...t.aliases], dnsNames: [...t.dnsNames] };
    const four = v4[0];
    if (four) {
      a.ipv4 = four.address;
      a.ipv4PrefixLen = four.prefixlen;
    }
    const six = v6[0];
    if (six) {
      a.ipv6 = six.address;
      a.ipv6PrefixLen = six.prefixlen;
    }
    // The network's list may not name its gateway; the last inspect did, or else Docker's
    // default route does (read before Twine may have replaced it: only a template without one).
    // Read at most once, and only when neither the network list nor the template names a gateway.
    // Docker 28 gives a container on an --internal network no gateway at all (../docker/networks.ts).
    const only = template.networks.length === 1;
    const listed = (addr: Addr): string | undefined => net.subnets.find((s) => inSubnet(addr, s))?.gateway;
    const gives = net.gatewayForContainers;
    const gw4 = four && gives ? (listed(four) ?? t.gatewayV4 ?? (only ? sole(defaults()?.v4) : undefined)) : undefined;
    if (gw4 !== undefined) a.gatewayV4 = gw4;
    const gw6 = six && gives ? (listed(six) ?? t.gatewayV6 ?? (only ? sole(defaults()?.v6) : undefined)) : undefined;
    if (gw6 !== undefined) a.gatewayV6 = gw6;
    if (t.mac !== undefined) a.mac = t.mac;
    a.iface = [...v4, ...v6][0]!.ifname;
    attached.push({ a, index });
  }

  // An address on no known network: connected to one since the template was read.
  const stray = addrs.find((a) => !claimed.has(a.ifindex));
  if (stray) return { fallback: `interface ${stray.ifname} (${stray.address}) is on no network it was created with` };

  attached.sort((x, y) => x.index - y.index);
  return { info: { ...template, name: facts.name, pid: facts.pid, running: true, networks: attached.map((x) => x.a) } };
}

function sole(xs: readonly string[] | undefined): string | undefined {
  return xs?.length === 1 ? xs[0] : undefined;
}
