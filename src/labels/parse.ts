// labels → Spec (the grammar is the README's "Labels" section). Every problem of every label is collected and
// thrown at once as one LabelError; nothing here touches the system, and no
// label value is ever passed to a shell (rules are only tokenised and
// validated by the translator).
//
// Decisions where §2 is silent (also in the README's label reference):
// - A CIDR with host bits set (10.0.0.1/8) is an error, as `ip route` refuses
//   it too; a CIDR without prefix is a host route (/32, /128). Addresses are
//   stored in canonical form (IPv6 per RFC 5952).
// - A forward's destination is `<ip>`, `<ip>:<port>`, `[<ipv6>]`,
//   `[<ipv6>]:<port>`, a bare IPv6 literal (no port), or `<ref>[:<port>]`.
// - A source range mapped to a destination range of the same length is 1:1;
//   a single destination port is the start of the destination range.
// - Interface patterns: Linux ifname rules (1–15 bytes, not "." or "..",
//   printable ASCII without '/', ':' or whitespace), '+' only as the last
//   character; '*', '\\' and quotes are refused because nft treats them as
//   wildcard/escape characters.
// - twine.nat.interfaces and the deprecated twine.gateway.interface are merged.
// - Two forwards on the same pattern and protocol with overlapping ports are
//   an error (the second could never match).
// - twine.nat.killswitch (on|off) and twine.nat.mss (<bytes>|off) need
//   twine.nat.interfaces on the same container; an MSS is MIN_MSS-MAX_MSS.
// - Values are capped at MAX_VALUE characters, keys at MAX_KEY; error messages
//   quote at most the first 200 characters of a value, and list at most
//   MAX_ISSUES problems (then how many more there were).
// - A container with more twine.* labels than limits.labels is refused before
//   any label is parsed; more routes than limits.routes after parsing.

import { LabelError, type LabelIssue } from '../errors.js';
import { parseRule } from '../iptables/rule.js';
import { tokenize } from '../iptables/tokenize.js';
import { TWINE_CHAINS, type TwineChain } from '../iptables/chains.js';
import { bigToIp, ipFamily, ipToBig } from '../net/ip.js';
import { parseCidr, sameCidr } from '../net/cidr.js';
import { DEFAULT_LIMITS, LIMIT_OPTIONS, type Limits } from './limits.js';
import type { Dest, ForwardSpec, IfacePattern, MssSetting, PortRange, Proto, RouteSpec, RuleSpec, Spec } from './spec.js';

export const MAX_KEY = 256;
export const MAX_VALUE = 4096;
export const MAX_LIST = 64;
/** A forward whose destination range is shifted compiles to one rule per port: at most this many. */
export const MAX_SHIFTED_RANGE = 256;
const SHOWN_VALUE = 200;
/** The smallest MSS every IPv4 host must accept (RFC 9293), and the largest an MTU of 65535 allows. */
export const MIN_MSS = 536;
export const MAX_MSS = 65495;
/** Problems listed per container; the rest are counted. */
export const MAX_ISSUES = 100;

/** Docker's container name syntax; also used for aliases and compose service names. */
const REF_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const MAX_REF = 253;
const RULE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
// Control characters (C0, DEL, C1) and Unicode line/paragraph separators.
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

class Collector {
  issues: LabelIssue[] = [];
  private more = 0;
  constructor(readonly container: string) {}
  add(key: string, value: string, reason: string): void {
    if (this.issues.length >= MAX_ISSUES) {
      this.more++;
      return;
    }
    const shown = value.length > SHOWN_VALUE ? `${value.slice(0, SHOWN_VALUE)}…` : value;
    const k = key.length > SHOWN_VALUE ? `${key.slice(0, SHOWN_VALUE)}…` : key;
    this.issues.push({ container: this.container, key: k, value: shown, reason });
  }
  /** Throws the LabelError when there were problems. */
  check(): void {
    if (this.issues.length === 0) return;
    if (this.more > 0) this.issues.push({ container: this.container, key: '…', value: '', reason: `${this.more} more problems not listed` });
    throw new LabelError(this.container, this.issues);
  }
}

/** Why `p` is not a valid interface pattern, or undefined when it is. */
export function ifacePatternProblem(p: string): string | undefined {
  if (p === '') return 'empty interface pattern';
  if (p === '+') return undefined;
  const name = p.endsWith('+') ? p.slice(0, -1) : p;
  if (Buffer.byteLength(p) > 15) return `interface pattern "${p}" is longer than 15 characters`;
  if (name.includes('+')) return `'+' is only allowed at the end of an interface pattern ("${p}")`;
  if (name === '.' || name === '..') return `"${p}" is not a valid interface name`;
  if (!/^[\x21-\x7e]+$/.test(name) || /[/:*\\"']/.test(name)) {
    return `interface pattern "${p}" may not contain whitespace, control characters, '/', ':', '*', '\\' or quotes`;
  }
  return undefined;
}

function parsePort(s: string): number | undefined {
  if (!/^\d{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** "80" or "8000-8010". */
export function parsePortRange(s: string): PortRange | string {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m?.[1]) return `"${s}" is not a port or port range (1-65535, e.g. 80 or 8000-8010)`;
  const lo = parsePort(m[1]);
  const hi = m[2] === undefined ? lo : parsePort(m[2]);
  if (lo === undefined || hi === undefined) return `port out of range in "${s}" (1-65535)`;
  if (hi < lo) return `port range "${s}" ends before it starts`;
  return { lo, hi };
}

function parseRef(s: string): Dest | string {
  if (s.length > MAX_REF || !REF_RE.test(s)) {
    return `"${s}" is neither an IP address nor a container name (letters, digits, '_', '.', '-')`;
  }
  return { kind: 'ref', name: s };
}

/** "<ip>", "<ref>" for routes. */
function parseDest(s: string): Dest | string {
  const f = ipFamily(s);
  if (f !== undefined) return { kind: 'ip', family: f, ip: bigToIp(ipToBig(s, f), f) };
  return parseRef(s);
}

/** "<dest>[:<port>]" for forwards, with [v6]:port and bare v6. */
function parseForwardDest(s: string): { dest: Dest; port?: PortRange } | string {
  let host = s;
  let portText: string | undefined;
  const br = /^\[([^\]]*)\](?::(.*))?$/.exec(s);
  if (br) {
    host = br[1] ?? '';
    portText = br[2];
    if (ipFamily(host) !== 6) return `"[${host}]": only IPv6 literals go in brackets`;
  } else if ((s.match(/:/g) ?? []).length === 1) {
    const i = s.indexOf(':');
    host = s.slice(0, i);
    portText = s.slice(i + 1);
  }
  if (host === '') return 'missing destination';
  const dest = parseDest(host);
  if (typeof dest === 'string') return dest;
  if (portText === undefined) return { dest };
  const port = parsePortRange(portText);
  if (typeof port === 'string') return `destination ${port}`;
  return { dest, port };
}

function parseIfaceList(c: Collector, key: string, value: string): IfacePattern[] {
  const parts = value.split(',').map((p) => p.trim());
  if (parts.length > MAX_LIST) {
    c.add(key, value, `at most ${MAX_LIST} interface patterns`);
    return [];
  }
  const out: IfacePattern[] = [];
  for (const p of parts) {
    const problem = ifacePatternProblem(p);
    if (problem) c.add(key, value, problem);
    else if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** The key part after the prefix of a forward: "[<pat>.]<port>[/proto]". */
function parseForward(
  c: Collector,
  key: string,
  value: string,
  rest: string,
  allowPattern: boolean,
): ForwardSpec | undefined {
  const dot = rest.lastIndexOf('.');
  const patText = dot < 0 ? undefined : rest.slice(0, dot);
  const portSpec = dot < 0 ? rest : rest.slice(dot + 1);
  let ok = true;
  let iface: IfacePattern = '+';
  if (patText !== undefined) {
    if (!allowPattern) {
      c.add(key, value, 'the deprecated twine.forward.<port> form takes no interface pattern; use twine.nat.forward.<pat>.<port>');
      ok = false;
    } else {
      const problem = ifacePatternProblem(patText);
      if (problem) {
        c.add(key, value, problem);
        ok = false;
      } else iface = patText;
    }
  }
  const pm = /^([^/]*)(?:\/(.*))?$/.exec(portSpec);
  const portText = pm?.[1] ?? '';
  const protoText = pm?.[2];
  let proto: Proto = 'tcp';
  if (protoText !== undefined) {
    if (protoText !== 'tcp' && protoText !== 'udp') {
      c.add(key, value, `protocol must be tcp or udp, not "${protoText}"`);
      ok = false;
    } else proto = protoText;
  }
  const port = parsePortRange(portText);
  if (typeof port === 'string') {
    c.add(key, value, port);
    ok = false;
  }
  if (value === '') {
    c.add(key, value, 'missing destination (<container or ip>[:<port>])');
    return undefined;
  }
  const d = parseForwardDest(value);
  if (typeof d === 'string') {
    c.add(key, value, d);
    return undefined;
  }
  if (!ok || typeof port === 'string') return undefined;
  const len = port.hi - port.lo;
  let destPort: PortRange;
  if (d.port === undefined) destPort = port;
  else if (d.port.lo === d.port.hi) destPort = { lo: d.port.lo, hi: d.port.lo + len };
  else destPort = d.port;
  if (destPort.hi - destPort.lo !== len) {
    c.add(key, value, `destination port range has ${destPort.hi - destPort.lo + 1} ports, the forwarded range ${len + 1}`);
    return undefined;
  }
  if (destPort.hi > 65535) {
    c.add(key, value, `destination port range ends at ${destPort.hi}, beyond 65535`);
    return undefined;
  }
  if (len > 0 && destPort.lo !== port.lo && len + 1 > MAX_SHIFTED_RANGE) {
    c.add(key, value, `a range forwarded to different port numbers may have at most ${MAX_SHIFTED_RANGE} ports`);
    return undefined;
  }
  if (iface === 'lo' && d.dest.kind === 'ip' && d.dest.family === 6) {
    c.add(key, value, 'forwards on lo support IPv4 destinations only (the kernel has no route_localnet for IPv6)');
    return undefined;
  }
  return { label: key, iface, proto, port, dest: d.dest, destPort };
}

function parseRoute(c: Collector, key: string, value: string, cidrText: string): RouteSpec | undefined {
  const cidr = parseCidr(cidrText);
  if (typeof cidr === 'string') c.add(key, value, cidr);
  if (value === '') {
    c.add(key, value, 'missing gateway (<container or ip>)');
    return undefined;
  }
  const dest = parseDest(value);
  if (typeof dest === 'string') {
    c.add(key, value, dest);
    return undefined;
  }
  if (typeof cidr === 'string') return undefined;
  if (dest.kind === 'ip' && dest.family !== cidr.family) {
    c.add(key, value, `an IPv${cidr.family} route needs an IPv${cidr.family} gateway`);
    return undefined;
  }
  return { label: key, cidr, dest };
}

function parseRuleLabel(c: Collector, key: string, value: string, name: string): RuleSpec | undefined {
  if (!RULE_NAME_RE.test(name)) {
    c.add(key, value, 'rule name must be 1-64 letters, digits, "_", "." or "-", starting with a letter or digit');
    return undefined;
  }
  let words: string[];
  try {
    words = tokenize(value);
  } catch (e) {
    c.add(key, value, `cannot split the rule into words: ${(e as Error).message}`);
    return undefined;
  }
  const [chain, ...args] = words;
  if (chain === undefined || !(TWINE_CHAINS as readonly string[]).includes(chain)) {
    c.add(key, value, `the rule must start with one of the chains ${TWINE_CHAINS.join(', ')}`);
    return undefined;
  }
  let result: ReturnType<typeof parseRule>;
  try {
    result = parseRule(chain as TwineChain, args);
  } catch (e) {
    c.add(key, value, `rule could not be validated: ${(e as Error).message}`);
    return undefined;
  }
  if ('errors' in result) {
    for (const err of result.errors) c.add(key, value, err);
    return undefined;
  }
  return { label: key, name, chain: chain as TwineChain, args, parsed: result.rule };
}

function parseKillSwitch(c: Collector, key: string, value: string): boolean | undefined {
  if (value === 'on' || value === 'true') return true;
  if (value === 'off' || value === 'false') return false;
  c.add(key, value, 'must be on or off');
  return undefined;
}

function parseMss(c: Collector, key: string, value: string): MssSetting | undefined {
  if (value === 'off') return 'off';
  if (value === 'auto' || value === 'route') return 'route';
  if (/^\d{1,5}$/.test(value) && Number(value) >= MIN_MSS && Number(value) <= MAX_MSS) return Number(value);
  c.add(key, value, `must be a segment size in bytes (${MIN_MSS}-${MAX_MSS}), auto (the route's MTU) or off`);
  return undefined;
}

/**
 * Forwards on the same pattern and protocol whose ports overlap (the later
 * one could never match): sorted by first port, each is compared with the one
 * reaching furthest among those before it. O(n log n).
 */
function checkOverlaps(c: Collector, forwards: ForwardSpec[], labels: Record<string, string>): void {
  const groups = new Map<string, ForwardSpec[]>();
  for (const f of forwards) {
    const k = `${f.iface}\0${f.proto}`;
    const g = groups.get(k);
    if (g) g.push(f);
    else groups.set(k, [f]);
  }
  for (const g of groups.values()) {
    g.sort((a, b) => a.port.lo - b.port.lo || (a.label < b.label ? -1 : 1));
    let reach: ForwardSpec | undefined;
    for (const f of g) {
      if (reach && f.port.lo <= reach.port.hi) {
        // Reported on the label that sorts later, naming the other.
        const [later, earlier] = f.label > reach.label ? [f, reach] : [reach, f];
        c.add(later.label, labels[later.label]?.trim() ?? '', `overlaps ${earlier.label} (same interfaces, protocol and ports)`);
      }
      if (!reach || f.port.hi > reach.port.hi) reach = f;
    }
  }
}

/** One valid-looking twine.* label into `spec`; returns the nat interfaces so far (merged across spellings). */
function parseOne(c: Collector, spec: Spec, key: string, value: string, nat: IfacePattern[] | undefined): IfacePattern[] | undefined {
  if (key === 'twine.nat.interfaces' || key === 'twine.gateway.interface') {
    if (key === 'twine.gateway.interface') {
      spec.warnings.push({ key, message: 'twine.gateway.interface is deprecated; use twine.nat.interfaces' });
    }
    if (value === '') {
      c.add(key, value, 'missing interface pattern(s), e.g. wg+ or eth0,tun0');
      return nat;
    }
    const pats = parseIfaceList(c, key, value);
    return [...(nat ?? []), ...pats.filter((p) => !nat?.includes(p))];
  } else if (key === 'twine.nat.killswitch') {
    const k = parseKillSwitch(c, key, value);
    if (k !== undefined) spec.killSwitch = k;
  } else if (key === 'twine.nat.mss') {
    const m = parseMss(c, key, value);
    if (m !== undefined) spec.mss = m;
  } else if (key.startsWith('twine.nat.forward.')) {
    const f = parseForward(c, key, value, key.slice('twine.nat.forward.'.length), true);
    if (f) spec.forwards.push(f);
  } else if (key.startsWith('twine.forward.')) {
    spec.warnings.push({ key, message: 'twine.forward.<port> is deprecated; use twine.nat.forward.<port>' });
    const f = parseForward(c, key, value, key.slice('twine.forward.'.length), false);
    if (f) spec.forwards.push(f);
  } else if (key.startsWith('twine.route.')) {
    const r = parseRoute(c, key, value, key.slice('twine.route.'.length));
    if (r) spec.routes.push(r);
  } else if (key.startsWith('twine.iptables.rule.')) {
    const r = parseRuleLabel(c, key, value, key.slice('twine.iptables.rule.'.length));
    if (r) spec.rules.push(r);
  } else if (key === 'twine.host.routes') {
    const parts = value.split(',').map((p) => p.trim());
    if (value === '' || parts.length > MAX_LIST) {
      c.add(key, value, value === '' ? 'missing CIDR list' : `at most ${MAX_LIST} CIDRs`);
      return nat;
    }
    for (const p of parts) {
      const cidr = parseCidr(p);
      if (typeof cidr === 'string') c.add(key, value, cidr);
      else if (!spec.hostRoutes.some((h) => sameCidr(h, cidr))) spec.hostRoutes.push(cidr);
    }
  } else if (key === 'twine.dns') {
    if (value === 'required') spec.dns = 'required';
    else c.add(key, value, "must be required (refuse to apply while the container's lookups would leave from the Docker host instead of through its routes)");
  } else if (key === 'twine.ipv6') {
    if (value === 'block' || value === 'allow') spec.ipv6 = value;
    else c.add(key, value, 'must be block (IPv6 only on-link: for a gateway without IPv6) or allow (IPv6 keeps Docker\'s default route, without a warning)');
  } else {
    c.add(key, value, 'unknown twine label (see the label reference: twine.nat.*, twine.route.*, twine.iptables.rule.*, twine.host.routes, twine.dns, twine.ipv6)');
  }
  return nat;
}

/** Checks that involve more than one label. */
function crossChecks(c: Collector, spec: Spec, labels: Record<string, string>, nat: IfacePattern[] | undefined, limits: Pick<Limits, 'routes'>): void {
  for (const key of ['twine.nat.killswitch', 'twine.nat.mss']) {
    if (Object.hasOwn(labels, key) && nat === undefined) {
      c.add(key, labels[key]?.trim() ?? '', 'applies to a NAT gateway only: set twine.nat.interfaces on this container too');
    }
  }
  checkOverlaps(c, spec.forwards, labels);
  const seenRoutes = new Map<string, string>();
  for (const r of spec.routes) {
    const id = `${r.cidr.addr}/${r.cidr.prefixLen}`;
    const prev = seenRoutes.get(id);
    if (prev) c.add(r.label, labels[r.label]?.trim() ?? '', `same destination as ${prev}`);
    else seenRoutes.set(id, r.label);
  }
  const routeCount = spec.routes.length + spec.hostRoutes.length;
  if (routeCount > limits.routes) {
    // Routes and host routes come in key order; name the label that crosses the limit.
    const over = spec.routes.length > limits.routes ? spec.routes[limits.routes]!.label : 'twine.host.routes';
    c.add(
      over,
      labels[over]?.trim() ?? '',
      `the labels ask for ${routeCount} routes (twine.route.* and twine.host.routes), more than the limit of ${limits.routes} per container (${LIMIT_OPTIONS.routes} raises it)`,
    );
  }
  const v6Default = spec.routes.find((r) => r.cidr.family === 6 && r.cidr.prefixLen === 0);
  if (spec.ipv6 === 'block' && v6Default) {
    c.add('twine.ipv6', labels['twine.ipv6']?.trim() ?? '', `contradicts ${v6Default.label}, which sends the IPv6 traffic via a gateway: use one of them`);
  }
}

/**
 * Validate a container's labels. Non-twine labels are ignored; every problem
 * with a twine.* label is reported in one LabelError.
 */
export function parseLabels(container: string, labels: Record<string, string>, limits: Pick<Limits, 'labels' | 'routes'> = DEFAULT_LIMITS): Spec {
  const c = new Collector(container);
  const spec: Spec = { forwards: [], routes: [], rules: [], hostRoutes: [], warnings: [] };
  let nat: IfacePattern[] | undefined;
  const keys = Object.keys(labels)
    .filter((k) => k.startsWith('twine.'))
    .sort();
  if (keys.length > limits.labels) {
    const first = keys[limits.labels]!;
    c.add(
      first,
      String(labels[first]),
      `the container has ${keys.length} twine.* labels, more than the limit of ${limits.labels} per container (this is the first beyond it, in key order; ${LIMIT_OPTIONS.labels} raises the limit)`,
    );
    c.check();
  }
  for (const key of keys) {
    const raw = labels[key];
    if (typeof raw !== 'string') {
      c.add(key, String(raw), 'label value must be a string');
      continue;
    }
    const value = raw.trim();
    if (key.length > MAX_KEY) {
      c.add(key, value, `label key longer than ${MAX_KEY} characters`);
      continue;
    }
    if (CONTROL_RE.test(key) || /\s/.test(key)) {
      c.add(key, value, 'label key contains whitespace or control characters');
      continue;
    }
    if (value.length > MAX_VALUE) {
      c.add(key, value, `label value longer than ${MAX_VALUE} characters`);
      continue;
    }
    if (CONTROL_RE.test(value)) {
      c.add(key, value, 'label value contains control characters');
      continue;
    }
    nat = parseOne(c, spec, key, value, nat);
  }
  crossChecks(c, spec, labels, nat, limits);
  c.check();
  if (nat !== undefined) spec.natInterfaces = nat;
  spec.rules.sort((a, b) =>
    a.chain === b.chain ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : TWINE_CHAINS.indexOf(a.chain) - TWINE_CHAINS.indexOf(b.chain),
  );
  return spec;
}
