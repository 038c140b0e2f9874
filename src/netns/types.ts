// The contract of the namespace backend: what the native addon offers, in
// iproute2's vocabulary. The engine and tests depend on this, not on the addon.

import type { Family } from '../net/ip.js';

/**
 * A network namespace: a container's pid (its /proc/<pid>/ns/net), a path
 * (/var/run/netns/x), or a namespace file held open (./handle.ts): `fd` is
 * entered as it is, `name` is how errors name it ("pid 42").
 */
export type NsTarget = { pid: number } | { path: string } | NsFdTarget;

export interface NsFdTarget {
  fd: number;
  name: string;
}

export type RouteType = 'unicast' | 'unreachable' | 'blackhole' | 'prohibit';

/** A route as `ip -j route` would show it. `dst` is always a CIDR ("0.0.0.0/0" for default). */
export interface Route {
  family: Family;
  dst: string;
  type: RouteType;
  gateway?: string;
  dev?: string;
  metric?: number;
  /** Routing table id; main (254) when absent. */
  table?: number;
  /** rtm_protocol; Twine writes TWINE_RT_PROTO. */
  protocol?: number;
  /** rtm_scope; universe (0) when absent. */
  scope?: number;
}

export interface RouteFilter {
  family?: Family;
  table?: number;
  protocol?: number;
}

export interface Link {
  index: number;
  name: string;
  up: boolean;
  mtu: number;
  kind?: string;
  mac?: string;
}

export interface Addr {
  ifindex: number;
  ifname: string;
  family: Family;
  address: string;
  prefixlen: number;
}

/** Everything Twine does to a namespace outside nftables. */
export interface NetnsBackend {
  /** ip route show [table T] [proto P] */
  routeList(ns: NsTarget, filter?: RouteFilter): Promise<Route[]>;
  /** ip route add */
  routeAdd(ns: NsTarget, route: Route): Promise<void>;
  /** ip route replace */
  routeReplace(ns: NsTarget, route: Route): Promise<void>;
  /** ip route del */
  routeDel(ns: NsTarget, route: Route): Promise<void>;
  /** ip link show */
  linkList(ns: NsTarget): Promise<Link[]>;
  /** ip addr show */
  addrList(ns: NsTarget): Promise<Addr[]>;
  /** sysctl -n net.x.y (key in dotted form, must start with "net.") */
  sysctlGet(ns: NsTarget, key: string): Promise<string>;
  /** sysctl -w net.x.y=v */
  sysctlSet(ns: NsTarget, key: string, value: string): Promise<void>;
  /**
   * Several of the above in one entry into the namespace, in order, stopping at
   * the first failure. Resolves (also when a step failed) with what ran.
   */
  batch(ns: NsTarget, steps: NsStep[]): Promise<BatchOutcome>;
}

/** A policy routing rule as `ip rule` shows it: `fwmark <fwmark>/<fwmask> lookup <table>` at `priority`. */
export interface Rule {
  family: Family;
  priority: number;
  table: number;
  fwmark?: number;
  /** 0xffffffff when absent. */
  fwmask?: number;
  /** FRA_PROTOCOL; Twine writes TWINE_RT_PROTO. */
  protocol?: number;
}

export interface RuleFilter {
  family?: Family;
  protocol?: number;
}

/**
 * Which conntrack entries `conntrackDelete` removes (`conntrack -D` with these
 * options): all given conditions must hold.
 */
export interface ConntrackFilter {
  family: Family;
  proto?: 'tcp' | 'udp';
  /** The original destination lies in this CIDR. */
  origDst?: string;
  /** The original destination port lies in [lo, hi]. */
  origDport?: [number, number];
  /** The reply's source, i.e. the address a DNAT sent the connection to. */
  replySrc?: string;
  replySport?: [number, number];
  /** true: only entries the kernel DNAT'ed; false: only those it did not. */
  dnat?: boolean;
}

export type NsStep =
  | { op: 'sysctlGet'; key: string }
  | { op: 'sysctlSet'; key: string; value: string }
  | { op: 'routeReplace' | 'routeDel'; route: Route }
  | { op: 'routeList'; filter?: RouteFilter }
  /** ip rule add / ip rule del */
  | { op: 'ruleAdd' | 'ruleDel'; rule: Rule }
  /** ip rule show */
  | { op: 'ruleList'; filter?: RuleFilter }
  /** conntrack -D: resolves with the number of entries deleted. */
  | { op: 'conntrackDelete'; filter: ConntrackFilter }
  /** One nftables table over nfnetlink (no libnftables): NftTableState, or null when there is none. */
  /**
   * `expect`: the desired table's tableSignature (../firewall/live.ts); when the read table's is the same, the
   * result is not the table but `true` when its rules' hashes are `expectHashes` too, or those hashes (a string,
   * ../firewall/live.ts ruleHashesOf) when `expectHashes` is not given.
   */
  | { op: 'nftTableRead'; table: { family: string; name: string }; expect?: string; expectHashes?: string };

/**
 * An nftables table as the kernel holds it, without rule expressions: base
 * chains with hook (nft's name), priority, type and policy ("accept", "drop");
 * rules in each chain's order with handle, comment and the hash of their
 * expressions as the kernel encodes them (16 hex digits, keyed with a secret of
 * the process: equal exactly when the statements are); named counters with
 * what they counted.
 */
export interface NftTableState {
  chains: { name: string; type?: string; hook?: string; prio?: number; policy?: string }[];
  rules: { chain: string; handle: number; comment?: string; hash?: string }[];
  counters: { name: string; packets: number; bytes: number }[];
}

export interface BatchOutcome {
  /**
   * One entry per step that ran: the value read (sysctlGet: string, routeList: Route[],
   * ruleList: Rule[], conntrackDelete: number, nftTableRead: NftTableState | null, true: it is
   * the expected one, or a string: its names are, and these are its rules' hashes), else undefined.
   */
  results: unknown[];
  /** The step that failed (those after it did not run), and why. */
  failedAt?: number;
  error?: unknown;
}

/**
 * Twine's routing protocol number (rtm_protocol). 0–4 are the kernel's, and
 * iproute2's rt_protos (Debian 12) names 8–16, 18, 42, 99, 186–189 and 192. 74 is in none of those
 * lists, so `ip route show proto 74` is exactly Twine's routes.
 */
export const TWINE_RT_PROTO = 74;
/** RTPROT_BOOT: what Docker's own routes carry; used to restore a default route Twine replaced. */
export const RTPROT_BOOT = 3;
export const MAIN_TABLE = 254;
/**
 * Replies to connections that arrived through Docker's interface (published
 * ports) of a container that routes via a gateway: their conntrack mark bit,
 * the routing table holding Docker's default route for them, and the priority
 * of the policy rule `fwmark MARK/MARK lookup TABLE` (after local's 0, before
 * main's 32766).
 */
export const TWINE_REPLY_MARK = 0x20000000;
export const TWINE_REPLY_TABLE = 7474;
export const TWINE_RULE_PRIORITY = 7474;
