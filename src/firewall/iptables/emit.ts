// RuleDetail → nft JSON statements for `table inet twine`, in the order
// iptables-translate prints them (interfaces, addresses, protocol, matches in
// option order, target), so the differential test can compare them one to one.
//
// Every rule starts with `meta nfproto ipv4|ipv6`: in an inet table that is
// what makes a rule as family-specific as an iptables/ip6tables rule (nft
// folds it into the listing when an ip/ip6 payload match implies it anyway).

import type { NftExpr } from '../nft.js';
import type { Family } from '../../net/ip.js';
import type { Net, Ref } from '../../iptables/addr.js';
import type { Match, NatAddr, PortRange, RuleDetail, Target } from '../../iptables/model.js';

export type AddrOf = (ref: string, family: Family) => string;

function match(op: '==' | '!=' | 'in' | '!', left: NftExpr, right: unknown): NftExpr {
  return { match: { op, left, right } };
}
const meta = (key: string): NftExpr => ({ meta: { key } });
const payload = (protocol: string, field: string): NftExpr => ({ payload: { protocol, field } });
const eq = (neg: boolean): '==' | '!=' => (neg ? '!=' : '==');

function portValue(r: PortRange): unknown {
  return r.lo === r.hi ? r.lo : { range: [r.lo, r.hi] };
}

function netValue(n: Net): unknown {
  return n.len === (n.family === 4 ? 32 : 128) ? n.addr : { prefix: { addr: n.addr, len: n.len } };
}

function addrMatch(field: 'saddr' | 'daddr', neg: boolean, a: Net | Ref, family: Family, addrOf: AddrOf): NftExpr | undefined {
  const proto = family === 4 ? 'ip' : 'ip6';
  if (a.kind === 'ref') return match(eq(neg), payload(proto, field), addrOf(a.name, family));
  // -s 0.0.0.0/0 matches everything: iptables drops the match (but keeps a negated one).
  if (a.len === 0 && !neg) return undefined;
  return match(eq(neg), payload(proto, field), netValue(a));
}

function ifaceMatch(key: 'iifname' | 'oifname', neg: boolean, pat: string): NftExpr | undefined {
  if (pat === '+' && !neg) return undefined;
  return match(eq(neg), meta(key), pat.endsWith('+') ? `${pat.slice(0, -1)}*` : pat);
}

function emitMatch(m: Match): NftExpr[] {
  switch (m.kind) {
    case 'ports': {
      const out: NftExpr[] = [];
      if (m.sport) out.push(match(eq(m.sport.neg), payload(m.proto, 'sport'), portValue(m.sport.range)));
      if (m.dport) out.push(match(eq(m.dport.neg), payload(m.proto, 'dport'), portValue(m.dport.range)));
      return out;
    }
    case 'multiport': {
      const only = m.items.length === 1 ? m.items[0] : undefined;
      const right = only ? portValue(only) : { set: m.items.map(portValue) };
      return [match(eq(m.neg), payload(m.proto, m.dir), right)];
    }
    case 'ctstate':
      // `ct state ! new` (no bit set) is iptables' negation; `!=` on a flag set would be "not exactly".
      return [match(m.neg ? '!' : 'in', { ct: { key: 'state' } }, m.states.length === 1 ? m.states[0] : m.states)];
    case 'mark': {
      const left = m.mask === undefined ? meta('mark') : { '&': [meta('mark'), m.mask] };
      return [match(eq(m.neg), left, m.value)];
    }
  }
}

function natAddr(a: NatAddr, family: Family, addrOf: AddrOf): unknown {
  if (a.kind === 'ref') return addrOf(a.name, family);
  return a.hi === undefined ? a.lo : { range: [a.lo, a.hi] };
}

function emitTarget(t: Target, family: Family, addrOf: AddrOf): NftExpr {
  switch (t.kind) {
    case 'ACCEPT':
      return { accept: null };
    case 'DROP':
      return { drop: null };
    case 'RETURN':
      return { return: null };
    case 'REJECT': {
      if (t.with?.type === 'tcp reset') return { reject: { type: 'tcp reset' } };
      const type = family === 4 ? 'icmp' : 'icmpv6';
      return { reject: { type, expr: t.with?.code ?? 'port-unreachable' } };
    }
    case 'LOG':
      return { log: t.prefix === undefined ? null : { prefix: t.prefix } };
    case 'MASQUERADE':
    case 'REDIRECT': {
      const key = t.kind === 'MASQUERADE' ? 'masquerade' : 'redirect';
      return { [key]: t.ports ? { port: portValue(t.ports) } : null };
    }
    case 'SNAT':
    case 'DNAT': {
      const body: Record<string, unknown> = { family: family === 4 ? 'ip' : 'ip6' };
      if (t.to.addr) body.addr = natAddr(t.to.addr, family, addrOf);
      if (t.to.ports) body.port = portValue(t.to.ports);
      return { [t.kind === 'SNAT' ? 'snat' : 'dnat']: body };
    }
    case 'MARK': {
      // iptables' --set-mark v/m clears m|v and sets v: mark = (mark & ~(m|v)) ^ v.
      const value = t.mask === undefined ? t.value : { '^': [{ '&': [meta('mark'), ~((t.mask | t.value) >>> 0) >>> 0] }, t.value] };
      return { mangle: { key: meta('mark'), value } };
    }
  }
}

export function emitRule(d: RuleDetail, family: Family, addrOf: AddrOf): NftExpr[] {
  const out: (NftExpr | undefined)[] = [match('==', meta('nfproto'), family === 4 ? 'ipv4' : 'ipv6')];
  if (d.iif) out.push(ifaceMatch('iifname', d.iif.neg, d.iif.value));
  if (d.oif) out.push(ifaceMatch('oifname', d.oif.neg, d.oif.value));
  // iptables-translate writes `ip protocol` after the addresses and ip6's
  // `meta l4proto` before them. A port match implies the protocol (nft adds
  // `meta l4proto` itself), so the protocol match is left out then, as
  // iptables-translate does for --sport/--dport (for multiport it writes both;
  // nft folds them in table ip, not in inet, where ours would stay redundant).
  const hasPorts = d.matches.some((m) => m.kind === 'ports' || m.kind === 'multiport');
  const proto =
    d.proto && !hasPorts
      ? family === 4
        ? match(eq(d.proto.neg), payload('ip', 'protocol'), d.proto.value)
        : match(eq(d.proto.neg), meta('l4proto'), d.proto.value === 'icmpv6' ? 'ipv6-icmp' : d.proto.value)
      : undefined;
  if (family === 6) out.push(proto);
  if (d.src) out.push(addrMatch('saddr', d.src.neg, d.src.value, family, addrOf));
  if (d.dst) out.push(addrMatch('daddr', d.dst.neg, d.dst.value, family, addrOf));
  if (family === 4) out.push(proto);
  for (const m of d.matches) out.push(...emitMatch(m));
  out.push(emitTarget(d.target, family, addrOf));
  return out.filter((e): e is NftExpr => e !== undefined);
}
