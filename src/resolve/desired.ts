// The desired state of one container: its Spec with every name resolved to
// concrete addresses and interfaces, as the resolver saw the inventory. It is
// what `twine plan` and the status API show, and what the compiler consumes.

import type { NftExpr } from '../firewall/nft.js';
import type { IfacePattern, LabelWarning, MssSetting, PortRange, Proto } from '../labels/spec.js';
import type { TwineChain } from '../iptables/chains.js';
import type { Family } from '../net/ip.js';

/** A container a name resolved to, and the network it was found on. */
export interface Peer {
  id: string;
  name: string;
  network: string;
}

/**
 * "up": resolved and compiled. "down": the destination is stopped, missing or
 * shares no network with the source; a route then becomes `unreachable` (kill
 * switch), a forward or rule is left out until it resolves again.
 */
export type DesiredStateKind = 'up' | 'down';

export interface DesiredRoute {
  label: string;
  family: Family;
  /** CIDR, canonical ("0.0.0.0/0" replaces Docker's default route). */
  dst: string;
  /** The label's value (IP or container reference). */
  dest: string;
  state: DesiredStateKind;
  gateway?: string;
  /** The source's interface toward the gateway, when known. */
  dev?: string;
  via?: Peer;
  reason?: string;
}

export interface ForwardTarget {
  family: Family;
  ip: string;
  /** The source's interface toward the destination, when known. */
  dev?: string;
  /**
   * Masquerade the forwarded connections toward the destination, because the
   * destination's replies would not come back through this container.
   * False when the destination routes its traffic via this container.
   */
  masquerade: boolean;
  via?: Peer;
}

export interface DesiredForward {
  label: string;
  iface: IfacePattern;
  proto: Proto;
  port: PortRange;
  destPort: PortRange;
  dest: string;
  state: DesiredStateKind;
  /** One per address family the destination can be reached with. */
  targets: ForwardTarget[];
  reason?: string;
  /** A forward of the gateway's forwarded-port file: the file, and what it said at the last read. */
  portFile?: PortFileState;
}

/**
 * What the forwarded-port file said at the last read: a port, or why there is
 * none (`problem`: missing, empty, malformed, or refused: a path leaving the
 * container, a file too big). A refused read keeps the port of the last good one.
 */
export interface PortFileState {
  path: string;
  port?: number;
  problem?: string;
}

/** One side of a whitelist, resolved: the networks (CIDR text) per family. */
export interface DesiredWhitelistSide {
  label: string;
  v4: string[];
  v6: string[];
  /** References that did not resolve: they allow nothing (fail closed). */
  down?: string[];
}

export interface DesiredWhitelist {
  /** Absent: every nat interface. */
  iface?: IfacePattern;
  from?: DesiredWhitelistSide;
  to?: DesiredWhitelistSide;
}

export interface DesiredRule {
  label: string;
  name: string;
  chain: TwineChain;
  state: DesiredStateKind;
  /** The translated nft statements (when up). */
  expr?: NftExpr[];
  /** The user's -m comment, if any. */
  comment?: string;
  reason?: string;
}

export interface DesiredHostRoute {
  family: Family;
  dst: string;
  /** The container's address the host routes via; absent when it has none of that family. */
  via?: string;
  reason?: string;
}

/** Docker's own default route in the container (to restore when a 0.0.0.0/0 label goes away). */
export interface DockerDefault {
  family: Family;
  gateway: string;
  dev?: string;
}

/**
 * A container whose traffic of one family goes via a gateway, but whose
 * published ports Docker DNATs to it through `dev`: replies to connections that
 * the host routes there (from the bridge's MAC, from outside `subnet`, to a
 * published port) go back through Docker's `gateway` (a connection mark and a
 * policy rule). Nothing else is marked: a neighbour on the network that sends
 * with a forged off-subnet source is answered the way the labels route.
 */
export interface ReplyPath {
  family: Family;
  dev: string;
  gateway: string;
  /** The network's own subnet, whose hosts are answered on-link anyway. */
  subnet: string;
  /** The MAC of Docker's bridge (the host's interface with `gateway`). */
  bridgeMac: string;
  /** The published container ports, by protocol (tcp, udp), each list sorted. */
  ports: { proto: 'tcp' | 'udp'; ports: number[] }[];
}

export interface DesiredState {
  container: { id: string; name: string; pid: number };
  natInterfaces: IfacePattern[];
  /** With natInterfaces: forwarded traffic may leave only through them (twine.nat.killswitch, on by default). */
  killSwitch: boolean;
  /** With natInterfaces: MSS clamping of forwarded TCP leaving through them (twine.nat.mss, "route" by default). */
  mss: MssSetting;
  /** The container has IPv6 addresses or IPv6 routes/forwards: IPv6 forwarding goes along with IPv4. */
  ipv6: boolean;
  routes: DesiredRoute[];
  forwards: DesiredForward[];
  rules: DesiredRule[];
  hostRoutes: DesiredHostRoute[];
  dockerDefaults: DockerDefault[];
  replyPaths: ReplyPath[];
  /** twine.ipv6=block: IPv6 leaves only on-link (an unreachable ::/0 in place of Docker's default route). */
  ipv6Block?: boolean;
  warnings: LabelWarning[];
  /** twine.nat.whitelist.*, resolved (absent when there is none). */
  whitelists?: DesiredWhitelist[];
}

/** A reference that did not resolve, for status and logs. */
export interface Unresolved {
  label: string;
  ref: string;
  reason: string;
}

export interface Resolution {
  desired: DesiredState;
  /** Ids of containers this one depends on (also stopped ones that carry a referenced name). */
  deps: string[];
  /** Every container reference used, so a container appearing later under that name re-plans this one. */
  refs: string[];
  unresolved: Unresolved[];
}
