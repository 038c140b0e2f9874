// Docker's networks by name: id and IPAM subnets. The start path uses them to
// tell which of a container's interfaces belongs to which network without
// asking Docker about the container (see ./start-info.ts).

import { type Family, ipFamily } from '../net/ip.js';
import { dockerError, type DockerClient } from './client.js';

export interface Subnet {
  family: Family;
  /** Network address, as Docker wrote it. */
  addr: string;
  prefixLen: number;
  /** Docker's gateway on it (the bridge's address), when it has one. */
  gateway?: string;
}

export interface NetworkEntry {
  id: string;
  name: string;
  driver: string;
  subnets: Subnet[];
  /** --internal: no traffic off the bridge. */
  internal: boolean;
  /**
   * Docker gives a container on it the bridge's address as its gateway (and a default route):
   * every network but an --internal one on Docker 28 and later, which gives it none. Those
   * engines' network documents are the ones that carry EnableIPv4 (Engine API 1.47+).
   */
  gatewayForContainers: boolean;
  /** --ipv6: Docker adds an IPv6 default route too. */
  ipv6: boolean;
  /** Swarm's ingress network: Docker's DNS answers no names on it. */
  ingress: boolean;
}

/** The part of `GET /networks` that Twine reads. */
export interface NetworkSummary {
  Id: string;
  Name: string;
  Driver?: string;
  Internal?: boolean;
  EnableIPv4?: boolean;
  EnableIPv6?: boolean;
  Ingress?: boolean;
  IPAM?: { Config?: { Subnet?: string; Gateway?: string }[] | null } | null;
}

export function parseSubnet(cidr: string | undefined, gateway: string | undefined): Subnet | undefined {
  if (!cidr) return undefined;
  const [addr, len] = cidr.split('/');
  const family = addr === undefined ? undefined : ipFamily(addr);
  const prefixLen = Number(len);
  if (addr === undefined || family === undefined || !Number.isInteger(prefixLen)) return undefined;
  const s: Subnet = { family, addr, prefixLen };
  if (gateway && ipFamily(gateway) === family) s.gateway = gateway;
  return s;
}

export function toNetworkEntry(n: NetworkSummary): NetworkEntry {
  const subnets = (n.IPAM?.Config ?? []).map((c) => parseSubnet(c.Subnet, c.Gateway)).filter((s): s is Subnet => s !== undefined);
  const internal = n.Internal === true;
  return {
    id: n.Id,
    name: n.Name,
    driver: n.Driver ?? '',
    subnets,
    internal,
    gatewayForContainers: !(internal && n.EnableIPv4 !== undefined),
    ipv6: n.EnableIPv6 === true,
    ingress: n.Ingress === true,
  };
}

/** Name → network, re-read as a whole (one request) whenever networks change. */
export class NetworkIndex {
  private byName = new Map<string, NetworkEntry>();
  private ingressIds: ReadonlySet<string> = new Set();
  private loading: Promise<void> | undefined;
  private stale = true;

  constructor(private readonly docker: DockerClient) {}

  get(name: string): NetworkEntry | undefined {
    return this.byName.get(name);
  }

  /** Ids of swarm's ingress networks, as last read (the same set until a read changes it). */
  ingress(): ReadonlySet<string> {
    return this.ingressIds;
  }

  /** Every network, as last read. */
  all(): NetworkEntry[] {
    return [...this.byName.values()];
  }

  /** Reads the list when it is stale (or `force`: networks were created or removed); concurrent callers share one request. */
  async refresh(force = false): Promise<void> {
    if (force) this.stale = true;
    if (!this.stale) return;
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    await this.loading;
  }

  private async load(): Promise<void> {
    this.stale = false;
    let list: NetworkSummary[];
    try {
      list = await this.docker.getJson<NetworkSummary[]>('/networks');
    } catch (err) {
      this.stale = true;
      throw dockerError('list networks', err);
    }
    this.byName = new Map(list.map((n) => [n.Name, toNetworkEntry(n)]));
    const ingress = [...this.byName.values()].filter((n) => n.ingress).map((n) => n.id);
    if (ingress.length !== this.ingressIds.size || ingress.some((id) => !this.ingressIds.has(id))) this.ingressIds = new Set(ingress);
  }
}
