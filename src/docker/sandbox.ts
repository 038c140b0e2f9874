// Has Docker finished setting up a starting container's network namespace?
//
// Docker (20.10 here) sets up a container's interfaces from a runc hook,
// after runc has created the namespace and before the container's process
// runs: move and rename the interface, add its addresses, bring it up, then
// add the default route through the network's gateway (and the IPv6 one on
// an --ipv6 network). Measured here, the default route appears 40-55 ms
// before the entrypoint runs and 45-60 ms before Docker's start event. Twine
// applies in that window, so that no traffic leaves before Twine's routes.
//
// It must not apply earlier: Docker adds its default route (it does not
// replace it), and a route Twine put there first makes Docker fail the
// start. So "ready" means every address Docker assigns is there and so is
// each default route Docker will add (on an --internal network, only those
// Twine replaces). A container on more than one network
// is not handled here: Docker joins them one by one and may move the
// default route from one gateway to another while it does, so nothing short
// of the start event says it is done.

import type { Addr } from '../netns/types.js';
import type { DefaultGateways } from '../netns/procfs.js';
import type { ContainerInfo } from './container.js';
import type { NetworkEntry } from './networks.js';
import { startedInfo } from './start-info.js';

export interface SandboxFacts {
  /** From the create event's inspect (the name may change at start; the start event corrects it). */
  name: string;
  pid: number;
  addrs: readonly Addr[];
  gateways: DefaultGateways;
  /** Families whose default route (0.0.0.0/0, ::/0) Twine's plan for it replaces. */
  replacesDefault: { v4: boolean; v6: boolean };
}

export type Readiness =
  /** Set up: the container as it will run. */
  | { ready: ContainerInfo }
  /** Not yet: what is missing. */
  | { wait: string }
  /** Not a case this can tell: leave it to the start event. */
  | { skip: string };

export function sandboxReadiness(template: ContainerInfo, facts: SandboxFacts, network: (name: string) => NetworkEntry | undefined): Readiness {
  if (template.networks.length !== 1) {
    return { skip: template.networks.length === 0 ? 'no network of its own' : 'on more than one network' };
  }
  const net = network(template.networks[0]!.networkName);
  if (!net) return { skip: `network ${template.networks[0]!.networkName} is not known` };
  if (net.driver !== 'bridge') return { skip: `network ${net.name} uses the ${net.driver || 'unknown'} driver` };

  const r = startedInfo(template, { name: facts.name, pid: facts.pid, addrs: facts.addrs, gateways: () => facts.gateways }, network);
  if ('fallback' in r) return { wait: r.fallback };
  const a = r.info.networks[0]!;
  if (a.ipv4 === undefined) return { wait: 'no IPv4 address yet' };
  if (net.ipv6 && net.subnets.some((s) => s.family === 6) && a.ipv6 === undefined) return { wait: 'no IPv6 address yet' };
  // Docker 20.10 adds a default route on --internal networks too, Docker 28 none (gatewayForContainers):
  // there it is only waited for when Twine would replace it, and only from an engine that adds one.
  const need4 = net.gatewayForContainers && (!net.internal || facts.replacesDefault.v4);
  const need6 = net.gatewayForContainers && net.ipv6 && a.ipv6 !== undefined && (!net.internal || facts.replacesDefault.v6);
  // A network created with --subnet and no --gateway does not say which address Docker gave its gateway.
  if (need4 && !hasDefault(facts.gateways.v4, a.gatewayV4)) return { wait: `no default route via ${a.gatewayV4 ?? 'a gateway'} yet` };
  if (need6 && !hasDefault(facts.gateways.v6, a.gatewayV6)) return { wait: `no IPv6 default route via ${a.gatewayV6 ?? 'a gateway'} yet` };
  return { ready: r.info };
}

function hasDefault(gateways: readonly string[], want: string | undefined): boolean {
  return want === undefined ? gateways.length > 0 : gateways.includes(want);
}
