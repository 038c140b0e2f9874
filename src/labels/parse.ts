// labels → Spec (the grammar is the README's "Labels" section). Every problem of every label is collected and
// thrown at once as one LabelError; nothing here touches the system, and no
// label value is ever passed to a shell (rules are only tokenised and
// validated by the translator).
//
// Decisions the grammar leaves open (also in the README's label reference):
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
import type { Dest, ForwardSpec, IfacePattern, MssSetting, NetSpec, PortRange, Proto, RouteSpec, RuleSpec, Spec, WhitelistSpec } from './spec.js';

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
  if (portText === PORT_FILE_WORD) return parseFileForward(c, key, value, iface, proto, ok && allowPattern, allowPattern);
  const port = parsePortRange(portText);
  if (typeof port === 'string') {
    c.add(key, value, port);
    ok = false;
  }
  const d = forwardDest(c, key, value);
  if (!d) return undefined;
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

/** A forward label's destination, or undefined with the problem added. */
function forwardDest(c: Collector, key: string, value: string): Exclude<ReturnType<typeof parseForwardDest>, string> | undefined {
  if (value === '') {
    c.add(key, value, 'missing destination (<container or ip>[:<port>])');
    return undefined;
  }
  const d = parseForwardDest(value);
  if (typeof d === 'string') {
    c.add(key, value, d);
    return undefined;
  }
  return d;
}

/** twine.nat.forward.[<pat>.]file[/proto]: the port is whatever the gateway's forwarded-port file says. */
function parseFileForward(c: Collector, key: string, value: string, iface: IfacePattern, proto: Proto, ok: boolean, allowPattern: boolean): ForwardSpec | undefined {
  if (!allowPattern) {
    c.add(key, value, 'a forward of the forwarded-port file is spelt twine.nat.forward.[<pat>.]file[/tcp|udp]');
    return undefined;
  }
  const d = forwardDest(c, key, value);
  if (!d) return undefined;
  if (d.port && d.port.lo !== d.port.hi) {
    c.add(key, value, 'a forward of the forwarded-port file takes one destination port, not a range');
    return undefined;
  }
  if (iface === 'lo') {
    c.add(key, value, 'a forward of the forwarded-port file cannot be on lo');
    return undefined;
  }
  if (!ok) return undefined;
  const placeholder = { lo: 0, hi: 0 };
  return { label: key, iface, proto, port: placeholder, dest: d.dest, destPort: d.port ?? placeholder, fromFile: true, ...(d.port ? { fixedDestPort: true as const } : {}) };
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

/** Where gluetun writes the port its VPN provider forwards: the default of twine.nat.portfile. */
export const DEFAULT_PORT_FILE = '/tmp/gluetun/forwarded_port';
/** The port spec of a forward whose port comes from the forwarded-port file. */
export const PORT_FILE_WORD = 'file';
const PORT_FILE_LABEL = 'twine.nat.portfile';
const WHITELIST_PREFIX = 'twine.nat.whitelist.';

/** What the label handlers build up while a container's labels are read. */
interface Acc {
  c: Collector;
  spec: Spec;
  nat?: IfacePattern[];
  /** By pattern ('' = every nat interface). */
  whitelists: Map<string, WhitelistSpec>;
  portFile?: string;
}

/** Reads one label (`rest`: the key after the handler's prefix). */
type LabelHandler = (a: Acc, key: string, value: string, rest: string) => void;

function natInterfacesLabel(a: Acc, key: string, value: string): void {
  if (key === 'twine.gateway.interface') {
    a.spec.warnings.push({ key, message: 'twine.gateway.interface is deprecated; use twine.nat.interfaces' });
  }
  if (value === '') {
    a.c.add(key, value, 'missing interface pattern(s), e.g. wg+ or eth0,tun0');
    return;
  }
  const pats = parseIfaceList(a.c, key, value);
  a.nat = [...(a.nat ?? []), ...pats.filter((p) => !a.nat?.includes(p))];
}

function hostRoutesLabel(a: Acc, key: string, value: string): void {
  const parts = value.split(',').map((p) => p.trim());
  if (value === '' || parts.length > MAX_LIST) {
    a.c.add(key, value, value === '' ? 'missing CIDR list' : `at most ${MAX_LIST} CIDRs`);
    return;
  }
  for (const p of parts) {
    const cidr = parseCidr(p);
    if (typeof cidr === 'string') a.c.add(key, value, cidr);
    else if (!a.spec.hostRoutes.some((h) => sameCidr(h, cidr))) a.spec.hostRoutes.push(cidr);
  }
}

/** A path's components, without the empty ones and '.'. */
const pathParts = (value: string): string[] => value.split('/').filter((p) => p !== '' && p !== '.');

/** An absolute path inside the container, normalised; what is wrong as a string. */
export function containerPathProblem(value: string): string | undefined {
  if (value === '') return 'missing path (an absolute path inside the container, e.g. /tmp/gluetun/forwarded_port)';
  if (!value.startsWith('/')) return `"${value}" is not an absolute path inside the container`;
  const parts = pathParts(value);
  if (parts.includes('..')) return `"${value}" has a ".." component: the path may lead outside the container`;
  if (parts.length === 0 || value.endsWith('/')) return `"${value}" names a directory, not a file`;
  return undefined;
}

function portFileLabel(a: Acc, key: string, value: string): void {
  const problem = containerPathProblem(value);
  if (problem) a.c.add(key, value, problem);
  else a.portFile = `/${pathParts(value).join('/')}`;
}

function forwardLabel(a: Acc, key: string, value: string, rest: string): void {
  const f = parseForward(a.c, key, value, rest, true);
  if (f) a.spec.forwards.push(f);
}

function deprecatedForwardLabel(a: Acc, key: string, value: string, rest: string): void {
  a.spec.warnings.push({ key, message: 'twine.forward.<port> is deprecated; use twine.nat.forward.<port>' });
  const f = parseForward(a.c, key, value, rest, false);
  if (f) a.spec.forwards.push(f);
}

/** A CIDR (an address alone is a host), or a container reference. */
function parseNet(p: string): NetSpec | string {
  if (p.includes('/') || p.includes(':') || /^[\d.]+$/.test(p)) {
    const cidr = parseCidr(p);
    return typeof cidr === 'string' ? cidr : { kind: 'cidr', cidr };
  }
  const ref = parseRef(p);
  return typeof ref === 'string' ? ref : { kind: 'ref', name: (ref as { name: string }).name };
}

/** "<cidr>" or "<container>", comma-separated. */
function parseNetList(c: Collector, key: string, value: string): NetSpec[] | undefined {
  const parts = value.split(',').map((p) => p.trim());
  if (value === '' || parts.length > MAX_LIST) {
    c.add(key, value, value === '' ? 'missing network list (CIDRs or container names, comma-separated)' : `at most ${MAX_LIST} networks`);
    return undefined;
  }
  const out: NetSpec[] = [];
  let ok = true;
  for (const p of parts) {
    const net = parseNet(p);
    if (typeof net === 'string') {
      c.add(key, value, net);
      ok = false;
    } else if (!out.some((o) => JSON.stringify(o) === JSON.stringify(net))) out.push(net);
  }
  return ok ? out : undefined;
}

function whitelistLabel(a: Acc, key: string, value: string, rest: string): void {
  const dot = rest.lastIndexOf('.');
  const side = dot < 0 ? rest : rest.slice(dot + 1);
  const pat = dot < 0 ? '' : rest.slice(0, dot);
  let ok = true;
  if (side !== 'from' && side !== 'to') {
    a.c.add(key, value, 'a whitelist label ends in .from or .to: twine.nat.whitelist.[<pat>.]from|to');
    ok = false;
  }
  const problem = pat === '' ? undefined : ifacePatternProblem(pat);
  if (problem) {
    a.c.add(key, value, problem);
    ok = false;
  }
  const nets = parseNetList(a.c, key, value);
  if (!ok || !nets) return;
  const w = a.whitelists.get(pat) ?? (pat === '' ? {} : { iface: pat });
  w[side as 'from' | 'to'] = { label: key, nets };
  a.whitelists.set(pat, w);
}

/** Labels known by their whole key. */
const EXACT_LABELS: Record<string, LabelHandler> = {
  'twine.nat.interfaces': natInterfacesLabel,
  'twine.gateway.interface': natInterfacesLabel,
  'twine.nat.killswitch': (a, key, value) => {
    const k = parseKillSwitch(a.c, key, value);
    if (k !== undefined) a.spec.killSwitch = k;
  },
  'twine.nat.mss': (a, key, value) => {
    const m = parseMss(a.c, key, value);
    if (m !== undefined) a.spec.mss = m;
  },
  'twine.host.routes': hostRoutesLabel,
  [PORT_FILE_LABEL]: portFileLabel,
  'twine.dns': (a, key, value) => {
    if (value === 'required') a.spec.dns = 'required';
    else a.c.add(key, value, "must be required (refuse to apply while the container's lookups would leave from the Docker host instead of through its routes)");
  },
  'twine.ipv6': (a, key, value) => {
    if (value === 'block' || value === 'allow') a.spec.ipv6 = value;
    else a.c.add(key, value, "must be block (IPv6 only on-link: for a gateway without IPv6) or allow (IPv6 keeps Docker's default route, without a warning)");
  },
};

/** Labels known by a prefix, the rest of the key being an argument; the first that matches reads the label. */
const PREFIX_LABELS: [string, LabelHandler][] = [
  ['twine.nat.forward.', forwardLabel],
  [WHITELIST_PREFIX, whitelistLabel],
  ['twine.forward.', deprecatedForwardLabel],
  ['twine.route.', (a, key, value, rest) => {
    const r = parseRoute(a.c, key, value, rest);
    if (r) a.spec.routes.push(r);
  }],
  ['twine.iptables.rule.', (a, key, value, rest) => {
    const r = parseRuleLabel(a.c, key, value, rest);
    if (r) a.spec.rules.push(r);
  }],
];

/** Why a label cannot be read at all (before its handler runs), or undefined. */
function labelShapeProblem(key: string, value: string): string | undefined {
  if (key.length > MAX_KEY) return `label key longer than ${MAX_KEY} characters`;
  if (CONTROL_RE.test(key) || /\s/.test(key)) return 'label key contains whitespace or control characters';
  if (value.length > MAX_VALUE) return `label value longer than ${MAX_VALUE} characters`;
  if (CONTROL_RE.test(value)) return 'label value contains control characters';
  return undefined;
}

function readLabel(a: Acc, key: string, raw: unknown): void {
  if (typeof raw !== 'string') {
    a.c.add(key, String(raw), 'label value must be a string');
    return;
  }
  const value = raw.trim();
  const problem = labelShapeProblem(key, value);
  if (problem) {
    a.c.add(key, value, problem);
    return;
  }
  const exact = Object.hasOwn(EXACT_LABELS, key) ? EXACT_LABELS[key] : undefined;
  if (exact) return exact(a, key, value, '');
  const byPrefix = PREFIX_LABELS.find(([prefix]) => key.startsWith(prefix));
  if (byPrefix) return byPrefix[1](a, key, value, key.slice(byPrefix[0].length));
  a.c.add(key, value, 'unknown twine label (see the label reference: twine.nat.*, twine.route.*, twine.iptables.rule.*, twine.host.routes, twine.dns, twine.ipv6)');
}

/** Is every interface `pat` matches also matched by one of the nat patterns? */
export function patternCovered(pat: IfacePattern, nat: readonly IfacePattern[]): boolean {
  return nat.some((n) => {
    if (n === '+' || n === pat) return true;
    if (!n.endsWith('+')) return false;
    const stem = n.slice(0, -1);
    return pat !== '+' && pat.startsWith(stem);
  });
}

/** The whitelists and the port file: on a gateway's interfaces, and used by a forward. */
function checkGatewayLabels(a: Acc, labels: Record<string, string>): void {
  const { c, nat } = a;
  const value = (k: string) => labels[k]?.trim() ?? '';
  for (const w of a.whitelists.values()) {
    for (const side of [w.from, w.to]) {
      if (!side) continue;
      if (nat === undefined) c.add(side.label, value(side.label), 'applies to a NAT gateway only: set twine.nat.interfaces on this container too');
      else if (w.iface !== undefined && !patternCovered(w.iface, nat)) {
        c.add(side.label, value(side.label), `"${w.iface}" matches interfaces that are not nat interfaces (twine.nat.interfaces=${nat.join(',')}): a whitelist restricts what leaves through a nat interface`);
      }
    }
  }
  const fileForwards = a.spec.forwards.filter((f) => f.fromFile);
  if (a.portFile !== undefined && fileForwards.length === 0) {
    c.add(PORT_FILE_LABEL, value(PORT_FILE_LABEL), 'no forward uses it: add twine.nat.forward.[<pat>.]file[/tcp|udp]=<dest>[:<port>]');
  }
  const seen = new Map<string, string>();
  for (const f of fileForwards) {
    const k = `${f.iface}\0${f.proto}`;
    const prev = seen.get(k);
    if (prev) c.add(f.label, value(f.label), `overlaps ${prev} (same interfaces, protocol and port file)`);
    else seen.set(k, f.label);
  }
  if (fileForwards.length > 0) a.spec.portFile = a.portFile ?? DEFAULT_PORT_FILE;
  if (a.whitelists.size > 0) a.spec.whitelists = [...a.whitelists.entries()].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)).map(([, w]) => w);
}

function checkRoutes(c: Collector, spec: Spec, labels: Record<string, string>, limits: Pick<Limits, 'routes'>): void {
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

/** The twine.* keys, sorted; over the label limit, the error naming the first beyond it is thrown. */
function twineKeys(c: Collector, labels: Record<string, string>, limit: number): string[] {
  const keys = Object.keys(labels)
    .filter((k) => k.startsWith('twine.'))
    .sort();
  if (keys.length > limit) {
    const first = keys[limit]!;
    c.add(
      first,
      String(labels[first]),
      `the container has ${keys.length} twine.* labels, more than the limit of ${limit} per container (this is the first beyond it, in key order; ${LIMIT_OPTIONS.labels} raises the limit)`,
    );
    c.check();
  }
  return keys;
}

/**
 * Validate a container's labels. Non-twine labels are ignored; every problem
 * with a twine.* label is reported in one LabelError.
 */
export function parseLabels(container: string, labels: Record<string, string>, limits: Pick<Limits, 'labels' | 'routes'> = DEFAULT_LIMITS): Spec {
  const c = new Collector(container);
  const a: Acc = { c, spec: { forwards: [], routes: [], rules: [], hostRoutes: [], warnings: [] }, whitelists: new Map() };
  for (const key of twineKeys(c, labels, limits.labels)) readLabel(a, key, labels[key]);
  const { spec, nat } = a;
  for (const key of ['twine.nat.killswitch', 'twine.nat.mss']) {
    if (Object.hasOwn(labels, key) && nat === undefined) {
      c.add(key, labels[key]?.trim() ?? '', 'applies to a NAT gateway only: set twine.nat.interfaces on this container too');
    }
  }
  checkGatewayLabels(a, labels);
  checkOverlaps(
    c,
    spec.forwards.filter((f) => !f.fromFile),
    labels,
  );
  checkRoutes(c, spec, labels, limits);
  c.check();
  if (nat !== undefined) spec.natInterfaces = nat;
  spec.rules.sort((x, y) =>
    x.chain === y.chain ? (x.name < y.name ? -1 : x.name > y.name ? 1 : 0) : TWINE_CHAINS.indexOf(x.chain) - TWINE_CHAINS.indexOf(y.chain),
  );
  return spec;
}
