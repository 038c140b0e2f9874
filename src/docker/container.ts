// What Twine knows about the host's containers: a snapshot built from Docker's
// inspect output (and, for interface names, from the container's namespace).

import type { Family } from '../net/ip.js';

/** One network a container is attached to, in the container's network order. */
export interface NetworkAttachment {
  networkId: string;
  networkName: string;
  /** Docker's endpoint on this network: a new id at every start or connect (./inspect-cache.ts). */
  endpointId?: string;
  ipv4?: string;
  ipv4PrefixLen?: number;
  ipv6?: string;
  ipv6PrefixLen?: number;
  /** Docker's gateway on this network (the bridge address). */
  gatewayV4?: string;
  gatewayV6?: string;
  /** Network aliases (compose adds the service name here). */
  aliases: string[];
  /** Names Docker's embedded DNS answers for this endpoint (DNSNames, API ≥ 1.44). */
  dnsNames: string[];
  mac?: string;
  /** The interface name inside the container (eth0...), when known from the namespace. */
  iface?: string;
}

export interface ContainerInfo {
  id: string;
  /** Without Docker's leading slash. */
  name: string;
  /** 0 when not running. */
  pid: number;
  running: boolean;
  /** Only `twine.*` and the compose project/service labels: the Docker layer drops the rest (they may hold secrets). */
  labels: Record<string, string>;
  networks: NetworkAttachment[];
  /**
   * HostConfig.Dns: the container's own DNS servers ([] when it has none, so
   * Docker's embedded resolver forwards to the host's); undefined when not
   * known (the container was not inspected yet).
   */
  dnsServers?: string[];
  /** Docker's HostConfig.NetworkMode ("bridge", "host", "container:<id>", a network name...); undefined when not inspected. */
  networkMode?: string;
  /**
   * The inode of the network namespace `pid` was in when Twine learnt that pid
   * (inspect, or the start path's cgroup read): a transaction's namespace
   * handle must have it, else the pid has been reused.
   */
  netnsIno?: number;
  /** com.docker.compose.service / .project when the container came from compose. */
  composeService?: string;
  composeProject?: string;
  /** The swarm task this container runs (its com.docker.swarm.* labels), when a swarm service made it. */
  swarm?: SwarmTask;
  /** The container ports Docker publishes on the host (inspect only; undefined when not inspected). */
  published?: PublishedPort[];
}

/** A container port Docker publishes on the host (`-p`, `-P`). */
export interface PublishedPort {
  proto: 'tcp' | 'udp' | 'sctp';
  port: number;
}

/**
 * A swarm service's task. Local tasks are containers (from their labels);
 * tasks on other nodes come from the overlay network's own view
 * (docker/swarm.ts) and stand in the inventory as containers of their own
 * (`Inventory.remoteTasks`: id = the task id, name = the task name, one
 * attachment, no labels, no pid).
 */
export interface SwarmTask {
  /** The service's name; a stack's services are named `<stack>_<service>`. */
  service: string;
  /** The replica's slot number, or for a global service the node id: the middle part of the task name. */
  slot: string;
  /** `<service>.<slot>.<task id>`, which is also the name of the task's container. */
  name: string;
  taskId: string;
  /** com.docker.stack.namespace (local tasks only: the network's view does not say). */
  stack?: string;
  /** The node a task of another node runs on: its swarm address (the view's "Host IP"). */
  nodeAddr?: string;
}

/** A snapshot of every container the resolver may look at. */
export interface Inventory {
  containers: ContainerInfo[];
  /**
   * Docker's bridges on the host, by their gateway address: the bridge's MAC, the source MAC of
   * every packet the host routes to a container on it (published ports among them).
   */
  bridgeMacs?: ReadonlyMap<string, string>;
  /** Swarm tasks on other nodes, as the overlay networks' views list them. */
  remoteTasks?: readonly ContainerInfo[];
  /** Networks on which Docker's embedded DNS answers no names (swarm's ingress): references never resolve there. */
  noDns?: ReadonlySet<string>;
  /** What each gateway's forwarded-port file said at its last read, by container id. */
  portFiles?: ReadonlyMap<string, PortFileReading>;
}

/** A port read from a container's forwarded-port file, or why there is none (the port of the last good read is kept when a read is refused). */
export interface PortFileReading {
  port?: number;
  problem?: string;
}

export function addressOf(n: NetworkAttachment, family: Family): string | undefined {
  return family === 4 ? n.ipv4 : n.ipv6;
}

/** Whether two network lists resolve alike (same networks, addresses, names, interfaces; alias order and MACs aside). */
export function sameNetworks(a: readonly NetworkAttachment[], b: readonly NetworkAttachment[]): boolean {
  if (a.length !== b.length) return false;
  const key = (n: NetworkAttachment): string =>
    JSON.stringify([
      n.networkId,
      n.networkName,
      [...n.aliases].sort(),
      [...n.dnsNames].sort(),
      n.ipv4 ?? '',
      n.ipv4PrefixLen ?? 0,
      n.ipv6 ?? '',
      n.ipv6PrefixLen ?? 0,
      n.gatewayV4 ?? '',
      n.gatewayV6 ?? '',
      n.iface ?? '',
    ]);
  return a.every((n, i) => key(n) === key(b[i]!));
}
