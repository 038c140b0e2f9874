// iptables options → RuleDetail, validated. Every problem is reported, each
// naming the option it is about; nothing here touches the kernel or a shell.
//
// Choices where iptables leaves room (README "Security model": only known matches and
// verdicts):
// - A rule needs a -j target; ACCEPT, RETURN, LOG and MARK are allowed in
//   every TWINE_* chain, DROP and REJECT only in the filter chains (iptables
//   inhibits DROP in the nat table), MASQUERADE and SNAT only in
//   TWINE_NAT_POSTROUTING, DNAT and REDIRECT only in TWINE_NAT_PREROUTING and
//   TWINE_NAT_OUTPUT. -i is refused in the output/postrouting chains and -o in
//   the input/prerouting chains, as iptables refuses them.
// - Family: a rule is IPv4, like `iptables`, unless an IPv6 literal,
//   -p icmpv6 or an icmp6 --reject-with makes it IPv6 (like `ip6tables`);
//   mixing both is an error. A rule with only container references takes the
//   family of their addresses at translate time (IPv4 when they have one).
// - One address per -s/-d (iptables would silently make one rule per address).

import type { Family } from '../net/ip.js';
import type { TwineChain } from './chains.js';
import { canonicalIp, isDockerName, parseAddr } from './addr.js';
import { isIPv4, isIPv6 } from 'node:net';
import type { L4Proto, Match, NatAddr, NatTo, PortRange, RuleDetail, Target } from './model.js';

const FILTER_CHAINS: readonly TwineChain[] = ['TWINE_INPUT', 'TWINE_OUTPUT', 'TWINE_FORWARD'];
const NO_IIF: readonly TwineChain[] = ['TWINE_OUTPUT', 'TWINE_NAT_POSTROUTING', 'TWINE_NAT_OUTPUT'];
const NO_OIF: readonly TwineChain[] = ['TWINE_INPUT', 'TWINE_NAT_PREROUTING'];

const TARGET_CHAINS: Record<Target['kind'], readonly TwineChain[] | undefined> = {
  ACCEPT: undefined,
  RETURN: undefined,
  LOG: undefined,
  MARK: undefined,
  DROP: FILTER_CHAINS,
  REJECT: FILTER_CHAINS,
  MASQUERADE: ['TWINE_NAT_POSTROUTING'],
  SNAT: ['TWINE_NAT_POSTROUTING'],
  DNAT: ['TWINE_NAT_PREROUTING', 'TWINE_NAT_OUTPUT'],
  REDIRECT: ['TWINE_NAT_PREROUTING', 'TWINE_NAT_OUTPUT'],
};

/** `table[key]` when the table itself has it: a word like `constructor` or `toString` is not an entry. */
function own<T>(table: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

const OPT_ALIASES: Record<string, string> = {
  '--source': '-s',
  '--src': '-s',
  '--destination': '-d',
  '--dst': '-d',
  '--in-interface': '-i',
  '--out-interface': '-o',
  '--protocol': '-p',
  '--jump': '-j',
  '--match': '-m',
  '--source-port': '--sport',
  '--destination-port': '--dport',
  '--source-ports': '--sports',
  '--destination-ports': '--dports',
};

const CT_STATES = ['invalid', 'established', 'related', 'new', 'untracked'];

const REJECT_V4: Record<string, string> = {
  'icmp-net-unreachable': 'net-unreachable',
  'net-unreach': 'net-unreachable',
  'icmp-host-unreachable': 'host-unreachable',
  'host-unreach': 'host-unreachable',
  'icmp-port-unreachable': 'port-unreachable',
  'port-unreach': 'port-unreachable',
  'icmp-proto-unreachable': 'prot-unreachable',
  'proto-unreach': 'prot-unreachable',
  'icmp-net-prohibited': 'net-prohibited',
  'net-prohib': 'net-prohibited',
  'icmp-host-prohibited': 'host-prohibited',
  'host-prohib': 'host-prohibited',
  'icmp-admin-prohibited': 'admin-prohibited',
  'admin-prohib': 'admin-prohibited',
};

const REJECT_V6: Record<string, string> = {
  'icmp6-no-route': 'no-route',
  'no-route': 'no-route',
  'icmp6-adm-prohibited': 'admin-prohibited',
  'adm-prohibited': 'admin-prohibited',
  'icmp6-addr-unreachable': 'addr-unreachable',
  'addr-unreach': 'addr-unreachable',
  'icmp6-port-unreachable': 'port-unreachable',
};

/** iptables' LOG prefix limit. */
export const MAX_LOG_PREFIX = 29;
/** What is left of nft's 128-byte rule comment after Twine's identity ("twine:<16 hex> "). */
export const MAX_USER_COMMENT = 100;
const MAX_MULTIPORT = 15;

// The options of a target, each after a -j of one of these targets (every other option is in OPTION_PARSERS).
const TARGET_OPTS: Record<string, readonly Target['kind'][]> = {
  '--reject-with': ['REJECT'],
  '--log-prefix': ['LOG'],
  '--to-ports': ['MASQUERADE', 'REDIRECT'],
  '--to-source': ['SNAT'],
  '--to-destination': ['DNAT'],
  '--set-mark': ['MARK'],
};
const MODULES = ['tcp', 'udp', 'multiport', 'conntrack', 'state', 'mark', 'comment'];
const TARGETS = ['ACCEPT', 'DROP', 'REJECT', 'RETURN', 'LOG', 'MASQUERADE', 'SNAT', 'DNAT', 'REDIRECT', 'MARK'] as const;

function parseNumber(s: string, max: number): number | undefined {
  if (!/^(0x[0-9a-fA-F]{1,8}|\d{1,10})$/.test(s)) return undefined;
  const n = Number(s);
  return n <= max ? n : undefined;
}

/** `a`, `a:b`, `a:`, `:b` (sep ':' for matches, '-' for NAT targets). */
function parsePortRange(s: string, sep: ':' | '-', min: number): PortRange | string {
  const parts = s.split(sep);
  if (parts.length > 2) return `bad port range "${s}"`;
  const port = (p: string, dflt: number): number | undefined => (p === '' && parts.length === 2 ? dflt : /^\d{1,5}$/.test(p) ? Number(p) : undefined);
  const lo = port(parts[0]!, min);
  const hi = parts.length === 2 ? port(parts[1]!, 65535) : lo;
  if (lo === undefined || hi === undefined) return `bad port "${s}" (a number ${min}-65535${sep === ':' ? ', or a range a:b' : ', or a range a-b'})`;
  if (lo < min || hi > 65535) return `port out of range ${min}-65535 in "${s}"`;
  if (lo > hi) return `port range "${s}" is reversed`;
  return { lo, hi };
}

function parseIface(s: string): string | undefined {
  // Linux names: up to 15 bytes, no '/', ':', whitespace; iptables' '+' suffix is a prefix wildcard.
  const base = s.endsWith('+') ? s.slice(0, -1) : s;
  if (s.length > 15 || base === '.' || base === '..' || /[/:\s*\\"'+]/.test(base) || (base === '' && s !== '+')) return undefined;
  return s;
}

/** [v6]:port, v4:port, ref:port, with optional a-b ranges for literal addresses and ports. */
function parseNatTo(s: string, portsAllowed: boolean): NatTo | string {
  let addrPart = s;
  let portPart: string | undefined;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) return `unterminated [ in "${s}"`;
    addrPart = s.slice(1, end);
    const rest = s.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return `bad address "${s}"`;
      portPart = rest.slice(1);
    }
  } else if ((s.match(/:/g) ?? []).length === 1) {
    [addrPart, portPart] = s.split(':') as [string, string];
  }
  const to: NatTo = {};
  if (addrPart !== '') {
    const dash = addrPart.indexOf('-');
    const lo = dash < 0 ? addrPart : addrPart.slice(0, dash);
    const hi = dash < 0 ? undefined : addrPart.slice(dash + 1);
    let addr: NatAddr;
    if (isIPv4(lo) || isIPv6(lo)) {
      const family: Family = isIPv4(lo) ? 4 : 6;
      if (hi !== undefined && (family === 4 ? !isIPv4(hi) : !isIPv6(hi))) return `bad address range "${addrPart}"`;
      addr = { kind: 'ip', family, lo: canonicalIp(lo), ...(hi !== undefined ? { hi: canonicalIp(hi) } : {}) };
    } else if (isDockerName(addrPart) && !s.startsWith('[')) {
      addr = { kind: 'ref', name: addrPart };
    } else return `"${addrPart}" is not an IP address or a container name`;
    to.addr = addr;
  }
  if (portPart !== undefined) {
    if (!portsAllowed) return 'a port needs -p tcp or -p udp';
    const r = parsePortRange(portPart, '-', 1);
    if (typeof r === 'string') return r;
    to.ports = r;
  }
  if (!to.addr && !to.ports) return 'empty address';
  return to;
}

/** One option as read: the word as written (for messages), its canonical name, its value, and whether `!` came before it. */
interface Opt {
  word: string;
  opt: string;
  value: string;
  neg: boolean;
}

const NEGATABLE = ['-s', '-d', '-i', '-o', '-p', '--sport', '--dport', '--sports', '--dports', '--ports', '--ctstate', '--state', '--mark'];

/**
 * The words as options with their values. A word that is no option, a missing
 * value and a `!` before an option that cannot be negated are errors, and the
 * reading goes on with the next word; a `!` at the end stops it.
 */
function* readOptions(args: string[], errors: string[]): Generator<Opt> {
  let i = 0;
  while (i < args.length) {
    let word = args[i++]!;
    let neg = false;
    if (word === '!') {
      neg = true;
      word = args[i++] ?? '';
      if (word === '') {
        errors.push('!: nothing follows it');
        return;
      }
    }
    const opt = own(OPT_ALIASES, word) ?? word;
    if (!(Object.hasOwn(OPTION_PARSERS, opt) || Object.hasOwn(TARGET_OPTS, opt))) {
      errors.push(opt.startsWith('-') ? `${word}: unsupported option` : `${word}: unexpected word (options start with -)`);
      continue;
    }
    const value = args[i++];
    const freeText = opt === '--comment' || opt === '--log-prefix';
    if (value === undefined || (!freeText && value.startsWith('-') && value !== '-' && !/^-\d/.test(value))) {
      errors.push(`${word}: missing value`);
      if (value !== undefined) i--;
      continue;
    }
    if (neg && !NEGATABLE.includes(opt)) {
      errors.push(`! ${word}: cannot be negated`);
      continue;
    }
    yield { word, opt, value, neg };
  }
}

/** What one rule's options have said so far, and every problem found in them. */
class RuleParse {
  readonly errors: string[] = [];
  readonly detail: Partial<RuleDetail> & { matches: Match[] } = { matches: [] };
  /** Container references, in the order given. */
  readonly refs: string[] = [];
  /** The modules loaded with -m (tcp and udp aside). */
  readonly loaded = new Set<string>();
  /** The families literals and protocols ask for, each with the first option that asked. */
  readonly families = new Map<Family, string>();
  /** The options given so far that may come only once. */
  readonly seen = new Set<string>();
  ports: Extract<Match, { kind: 'ports' }> | undefined;
  multiport: Extract<Match, { kind: 'multiport' }> | undefined;
  multiportUsed = false;
  target: Target | undefined;

  constructor(readonly chain: TwineChain) {}

  /** False (after saying so) when `opt` was given before. */
  once(opt: string): boolean {
    if (this.seen.has(opt)) {
      this.errors.push(`${opt}: given more than once`);
      return false;
    }
    this.seen.add(opt);
    return true;
  }

  family(f: Family, why: string): void {
    if (!this.families.has(f)) this.families.set(f, why);
  }

  /** The rule's protocol when it is tcp or udp, not negated: what port matches need. */
  l4(): 'tcp' | 'udp' | undefined {
    const p = this.detail.proto;
    return p && !p.neg && (p.value === 'tcp' || p.value === 'udp') ? p.value : undefined;
  }

  /** False (after saying so) when module `m` was not loaded with -m before `o`. */
  needsModule(o: Opt, m: string): boolean {
    if (this.loaded.has(m)) return true;
    this.errors.push(`${o.word}: needs -m ${m} before it`);
    return false;
  }
}

/** `value[/mask]`, 32 bits each; the mask is left out when it is all ones. */
function parseMark(s: string): { value: number; mask?: number } | undefined {
  const [v, m, extra] = s.split('/');
  const value = parseNumber(v ?? '', 0xffffffff);
  const mask = m === undefined ? undefined : parseNumber(m, 0xffffffff);
  if (value === undefined || (m !== undefined && mask === undefined) || extra !== undefined) return undefined;
  return { value, ...(mask !== undefined && mask !== 0xffffffff ? { mask } : {}) };
}

/** What is wrong with a comment or a log prefix, if anything. */
function freeTextProblem(o: Opt, maxBytes: number): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(o.value)) return `${o.word}: control characters are not allowed`;
  if (Buffer.byteLength(o.value) > maxBytes) return `${o.word}: longer than ${maxBytes} bytes`;
  return undefined;
}

/** -s, -d: one address, network or container reference. */
function address(p: RuleParse, o: Opt): void {
  if (!p.once(o.opt)) return;
  const a = parseAddr(o.value);
  if (typeof a === 'string') {
    p.errors.push(`${o.word} ${o.value}: ${a}`);
    return;
  }
  if (a.kind === 'ref') p.refs.push(a.name);
  else p.family(a.family, `${o.word} ${o.value}`);
  if (o.opt === '-s') p.detail.src = { neg: o.neg, value: a };
  else p.detail.dst = { neg: o.neg, value: a };
}

/** -i, -o: an interface name or pattern, where the chain's packets have that interface. */
function iface(p: RuleParse, o: Opt): void {
  if (!p.once(o.opt)) return;
  if (parseIface(o.value) === undefined) {
    p.errors.push(`${o.word} ${o.value}: not an interface name or pattern (up to 15 characters, optionally ending in +)`);
    return;
  }
  if (o.opt === '-i' && NO_IIF.includes(p.chain)) p.errors.push(`${o.word}: cannot be used in ${p.chain} (packets there have no input interface)`);
  else if (o.opt === '-o' && NO_OIF.includes(p.chain)) p.errors.push(`${o.word}: cannot be used in ${p.chain} (packets there have no output interface yet)`);
  else if (o.opt === '-i') p.detail.iif = { neg: o.neg, value: o.value };
  else p.detail.oif = { neg: o.neg, value: o.value };
}

/** -p: tcp, udp, icmp (IPv4) or icmpv6 (IPv6). */
function protocol(p: RuleParse, o: Opt): void {
  if (!p.once(o.opt)) return;
  const v = o.value.toLowerCase();
  const proto: L4Proto | undefined = v === 'tcp' || v === 'udp' || v === 'icmp' ? v : v === 'icmpv6' || v === 'ipv6-icmp' ? 'icmpv6' : undefined;
  if (!proto) {
    p.errors.push(`${o.word} ${o.value}: unsupported protocol (tcp, udp, icmp or icmpv6)`);
    return;
  }
  if (proto === 'icmp') p.family(4, `${o.word} icmp`);
  if (proto === 'icmpv6') p.family(6, `${o.word} icmpv6`);
  p.detail.proto = { neg: o.neg, value: proto };
}

/** -m: loads a module; tcp and udp only repeat -p, multiport starts its match. */
function loadModule(p: RuleParse, o: Opt): void {
  const m = o.value.toLowerCase();
  if (!MODULES.includes(m)) {
    p.errors.push(`-m ${o.value}: unsupported match (supported: ${MODULES.join(', ')})`);
    return;
  }
  if (m === 'tcp' || m === 'udp') {
    if (p.l4() !== m) p.errors.push(`-m ${m}: needs -p ${m} before it`);
    return;
  }
  if (p.loaded.has(m)) {
    p.errors.push(`-m ${m}: given more than once`);
    return;
  }
  p.loaded.add(m);
  if (m !== 'multiport') return;
  const proto = p.l4();
  if (!proto) p.errors.push('-m multiport: needs -p tcp or -p udp before it');
  else {
    p.multiport = { kind: 'multiport', proto, dir: 'dport', neg: false, items: [] };
    p.detail.matches.push(p.multiport);
  }
}

/** --sport, --dport: one port or range, into the rule's one ports match. */
function port(p: RuleParse, o: Opt): void {
  if (!p.once(o.opt)) return;
  const proto = p.l4();
  if (!proto) {
    p.errors.push(`${o.word}: needs -p tcp or -p udp`);
    return;
  }
  const r = parsePortRange(o.value, ':', 0);
  if (typeof r === 'string') {
    p.errors.push(`${o.word} ${o.value}: ${r}`);
    return;
  }
  if (!p.ports) {
    p.ports = { kind: 'ports', proto };
    p.detail.matches.push(p.ports);
  }
  if (o.opt === '--sport') p.ports.sport = { neg: o.neg, range: r };
  else p.ports.dport = { neg: o.neg, range: r };
}

/** --sports, --dports (and the refused --ports): -m multiport's list of ports and ranges. */
function multiportList(p: RuleParse, o: Opt): void {
  if (!p.needsModule(o, 'multiport')) return;
  if (o.opt === '--ports') {
    p.errors.push(`${o.word}: unsupported (nftables has no "source or destination port" match; use --sports or --dports)`);
    return;
  }
  if (p.multiportUsed) {
    p.errors.push(`${o.word}: -m multiport takes one of --sports or --dports`);
    return;
  }
  p.multiportUsed = true;
  const multiport = p.multiport;
  if (!multiport) return;
  const items: PortRange[] = [];
  let slots = 0;
  for (const part of o.value.split(',')) {
    const r = parsePortRange(part, ':', 0);
    if (typeof r === 'string') {
      p.errors.push(`${o.word} ${o.value}: ${r}`);
      break;
    }
    items.push(r);
    slots += r.lo === r.hi ? 1 : 2;
  }
  if (slots > MAX_MULTIPORT) p.errors.push(`${o.word} ${o.value}: more than ${MAX_MULTIPORT} ports (a range counts as two)`);
  multiport.dir = o.opt === '--sports' ? 'sport' : 'dport';
  multiport.neg = o.neg;
  multiport.items = items;
}

/** --ctstate (-m conntrack), --state (-m state): conntrack states. */
function ctstate(p: RuleParse, o: Opt): void {
  if (!p.needsModule(o, o.opt === '--ctstate' ? 'conntrack' : 'state')) return;
  if (!p.once(o.opt)) return;
  const states = o.value.split(',').map((s) => s.toLowerCase());
  const bad = states.filter((s) => !CT_STATES.includes(s));
  if (bad.length) {
    p.errors.push(`${o.word} ${o.value}: unsupported state ${bad.join(',')} (supported: ${CT_STATES.map((s) => s.toUpperCase()).join(', ')})`);
    return;
  }
  p.detail.matches.push({ kind: 'ctstate', neg: o.neg, states: [...new Set(states)] });
}

/** --mark (-m mark): a packet mark, with an optional mask. */
function markMatch(p: RuleParse, o: Opt): void {
  if (!p.needsModule(o, 'mark')) return;
  if (!p.once(o.opt)) return;
  const mark = parseMark(o.value);
  if (!mark) p.errors.push(`${o.word} ${o.value}: not a 32-bit value[/mask]`);
  else p.detail.matches.push({ kind: 'mark', neg: o.neg, ...mark });
}

/** --comment (-m comment): goes into the rule's nft comment after Twine's identity. */
function comment(p: RuleParse, o: Opt): void {
  if (!p.needsModule(o, 'comment')) return;
  if (!p.once(o.opt)) return;
  const problem = freeTextProblem(o, MAX_USER_COMMENT);
  if (problem) p.errors.push(problem);
  else p.detail.comment = o.value;
}

/** -j: the target, allowed only in the chains that can run it; its options come after it. */
function jump(p: RuleParse, o: Opt): void {
  if (!p.once(o.opt)) return;
  const t = (TARGETS as readonly string[]).includes(o.value) ? (o.value as (typeof TARGETS)[number]) : undefined;
  if (!t) {
    p.errors.push(`-j ${o.value}: unsupported target (supported: ${TARGETS.join(', ')})`);
    return;
  }
  const allowed = TARGET_CHAINS[t];
  if (allowed && !allowed.includes(p.chain)) p.errors.push(`-j ${t}: not allowed in ${p.chain} (only in ${allowed.join(', ')})`);
  if (t === 'SNAT' || t === 'DNAT') p.target = { kind: t, to: {} };
  else if (t === 'MARK') p.target = { kind: 'MARK', value: -1 };
  else p.target = { kind: t };
}

/** --reject-with: a TCP reset (needs -p tcp), or an ICMP type that fixes the family. */
function rejectWith(p: RuleParse, o: Opt, t: Extract<Target, { kind: 'REJECT' }>): void {
  const v = o.value.toLowerCase();
  if (v === 'tcp-reset' || v === 'tcp-rst') {
    if (p.l4() !== 'tcp') p.errors.push(`${o.word} ${o.value}: needs -p tcp`);
    t.with = { type: 'tcp reset' };
  } else if (own(REJECT_V4, v)) {
    p.family(4, `${o.word} ${o.value}`);
    t.with = { type: 'icmp', code: own(REJECT_V4, v)! };
  } else if (own(REJECT_V6, v)) {
    p.family(6, `${o.word} ${o.value}`);
    t.with = { type: 'icmpv6', code: own(REJECT_V6, v)! };
  } else p.errors.push(`${o.word} ${o.value}: unsupported (${[...Object.keys(REJECT_V4), ...Object.keys(REJECT_V6), 'tcp-reset'].join(', ')})`);
}

/** --to-source, --to-destination: an address, range or reference, and ports with -p tcp/udp. */
function natTo(p: RuleParse, o: Opt, t: Extract<Target, { kind: 'SNAT' | 'DNAT' }>): void {
  const to = parseNatTo(o.value, p.l4() !== undefined);
  if (typeof to === 'string') {
    p.errors.push(`${o.word} ${o.value}: ${to}`);
    return;
  }
  if (to.addr?.kind === 'ip') p.family(to.addr.family, `${o.word} ${o.value}`);
  if (to.addr?.kind === 'ref') p.refs.push(to.addr.name);
  t.to = to;
}

/** An option of the target (--reject-with, --log-prefix, --to-ports, --to-source, --to-destination, --set-mark): after its -j. */
function targetOption(p: RuleParse, o: Opt): void {
  const kinds = own(TARGET_OPTS, o.opt)!;
  const t = p.target;
  if (!t || !kinds.includes(t.kind)) {
    p.errors.push(`${o.word}: needs -j ${kinds.join(' or -j ')} before it`);
    return;
  }
  if (!p.once(o.opt)) return;
  switch (t.kind) {
    case 'REJECT':
      return rejectWith(p, o, t);
    case 'LOG': {
      const problem = freeTextProblem(o, MAX_LOG_PREFIX);
      if (problem) p.errors.push(problem);
      else t.prefix = o.value;
      return;
    }
    case 'MASQUERADE':
    case 'REDIRECT': {
      if (!p.l4()) p.errors.push(`${o.word}: needs -p tcp or -p udp`);
      const r = parsePortRange(o.value, '-', 1);
      if (typeof r === 'string') p.errors.push(`${o.word} ${o.value}: ${r}`);
      else t.ports = r;
      return;
    }
    case 'SNAT':
    case 'DNAT':
      return natTo(p, o, t);
    case 'MARK': {
      const mark = parseMark(o.value);
      if (!mark) p.errors.push(`${o.word} ${o.value}: not a 32-bit value[/mask]`);
      else Object.assign(t, mark);
      return;
    }
  }
}

/** Every option but the target's: each takes a value (as do the target's). */
const OPTION_PARSERS: Record<string, (p: RuleParse, o: Opt) => void> = {
  '-s': address,
  '-d': address,
  '-i': iface,
  '-o': iface,
  '-p': protocol,
  '-m': loadModule,
  '--sport': port,
  '--dport': port,
  '--sports': multiportList,
  '--dports': multiportList,
  '--ports': multiportList,
  '--ctstate': ctstate,
  '--state': ctstate,
  '--mark': markMatch,
  '--comment': comment,
  '-j': jump,
};

/** What is missing once every option is read: the target and what it needs, each loaded module's option, one family. */
function checkComplete(p: RuleParse): void {
  const { errors, target, seen, loaded, families } = p;
  if (!target) errors.push('-j: missing (a rule needs a target: ACCEPT, DROP, REJECT, RETURN, LOG, MASQUERADE, SNAT, DNAT, REDIRECT or MARK)');
  if (target?.kind === 'SNAT' && !seen.has('--to-source')) errors.push('-j SNAT: needs --to-source');
  if (target?.kind === 'DNAT' && !seen.has('--to-destination')) errors.push('-j DNAT: needs --to-destination');
  if (target?.kind === 'MARK' && !seen.has('--set-mark')) errors.push('-j MARK: needs --set-mark');
  if (target?.kind === 'SNAT' && !target.to.addr && seen.has('--to-source')) errors.push('--to-source: needs an address');
  if (loaded.has('multiport') && !p.multiportUsed) errors.push('-m multiport: needs --sports or --dports');
  for (const m of ['conntrack', 'state', 'mark', 'comment'] as const) {
    const opt = { conntrack: '--ctstate', state: '--state', mark: '--mark', comment: '--comment' }[m];
    if (loaded.has(m) && !seen.has(opt)) errors.push(`-m ${m}: needs ${opt}`);
  }
  const proto = p.detail.proto;
  if (proto && families.has(6) && proto.value === 'icmp') errors.push('-p icmp: IPv6 rule (use -p icmpv6)');
  if (families.size > 1) errors.push(`mixes IPv4 (${families.get(4)}) and IPv6 (${families.get(6)})`);
}

/**
 * Parse the options of one custom rule. `args` are the words after the chain
 * name (as tokenize returns them).
 */
export function parseDetail(chain: TwineChain, args: string[]): { detail: RuleDetail; refs: string[] } | { errors: string[] } {
  const p = new RuleParse(chain);
  for (const o of readOptions(args, p.errors)) (own(OPTION_PARSERS, o.opt) ?? targetOption)(p, o);
  checkComplete(p);
  if (p.errors.length) return { errors: p.errors };
  const detail = p.detail;
  detail.target = p.target!;
  const family = p.families.keys().next().value;
  if (family !== undefined) detail.family = family;
  return { detail: detail as RuleDetail, refs: [...new Set(p.refs)] };
}
