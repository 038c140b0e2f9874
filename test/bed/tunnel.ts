// The VPN tunnel stand-in of the gateway tests: a veth pair whose end in the
// gateway container is wg0 and whose far end is eth0 of a test namespace
// playing the VPN server, with "the internet" behind it as addresses of that
// namespace; optionally routed as wg-quick does it (vpn.ts).

import { execIn, vethPair, type TestNs } from './netns.js';
import { wgQuickRouting } from './vpn.js';

export interface TunnelEnds {
  /** The veth pair's temporary name prefix (vethPair). */
  vethPrefix: string;
  /** The gateway container's pid: wg0 goes there. */
  gwPid: number;
  /** The server's `ip netns` name: eth0 goes there. */
  server: string;
}

/** wg0 in the gateway, eth0 in the server, holding these IPv4 CIDRs when given. */
export async function tunnelVeth(t: TunnelEnds, v4?: { gw: string; server: string }): Promise<void> {
  await vethPair(t.vethPrefix, { ns: { pid: t.gwPid }, name: 'wg0', addresses: v4 ? [v4.gw] : [] }, { ns: { netns: t.server }, name: 'eth0', addresses: v4 ? [v4.server] : [] });
}

/**
 * The IPv4 tunnel of a /24 (`tun`, its first three octets): wg0 `tun`.1, the
 * server `tun`.2; wg0's MTU when given; wg-quick's routing, with its rules when
 * `rules` (the first time in the gateway's namespace: they outlive wg0).
 */
export async function wgQuickTunnel4(t: TunnelEnds, tun: string, opts: { rules: boolean; mtu?: number }): Promise<void> {
  await tunnelVeth(t, { gw: `${tun}.1/24`, server: `${tun}.2/24` });
  const g: TestNs = { pid: t.gwPid };
  if (opts.mtu !== undefined) await execIn(g, 'ip', ['link', 'set', 'wg0', 'mtu', String(opts.mtu)]);
  await wgQuickRouting(g, 4, opts.rules);
}

/**
 * The IPv6 tunnel of a /64 (`tun6`, e.g. "fd75:1a2b::"): wg0 `tun6`1, the
 * server `tun6`2 and the `far` addresses (CIDRs) on its eth0, all without DAD;
 * wg-quick's routing with its rules.
 */
export async function wgQuickTunnel6(t: TunnelEnds, tun6: string, far: readonly string[]): Promise<void> {
  await tunnelVeth(t);
  const g: TestNs = { pid: t.gwPid };
  const srv: TestNs = { netns: t.server };
  // Docker turns IPv6 off for interfaces that appear later in a container (default.disable_ipv6): a VPN client turns it on for its own.
  await execIn(g, 'sysctl', ['-qw', 'net.ipv6.conf.wg0.disable_ipv6=0']);
  await execIn(g, 'ip', ['-6', 'addr', 'add', `${tun6}1/64`, 'dev', 'wg0', 'nodad']);
  await execIn(srv, 'ip', ['-6', 'addr', 'add', `${tun6}2/64`, 'dev', 'eth0', 'nodad']);
  // On the tunnel's interface: the gateway's route into the tunnel has no next hop, and IPv6
  // neighbour discovery answers only for addresses of the interface asked on.
  for (const a of far) await execIn(srv, 'ip', ['-6', 'addr', 'add', a, 'dev', 'eth0', 'nodad']);
  await wgQuickRouting(g, 6, true);
}

/** An IPv4 "internet" address (CIDR) behind the server: on its lo. */
export async function internetAddress(server: string, cidr: string): Promise<void> {
  await execIn({ netns: server }, 'ip', ['addr', 'add', cidr, 'dev', 'lo']);
}
