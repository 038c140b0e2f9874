// The translator's own representation of a validated rule (ParsedRule.detail).

import type { Family } from '../net/ip.js';
import type { Net, Ref } from './addr.js';

export interface PortRange {
  lo: number;
  hi: number;
}

export type L4Proto = 'tcp' | 'udp' | 'icmp' | 'icmpv6';

export type Match =
  /** -p tcp|udp --sport/--dport (iptables' implicit tcp/udp match): sport, then dport. */
  | { kind: 'ports'; proto: 'tcp' | 'udp'; sport?: { neg: boolean; range: PortRange }; dport?: { neg: boolean; range: PortRange } }
  | { kind: 'multiport'; proto: 'tcp' | 'udp'; dir: 'sport' | 'dport'; neg: boolean; items: PortRange[] }
  | { kind: 'ctstate'; neg: boolean; states: string[] }
  | { kind: 'mark'; neg: boolean; value: number; mask?: number };

/** An address of a NAT target: a literal, a literal range, or a container reference. */
export type NatAddr = { kind: 'ip'; family: Family; lo: string; hi?: string } | Ref;

export interface NatTo {
  addr?: NatAddr;
  ports?: PortRange;
}

export type Target =
  | { kind: 'ACCEPT' | 'DROP' | 'RETURN' }
  | { kind: 'REJECT'; with?: { type: 'icmp' | 'icmpv6' | 'tcp reset'; code?: string } }
  | { kind: 'LOG'; prefix?: string }
  | { kind: 'MASQUERADE' | 'REDIRECT'; ports?: PortRange }
  | { kind: 'SNAT' | 'DNAT'; to: NatTo }
  | { kind: 'MARK'; value: number; mask?: number };

export interface Neg<T> {
  neg: boolean;
  value: T;
}

export interface RuleDetail {
  iif?: Neg<string>;
  oif?: Neg<string>;
  src?: Neg<Net | Ref>;
  dst?: Neg<Net | Ref>;
  proto?: Neg<L4Proto>;
  matches: Match[];
  target: Target;
  comment?: string;
  /** The family fixed by literals or protocols; undefined means "IPv4 unless the references say otherwise". */
  family?: Family;
}
