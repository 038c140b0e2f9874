// The typed form of a container's twine.* labels, after validation and before
// any name is resolved.

import type { TwineChain } from '../iptables/chains.js';
import type { ParsedRule } from '../iptables/rule.js';
import type { Cidr } from '../net/cidr.js';
import type { Family } from '../net/ip.js';

export type Proto = 'tcp' | 'udp';

/** An inclusive port range; a single port has lo === hi. */
export interface PortRange {
  lo: number;
  hi: number;
}

/**
 * An iptables interface pattern as the user wrote it: "eth0", "wg+" (prefix),
 * or "+" (any interface).
 */
export type IfacePattern = string;

/** A destination: an IP literal, or a container reference resolved like Docker's DNS would. */
export type Dest = { kind: 'ip'; family: Family; ip: string } | { kind: 'ref'; name: string };

export interface ForwardSpec {
  /** The label key this came from, for error messages and rule comments. */
  label: string;
  iface: IfacePattern;
  proto: Proto;
  port: PortRange;
  dest: Dest;
  destPort: PortRange;
  /**
   * The port comes from the gateway's forwarded-port file (twine.nat.forward.[<pat>.]file):
   * `port` is then a placeholder ({0, 0}); so is `destPort` unless `fixedDestPort`.
   */
  fromFile?: true;
  /** With fromFile: the label named a destination port, which stays whatever the file says. */
  fixedDestPort?: true;
}

/** A network in a whitelist: a CIDR, or a container reference (its addresses). */
export type NetSpec = { kind: 'cidr'; cidr: Cidr } | { kind: 'ref'; name: string };

/** One side (from or to) of a whitelist: the label it came from and its networks. */
export interface WhitelistSide {
  label: string;
  nets: NetSpec[];
}

/**
 * twine.nat.whitelist.[<pat>.]from / .to: forwarded traffic leaving through
 * interfaces matching `iface` (every nat interface when absent) is accepted
 * only from `from` and only to `to` (a side that is absent does not restrict).
 */
export interface WhitelistSpec {
  iface?: IfacePattern;
  from?: WhitelistSide;
  to?: WhitelistSide;
}

export interface RouteSpec {
  label: string;
  cidr: Cidr;
  dest: Dest;
}

export interface RuleSpec {
  label: string;
  /** The <name> part of twine.iptables.rule.<name>; rules of a chain apply in lexical order of it. */
  name: string;
  chain: TwineChain;
  /** The iptables options after the chain, tokenised. */
  args: string[];
  /** The same options validated: what the firewall translates once references are resolved. */
  parsed: ParsedRule;
}

/** A leak Twine reports but cannot close: lookups that leave from the Docker host, IPv6 that keeps Docker's default route. */
export type LeakKind = 'dns-leak' | 'ipv6-bypass';

export interface LabelWarning {
  /** The label it is about (for a leak: the route label that sends the traffic via a gateway). */
  key: string;
  message: string;
  /** Set on the leak warnings. */
  leak?: LeakKind;
}

/**
 * MSS clamping of TCP SYNs a NAT gateway forwards out of its nat interfaces:
 * to the route's MTU ("route", the default), to a fixed size, or not at all.
 */
export type MssSetting = 'route' | 'off' | number;

export interface Spec {
  /** twine.nat.interfaces; undefined when the label is absent. */
  natInterfaces?: IfacePattern[];
  /** twine.nat.killswitch; undefined when absent (on by default for a NAT gateway). */
  killSwitch?: boolean;
  /** twine.nat.mss; undefined when absent ("route" by default for a NAT gateway). */
  mss?: MssSetting;
  forwards: ForwardSpec[];
  routes: RouteSpec[];
  /** Sorted by chain, then by name. */
  rules: RuleSpec[];
  hostRoutes: Cidr[];
  /** twine.dns=required: refuse to apply while the container's lookups would leave from the Docker host. */
  dns?: 'required';
  /** twine.ipv6: block (IPv6 egress only on-link) or allow (no ipv6-bypass warning); undefined: warn. */
  ipv6?: 'block' | 'allow';
  warnings: LabelWarning[];
  /** twine.nat.whitelist.*; absent when there is none. Sorted by pattern (no pattern first). */
  whitelists?: WhitelistSpec[];
  /** The forwarded-port file (twine.nat.portfile, or its default) when a forward takes its port from it. */
  portFile?: string;
}
