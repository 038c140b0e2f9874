// Traffic of a routed container that does not follow its routes, and that
// Twine can only report: its DNS lookups, when Docker's embedded resolver
// forwards them from the host's network namespace (Docker 28 and later, for a
// container without DNS servers of its own), and its IPv6 traffic, when it
// routes all of IPv4 via a gateway but keeps Docker's IPv6 default route.
//
// "Routed" means the container's twine.route.* labels together cover all of
// IPv4 (0.0.0.0/0, or 0.0.0.0/1 + 128.0.0.0/1...): the full tunnel of a VPN
// client. Twine cannot know the host's resolvers (they are the host's
// /etc/resolv.conf, outside Twine's view), so narrower routes never count.

import type { ContainerInfo } from '../docker/container.js';
import type { LabelWarning, Spec } from '../labels/spec.js';
import { coversAll } from '../net/ip.js';

/** The first engine whose embedded resolver forwards a container's lookups from the host's namespace when it has no DNS servers of its own. */
export const HOST_FORWARDING_MAJOR = 28;

export const DNS_LABEL = 'twine.dns';
export const IPV6_LABEL = 'twine.ipv6';

/** The fix a dns-leak's warning and error name. */
export const DNS_FIX = "give the container dns: servers reachable through its gateway (compose's dns:, docker run --dns): Docker's own names keep resolving";

export type DnsPath =
  /** Lookups follow the container's routes (or it is not routed). */
  | { leak: false }
  | { leak: true; why: string }
  /** A leak is possible but the facts are not known yet. */
  | { leak: 'unknown'; why: string };

/** The major version of a Docker engine version ("28.5.2", "28.5.2+dfsg4", "20.10.24"); undefined when it does not say. */
export function engineMajor(version: string | undefined): number | undefined {
  const m = version === undefined ? null : /^v?(\d+)\./.exec(version.trim());
  return m ? Number(m[1]) : undefined;
}

/** Docker's embedded resolver (127.0.0.11) serves containers on user-defined networks; the default bridge keeps the host's resolv.conf. */
function usesEmbeddedResolver(info: ContainerInfo): boolean {
  const mode = info.networkMode;
  if (mode === 'bridge' || mode === 'default' || mode === 'host' || mode === 'none' || mode?.startsWith('container:')) return false;
  return info.networks.length > 0;
}

function routesAllOf(spec: Spec, family: 4 | 6): boolean {
  const cidrs = spec.routes.filter((r) => r.cidr.family === family).map((r) => r.cidr);
  return cidrs.length > 0 && coversAll(cidrs, family);
}

/** Where the container's external lookups leave from, given the engine's version. */
export function dnsPath(info: ContainerInfo, spec: Spec, dockerVersion: string | undefined): DnsPath {
  if (!routesAllOf(spec, 4) || !usesEmbeddedResolver(info)) return { leak: false };
  if (info.dnsServers !== undefined && info.dnsServers.length > 0) return { leak: false };
  const major = engineMajor(dockerVersion);
  if (major !== undefined && major < HOST_FORWARDING_MAJOR) return { leak: false };
  if (major === undefined) return { leak: 'unknown', why: "the Docker engine's version is not known yet" };
  if (info.dnsServers === undefined) return { leak: 'unknown', why: 'whether it has DNS servers of its own is not known yet (not inspected)' };
  return {
    leak: true,
    why: `Docker ${dockerVersion} forwards the lookups of a container without DNS servers of its own from the host's network namespace, so they leave from the Docker host instead of through its routes`,
  };
}

/** A global (not link-local) IPv6 address of the container, if it has one. */
function globalIpv6(info: ContainerInfo): string | undefined {
  return info.networks.map((n) => n.ipv6).find((a) => a !== undefined && !/^fe[89ab]/i.test(a));
}

/** Whether the container's IPv6 traffic bypasses the gateway its IPv4 traffic goes through. */
export function ipv6Bypass(info: ContainerInfo, spec: Spec): string | undefined {
  if (spec.ipv6 !== undefined || !routesAllOf(spec, 4) || routesAllOf(spec, 6)) return undefined;
  return globalIpv6(info);
}

/** The leak warnings of a container: what status, the API, the dashboard, the metrics and the log report. */
export function leakWarnings(info: ContainerInfo, spec: Spec, dockerVersion: string | undefined): LabelWarning[] {
  const out: LabelWarning[] = [];
  const dns = dnsPath(info, spec, dockerVersion);
  if (dns.leak === true) {
    out.push({ key: DNS_LABEL, leak: 'dns-leak', message: `${info.name}'s DNS lookups leak: ${dns.why}; ${DNS_FIX}, and set ${DNS_LABEL}=required to refuse the container otherwise` });
  }
  const v6 = ipv6Bypass(info, spec);
  if (v6 !== undefined) {
    out.push({
      key: IPV6_LABEL,
      leak: 'ipv6-bypass',
      message:
        `${info.name} has the IPv6 address ${v6} and routes all of IPv4 via a gateway but not ::/0, so its IPv6 traffic leaves through Docker's default route; ` +
        `route ::/0 via a gateway with IPv6, or set ${IPV6_LABEL}=block (IPv6 only on-link) for a gateway without it (${IPV6_LABEL}=allow when this is intended)`,
    });
  }
  return out;
}
