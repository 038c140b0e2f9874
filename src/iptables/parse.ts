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

// Options that take a value, and the module (-m) each needs.
const MATCH_OPTS: Record<string, string> = {
  '--sport': 'tcp/udp',
  '--dport': 'tcp/udp',
  '--sports': 'multiport',
  '--dports': 'multiport',
  '--ports': 'multiport',
  '--ctstate': 'conntrack',
  '--state': 'state',
  '--mark': 'mark',
  '--comment': 'comment',
};
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

/**
 * Parse the options of one custom rule. `args` are the words after the chain
 * name (as tokenize returns them).
 */
export function parseDetail(chain: TwineChain, args: string[]): { detail: RuleDetail; refs: string[] } | { errors: string[] } {
  const errors: string[] = [];
  const detail: Partial<RuleDetail> & { matches: Match[] } = { matches: [] };
  const refs: string[] = [];
  const loaded = new Set<string>();
  const families = new Map<Family, string>();
  let ports: Extract<Match, { kind: 'ports' }> | undefined;
  let multiport: Extract<Match, { kind: 'multiport' }> | undefined;
  let multiportUsed = false;
  let target: Target | undefined;
  let targetName: string | undefined;
  const seen = new Set<string>();

  const once = (opt: string): boolean => {
    if (seen.has(opt)) {
      errors.push(`${opt}: given more than once`);
      return false;
    }
    seen.add(opt);
    return true;
  };
  const fam = (f: Family, why: string): void => {
    if (!families.has(f)) families.set(f, why);
  };
  const l4 = (): 'tcp' | 'udp' | undefined => {
    const p = detail.proto;
    return p && !p.neg && (p.value === 'tcp' || p.value === 'udp') ? p.value : undefined;
  };

  let i = 0;
  while (i < args.length) {
    let word = args[i++]!;
    let neg = false;
    if (word === '!') {
      neg = true;
      word = args[i++] ?? '';
      if (word === '') {
        errors.push('!: nothing follows it');
        break;
      }
    }
    const opt = OPT_ALIASES[word] ?? word;
    const takesValue = ['-s', '-d', '-i', '-o', '-p', '-j', '-m'].includes(opt) || opt in MATCH_OPTS || opt in TARGET_OPTS;
    if (!takesValue) {
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
    const negatable = ['-s', '-d', '-i', '-o', '-p', '--sport', '--dport', '--sports', '--dports', '--ports', '--ctstate', '--state', '--mark'];
    if (neg && !negatable.includes(opt)) {
      errors.push(`! ${word}: cannot be negated`);
      continue;
    }

    switch (opt) {
      case '-s':
      case '-d': {
        if (!once(opt)) break;
        const a = parseAddr(value);
        if (typeof a === 'string') {
          errors.push(`${word} ${value}: ${a}`);
          break;
        }
        if (a.kind === 'ref') refs.push(a.name);
        else fam(a.family, `${word} ${value}`);
        if (opt === '-s') detail.src = { neg, value: a };
        else detail.dst = { neg, value: a };
        break;
      }
      case '-i':
      case '-o': {
        if (!once(opt)) break;
        if (parseIface(value) === undefined) {
          errors.push(`${word} ${value}: not an interface name or pattern (up to 15 characters, optionally ending in +)`);
          break;
        }
        if (opt === '-i' && NO_IIF.includes(chain)) errors.push(`${word}: cannot be used in ${chain} (packets there have no input interface)`);
        else if (opt === '-o' && NO_OIF.includes(chain)) errors.push(`${word}: cannot be used in ${chain} (packets there have no output interface yet)`);
        else if (opt === '-i') detail.iif = { neg, value };
        else detail.oif = { neg, value };
        break;
      }
      case '-p': {
        if (!once(opt)) break;
        const p = value.toLowerCase();
        const proto: L4Proto | undefined = p === 'tcp' || p === 'udp' || p === 'icmp' ? p : p === 'icmpv6' || p === 'ipv6-icmp' ? 'icmpv6' : undefined;
        if (!proto) {
          errors.push(`${word} ${value}: unsupported protocol (tcp, udp, icmp or icmpv6)`);
          break;
        }
        if (proto === 'icmp') fam(4, `${word} icmp`);
        if (proto === 'icmpv6') fam(6, `${word} icmpv6`);
        detail.proto = { neg, value: proto };
        break;
      }
      case '-m': {
        const m = value.toLowerCase();
        if (!MODULES.includes(m)) {
          errors.push(`-m ${value}: unsupported match (supported: ${MODULES.join(', ')})`);
          break;
        }
        if (m === 'tcp' || m === 'udp') {
          if (l4() !== m) errors.push(`-m ${m}: needs -p ${m} before it`);
          break;
        }
        if (loaded.has(m)) {
          errors.push(`-m ${m}: given more than once`);
          break;
        }
        loaded.add(m);
        if (m === 'multiport') {
          const p = l4();
          if (!p) errors.push('-m multiport: needs -p tcp or -p udp before it');
          else {
            multiport = { kind: 'multiport', proto: p, dir: 'dport', neg: false, items: [] };
            detail.matches.push(multiport);
          }
        }
        break;
      }
      case '--sport':
      case '--dport': {
        if (!once(opt)) break;
        const p = l4();
        if (!p) {
          errors.push(`${word}: needs -p tcp or -p udp`);
          break;
        }
        const r = parsePortRange(value, ':', 0);
        if (typeof r === 'string') {
          errors.push(`${word} ${value}: ${r}`);
          break;
        }
        if (!ports) {
          ports = { kind: 'ports', proto: p };
          detail.matches.push(ports);
        }
        if (opt === '--sport') ports.sport = { neg, range: r };
        else ports.dport = { neg, range: r };
        break;
      }
      case '--sports':
      case '--dports':
      case '--ports': {
        if (!loaded.has('multiport')) {
          errors.push(`${word}: needs -m multiport before it`);
          break;
        }
        if (opt === '--ports') {
          errors.push(`${word}: unsupported (nftables has no "source or destination port" match; use --sports or --dports)`);
          break;
        }
        if (multiportUsed) {
          errors.push(`${word}: -m multiport takes one of --sports or --dports`);
          break;
        }
        multiportUsed = true;
        if (!multiport) break;
        const items: PortRange[] = [];
        let slots = 0;
        for (const part of value.split(',')) {
          const r = parsePortRange(part, ':', 0);
          if (typeof r === 'string') {
            errors.push(`${word} ${value}: ${r}`);
            break;
          }
          items.push(r);
          slots += r.lo === r.hi ? 1 : 2;
        }
        if (slots > MAX_MULTIPORT) errors.push(`${word} ${value}: more than ${MAX_MULTIPORT} ports (a range counts as two)`);
        multiport.dir = opt === '--sports' ? 'sport' : 'dport';
        multiport.neg = neg;
        multiport.items = items;
        break;
      }
      case '--ctstate':
      case '--state': {
        const mod = opt === '--ctstate' ? 'conntrack' : 'state';
        if (!loaded.has(mod)) {
          errors.push(`${word}: needs -m ${mod} before it`);
          break;
        }
        if (!once(opt)) break;
        const states = value.split(',').map((s) => s.toLowerCase());
        const bad = states.filter((s) => !CT_STATES.includes(s));
        if (bad.length) {
          errors.push(`${word} ${value}: unsupported state ${bad.join(',')} (supported: ${CT_STATES.map((s) => s.toUpperCase()).join(', ')})`);
          break;
        }
        detail.matches.push({ kind: 'ctstate', neg, states: [...new Set(states)] });
        break;
      }
      case '--mark': {
        if (!loaded.has('mark')) {
          errors.push(`${word}: needs -m mark before it`);
          break;
        }
        if (!once(opt)) break;
        const [v, m, extra] = value.split('/');
        const val = parseNumber(v ?? '', 0xffffffff);
        const mask = m === undefined ? undefined : parseNumber(m, 0xffffffff);
        if (val === undefined || (m !== undefined && mask === undefined) || extra !== undefined) {
          errors.push(`${word} ${value}: not a 32-bit value[/mask]`);
          break;
        }
        detail.matches.push({ kind: 'mark', neg, value: val, ...(mask !== undefined && mask !== 0xffffffff ? { mask } : {}) });
        break;
      }
      case '--comment': {
        if (!loaded.has('comment')) {
          errors.push(`${word}: needs -m comment before it`);
          break;
        }
        if (!once(opt)) break;
        // eslint-disable-next-line no-control-regex
        if (/[\x00-\x1f\x7f]/.test(value)) errors.push(`${word}: control characters are not allowed`);
        else if (Buffer.byteLength(value) > MAX_USER_COMMENT) errors.push(`${word}: longer than ${MAX_USER_COMMENT} bytes`);
        else detail.comment = value;
        break;
      }
      case '-j': {
        if (!once(opt)) break;
        const t = (TARGETS as readonly string[]).includes(value) ? (value as (typeof TARGETS)[number]) : undefined;
        if (!t) {
          errors.push(`-j ${value}: unsupported target (supported: ${TARGETS.join(', ')})`);
          break;
        }
        targetName = t;
        const allowed = TARGET_CHAINS[t];
        if (allowed && !allowed.includes(chain)) errors.push(`-j ${t}: not allowed in ${chain} (only in ${allowed.join(', ')})`);
        if (t === 'SNAT' || t === 'DNAT') target = { kind: t, to: {} };
        else if (t === 'MARK') target = { kind: 'MARK', value: -1 };
        else target = { kind: t };
        break;
      }
      default: {
        // A target option.
        const kinds = TARGET_OPTS[opt]!;
        if (!target || !kinds.includes(target.kind)) {
          errors.push(`${word}: needs -j ${kinds.join(' or -j ')} before it`);
          break;
        }
        if (!once(opt)) break;
        const t = target;
        if (t.kind === 'REJECT') {
          const v = value.toLowerCase();
          if (v === 'tcp-reset' || v === 'tcp-rst') {
            if (l4() !== 'tcp') errors.push(`${word} ${value}: needs -p tcp`);
            t.with = { type: 'tcp reset' };
          } else if (REJECT_V4[v]) {
            fam(4, `${word} ${value}`);
            t.with = { type: 'icmp', code: REJECT_V4[v] };
          } else if (REJECT_V6[v]) {
            fam(6, `${word} ${value}`);
            t.with = { type: 'icmpv6', code: REJECT_V6[v] };
          } else errors.push(`${word} ${value}: unsupported (${[...Object.keys(REJECT_V4), ...Object.keys(REJECT_V6), 'tcp-reset'].join(', ')})`);
        } else if (t.kind === 'LOG') {
          // eslint-disable-next-line no-control-regex
          if (/[\x00-\x1f\x7f]/.test(value)) errors.push(`${word}: control characters are not allowed`);
          else if (Buffer.byteLength(value) > MAX_LOG_PREFIX) errors.push(`${word}: longer than ${MAX_LOG_PREFIX} bytes`);
          else t.prefix = value;
        } else if (t.kind === 'MASQUERADE' || t.kind === 'REDIRECT') {
          if (!l4()) errors.push(`${word}: needs -p tcp or -p udp`);
          const r = parsePortRange(value, '-', 1);
          if (typeof r === 'string') errors.push(`${word} ${value}: ${r}`);
          else t.ports = r;
        } else if (t.kind === 'SNAT' || t.kind === 'DNAT') {
          const to = parseNatTo(value, l4() !== undefined);
          if (typeof to === 'string') errors.push(`${word} ${value}: ${to}`);
          else {
            if (to.addr?.kind === 'ip') fam(to.addr.family, `${word} ${value}`);
            if (to.addr?.kind === 'ref') refs.push(to.addr.name);
            t.to = to;
          }
        } else if (t.kind === 'MARK') {
          const [v, m, extra] = value.split('/');
          const val = parseNumber(v ?? '', 0xffffffff);
          const mask = m === undefined ? undefined : parseNumber(m, 0xffffffff);
          if (val === undefined || (m !== undefined && mask === undefined) || extra !== undefined) errors.push(`${word} ${value}: not a 32-bit value[/mask]`);
          else {
            t.value = val;
            if (mask !== undefined && mask !== 0xffffffff) t.mask = mask;
          }
        }
      }
    }
  }

  if (!targetName) errors.push('-j: missing (a rule needs a target: ACCEPT, DROP, REJECT, RETURN, LOG, MASQUERADE, SNAT, DNAT, REDIRECT or MARK)');
  if (target?.kind === 'SNAT' && !seen.has('--to-source')) errors.push('-j SNAT: needs --to-source');
  if (target?.kind === 'DNAT' && !seen.has('--to-destination')) errors.push('-j DNAT: needs --to-destination');
  if (target?.kind === 'MARK' && !seen.has('--set-mark')) errors.push('-j MARK: needs --set-mark');
  if (target?.kind === 'SNAT' && !target.to.addr && seen.has('--to-source')) errors.push('--to-source: needs an address');
  if (loaded.has('multiport') && !multiportUsed) errors.push('-m multiport: needs --sports or --dports');
  for (const m of ['conntrack', 'state', 'mark', 'comment'] as const) {
    const opt = { conntrack: '--ctstate', state: '--state', mark: '--mark', comment: '--comment' }[m];
    if (loaded.has(m) && !seen.has(opt)) errors.push(`-m ${m}: needs ${opt}`);
  }
  const p = detail.proto;
  if (p && families.has(6) && p.value === 'icmp') errors.push('-p icmp: IPv6 rule (use -p icmpv6)');
  if (families.size > 1) errors.push(`mixes IPv4 (${families.get(4)}) and IPv6 (${families.get(6)})`);

  if (errors.length) return { errors };
  detail.target = target!;
  const family = families.keys().next().value;
  if (family !== undefined) detail.family = family;
  return { detail: detail as RuleDetail, refs: [...new Set(refs)] };
}
