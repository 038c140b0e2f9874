// Spec + inventory → desired state, resolving container references the way
// Docker's embedded DNS would answer them inside the source container.
// Pure: no I/O, same input → same output.
//
// Decisions where the label grammar (README, "Labels") is silent:
// - A reference matches, on a network both containers share, a container's
//   name, one of its network aliases or DNSNames on that network, or its
//   compose service name. The service name counts only within the source's
//   compose project when the source has one (compose's own aliases are
//   per-project too); a source outside compose matches any service name.
//   Names compare case-insensitively, as DNS does.
// - Only running containers answer. The first of the SOURCE's networks (in
//   its order) on which some running container matches wins; on it, a match
//   by container name beats an alias/DNS name, which beats a service name.
//   Several containers tied at the best rank make the reference ambiguous: it
//   does not resolve (reported as down, naming them), as Docker's DNS would
//   answer any of them and a route must not go to whichever is first.
// - A compose service name comes from labels anyone can set, so it counts
//   only when the container's name, which Docker keeps unique, agrees with
//   them: `<project>-<service>-<n>` (compose v2) or `<project>_<service>_<n>`
//   (v1). A container with forged compose labels and another name is not
//   the service (see README, "Security model", for what remains).
// - Each address family resolves on its own: the first shared network where
//   the destination has an address of that family.
// - Swarm services (./swarm.ts): a service's task answers to the service's
//   name and to `<service>.<slot>` like an alias does. When the best matches on
//   the first network that has any are more than one container or task and a
//   service is among them, the reference does not resolve: it names the tasks
//   (a route must not pick one at random). Tasks on other nodes come as
//   `inv.remoteTasks`. Networks in `inv.noDns` (swarm's ingress) are skipped,
//   as Docker's DNS answers no names there.
// - A reference to the source itself is not resolved (a route or forward to
//   oneself is a mistake; it is reported as down).
// - Masquerade-or-keep-client for forwards: the client's source address is
//   kept iff the destination container's own labels route the WHOLE address
//   space of that family via this container (0.0.0.0/0, or 0.0.0.0/1 +
//   128.0.0.0/1, ...: their union covers everything), so every reply goes
//   back through us. Anything less (or unparseable labels) → masquerade.
//   Caveat (documented): clients on the destination's own directly attached
//   networks would still be answered directly.

import { LabelError } from '../errors.js';
import { translateRule } from '../firewall/iptables/translate.js';
import { bigToIp, coversAll, ipFamily, ipInNet, ipToBig, maskOf, type Family } from '../net/ip.js';
import { cidrText, outermostCidrs, parseCidr, type Cidr } from '../net/cidr.js';
import type { Dest, ForwardSpec, RouteSpec, RuleSpec, Spec, WhitelistSide } from '../labels/spec.js';
import { SpecCache } from '../labels/spec-cache.js';
import type {
  DesiredForward,
  DesiredHostRoute,
  DesiredWhitelist,
  DesiredWhitelistSide,
  DesiredRoute,
  DesiredRule,
  DesiredState,
  DockerDefault,
  ForwardTarget,
  Peer,
  ReplyPath,
  Resolution,
  Unresolved,
} from './desired.js';
import { addressOf, type ContainerInfo, type Inventory, type NetworkAttachment } from '../docker/container.js';
import { serviceKeys } from '../docker/swarm-task.js';
import { ambiguousReason, stackForm } from './swarm.js';

interface Match {
  c: ContainerInfo;
  /** The source's attachment to the shared network. */
  src: NetworkAttachment;
  /** The destination's attachment to it. */
  dst: NetworkAttachment;
  ip: string;
}

const lc = (s: string) => s.toLowerCase();

/**
 * The compose service `c` is a replica of: its labels' claim, when Docker's name for it agrees
 * (`<project>-<service>-<n>` or `<project>_<service>_<n>`); else undefined.
 */
export function composeServiceOf(c: ContainerInfo): string | undefined {
  const svc = c.composeService;
  const proj = c.composeProject;
  if (svc === undefined || proj === undefined || svc === '' || proj === '') return undefined;
  const name = lc(c.name);
  for (const sep of ['-', '_']) {
    const head = lc(`${proj}${sep}${svc}${sep}`);
    if (name.startsWith(head) && /^[0-9]+$/.test(name.slice(head.length))) return svc;
  }
  return undefined;
}

/** How well `c` (on attachment `a`) answers to `ref`: 0 name, 1 alias/DNS name, 2 compose service; undefined = no. */
function rank(source: ContainerInfo, c: ContainerInfo, a: NetworkAttachment | undefined, ref: string): number | undefined {
  const r = lc(ref);
  if (lc(c.name) === r) return 0;
  if (a && (a.aliases.some((x) => lc(x) === r) || a.dnsNames.some((x) => lc(x) === r))) return 1;
  const svc = composeServiceOf(c);
  if (svc !== undefined && lc(svc) === r) {
    if (source.composeProject === undefined || c.composeProject === source.composeProject) return 2;
  }
  return undefined;
}

/** What answers to a name: a container on one attachment (none: it has no networks), and how well. */
interface Entry {
  c: ContainerInfo;
  a: NetworkAttachment | undefined;
  /** 0 name, 1 alias/DNS name or swarm service, 2 compose service (see rank). */
  r: number;
  /** Answers as a swarm service's task (the service's name, or `<service>.<slot>`). */
  swarm?: boolean;
  /** Position in the inventory, to keep its order. */
  at: number;
}

interface NameIndex {
  /** Lower-cased name, alias, DNS name or service → who answers to it (any state). */
  byKey: Map<string, Entry[]>;
  /** Network id → running containers' attachments to it. */
  byNetwork: Map<string, { c: ContainerInfo; a: NetworkAttachment }[]>;
}

/**
 * One index per inventory snapshot (the engine keeps the array until something
 * changes): every container planned against the same snapshot looks names up in
 * it instead of scanning every container once per reference.
 */
const indexes = new WeakMap<readonly ContainerInfo[], { remote: Inventory['remoteTasks']; ix: NameIndex }>();

function indexOf(inv: Inventory): NameIndex {
  const cached = indexes.get(inv.containers);
  if (cached && cached.remote === inv.remoteTasks) return cached.ix;
  const ix: NameIndex = { byKey: new Map(), byNetwork: new Map() };
  const add = (key: string, e: Entry): void => {
    const k = lc(key);
    const list = ix.byKey.get(k);
    if (list) list.push(e);
    else ix.byKey.set(k, [e]);
  };
  [...inv.containers, ...(inv.remoteTasks ?? [])].forEach((c, at) => {
    const atts: (NetworkAttachment | undefined)[] = c.networks.length > 0 ? c.networks : [undefined];
    for (const a of atts) {
      add(c.name, { c, a, r: 0, at });
      for (const x of [...(a?.aliases ?? []), ...(a?.dnsNames ?? [])]) add(x, { c, a, r: 1, at });
      if (c.swarm) for (const k of serviceKeys(c.swarm)) add(k, { c, a, r: 1, swarm: true, at });
      const svc = composeServiceOf(c);
      if (svc !== undefined) add(svc, { c, a, r: 2, at });
      if (a && c.running) {
        const list = ix.byNetwork.get(a.networkId);
        if (list) list.push({ c, a });
        else ix.byNetwork.set(a.networkId, [{ c, a }]);
      }
    }
  });
  indexes.set(inv.containers, { remote: inv.remoteTasks, ix });
  return ix;
}

/** What a reference is to the label that makes it. */
export type RefRole = 'gateway' | 'forward destination' | 'rule address';

export class Resolver {
  private readonly index: NameIndex;
  /** Why a lookup found several tasks (lower-cased ref/family → reason), for whyNot. */
  private readonly ambiguous = new Map<string, string>();

  constructor(
    readonly source: ContainerInfo,
    readonly inv: Inventory,
  ) {
    this.index = indexOf(inv);
  }

  /**
   * Entries for `ref` that answer to it from the source's point of view (a compose service only
   * within its project; inside a stack, the stack's services by their short names too).
   */
  private answering(ref: string): Entry[] {
    const src = this.source;
    const inStack = stackForm(src, ref);
    const stackEntries = inStack === undefined ? [] : (this.index.byKey.get(lc(inStack)) ?? []).filter((e) => e.swarm);
    return [...(this.index.byKey.get(lc(ref)) ?? []), ...stackEntries].filter(
      (e) => e.c.id !== src.id && (e.r !== 2 || src.composeProject === undefined || e.c.composeProject === src.composeProject),
    );
  }

  /** Resolve `ref` for one address family. */
  lookup(ref: string, family: Family): Match | undefined {
    const entries = this.answering(ref);
    this.ambiguous.delete(`${lc(ref)}/${family}`);
    for (const src of this.source.networks) {
      if (this.inv.noDns?.has(src.networkId)) continue;
      let top: Entry[] = [];
      for (const e of entries) {
        if (!e.c.running || !e.a || e.a.networkId !== src.networkId || !addressOf(e.a, family)) continue;
        if (top.length === 0 || e.r < top[0]!.r) top = [e];
        else if (e.r === top[0]!.r) top.push(e);
      }
      if (top.length === 0) continue;
      const distinct = [...new Map(top.map((e) => [e.c.id, e])).values()];
      if (distinct.length > 1) {
        const matches = distinct.map((e) => ({ c: e.c, ip: addressOf(e.a!, family)! })).sort((x, y) => (x.c.name < y.c.name ? -1 : x.c.name > y.c.name ? 1 : x.c.id < y.c.id ? -1 : 1));
        this.ambiguous.set(`${lc(ref)}/${family}`, ambiguousReason(ref, src.networkName, matches));
        return undefined;
      }
      const best = distinct[0]!;
      return { c: best.c, src, dst: best.a!, ip: addressOf(best.a!, family)! };
    }
    return undefined;
  }

  /** Every container (any state, any network) that carries the name: the dependency edges. */
  namedBy(ref: string): ContainerInfo[] {
    const seen = new Map<string, Entry>();
    for (const e of this.answering(ref)) if (!seen.has(e.c.id)) seen.set(e.c.id, e);
    return [...seen.values()].sort((x, y) => x.at - y.at).map((e) => e.c);
  }

  /**
   * Why `ref` does not resolve for `family` (only meaningful after lookup failed), in the
   * words of what the label uses it as: a route's gateway, a forward's destination, a rule's address.
   */
  whyNot(ref: string, role: RefRole, family?: Family): string {
    for (const f of family === undefined ? ([4, 6] as const) : [family]) {
      const several = this.ambiguous.get(`${lc(ref)}/${f}`);
      if (several !== undefined) return `${several} (${role} down)`;
    }
    if (rank(this.source, this.source, undefined, ref) !== undefined && this.namedBy(ref).length === 0) {
      return `"${ref}" is this container itself`;
    }
    const named = this.namedBy(ref);
    if (named.length === 0) return `no container named "${ref}" (${role} down)`;
    const running = named.filter((c) => c.running);
    const service = this.answering(ref).every((e) => e.swarm);
    if (running.length === 0) return service ? `no running swarm task answers to "${ref}" (${role} down)` : `container "${ref}" is not running (${role} down)`;
    const what = service ? `swarm service "${ref}"` : `container "${ref}"`;
    const shared = running.some((c) => c.networks.some((a) => !this.inv.noDns?.has(a.networkId) && this.source.networks.some((s) => s.networkId === a.networkId)));
    if (!shared) return `${what} shares no network with ${this.source.name}`;
    return `${what} has no IPv${family ?? 4} address on a network shared with ${this.source.name}`;
  }

  /** The source's attachment whose subnet holds `ip` (for IP-literal gateways). */
  attachmentFor(ip: string, family: Family): NetworkAttachment | undefined {
    return this.source.networks.find((n) => {
      const own = addressOf(n, family);
      const len = family === 4 ? n.ipv4PrefixLen : n.ipv6PrefixLen;
      return own !== undefined && len !== undefined && ipInNet(ip, own, len, family);
    });
  }

  /** A running container holding `ip` on one of the source's networks. */
  holderOf(ip: string, family: Family): ContainerInfo | undefined {
    for (const src of this.source.networks) {
      for (const { c, a } of this.index.byNetwork.get(src.networkId) ?? []) {
        if (c.id !== this.source.id && addressOf(a, family) === ip) return c;
      }
    }
    return undefined;
  }
}

/** The published TCP and UDP ports, by protocol (the reply mark matches no other protocol). */
function publishedByProto(c: ContainerInfo): ReplyPath['ports'] {
  const out: ReplyPath['ports'] = [];
  for (const proto of ['tcp', 'udp'] as const) {
    const ports = [...new Set((c.published ?? []).filter((p) => p.proto === proto).map((p) => p.port))].sort((a, b) => a - b);
    if (ports.length > 0) out.push({ proto, ports });
  }
  return out;
}

function peerOf(m: Match): Peer {
  return { id: m.c.id, name: m.c.name, network: m.dst.networkName };
}

function destText(d: Dest): string {
  return d.kind === 'ip' ? d.ip : d.name;
}

/** Does `dest` (a container) route all of `family` via `source`, per its own labels? */
export function routesAllVia(dest: ContainerInfo, source: ContainerInfo, family: Family, inv: Inventory, specs: SpecCache): boolean {
  let spec: Spec;
  try {
    spec = specs.specOf(dest);
  } catch (e) {
    if (e instanceof LabelError) return false;
    throw e;
  }
  const r = new Resolver(dest, inv);
  const sourceIps = new Set(source.networks.map((n) => addressOf(n, family)).filter((x): x is string => !!x));
  const via = spec.routes.filter((rt) => {
    if (rt.cidr.family !== family) return false;
    if (rt.dest.kind === 'ip') return sourceIps.has(rt.dest.ip);
    return r.lookup(rt.dest.name, family)?.c.id === source.id;
  });
  return via.length > 0 && coversAll(via.map((rt) => rt.cidr), family);
}

/** One route label resolved: its gateway's address (or down, with the reason). */
interface RouteResolution {
  route: DesiredRoute;
  unresolved?: Unresolved;
}

function resolveRoute(r: Resolver, rt: RouteSpec): RouteResolution {
  const family = rt.cidr.family;
  const base = { label: rt.label, family, dst: cidrText(rt.cidr), dest: destText(rt.dest) };
  if (rt.dest.kind === 'ip') {
    const a = r.attachmentFor(rt.dest.ip, family);
    return { route: { ...base, state: 'up', gateway: rt.dest.ip, ...(a?.iface ? { dev: a.iface } : {}) } };
  }
  const m = r.lookup(rt.dest.name, family);
  if (!m) {
    const reason = r.whyNot(rt.dest.name, 'gateway', family);
    return { route: { ...base, state: 'down', reason }, unresolved: { label: rt.label, ref: rt.dest.name, reason } };
  }
  return { route: { ...base, state: 'up', gateway: m.ip, ...(m.src.iface ? { dev: m.src.iface } : {}), via: peerOf(m) } };
}

/**
 * The route labels alone, resolved as resolve() resolves them (the same
 * lookups, so the same answer, fail-closed included): what re-pointing a
 * dependent needs when only the containers it references moved.
 */
export function resolveRoutes(source: ContainerInfo, spec: Spec, inv: Inventory): DesiredRoute[] {
  const r = new Resolver(source, inv);
  return spec.routes.map((rt) => resolveRoute(r, rt).route);
}

/** What the parts of resolve() share: the lookups, and what they record for the whole resolution. */
interface Ctx {
  r: Resolver;
  source: ContainerInfo;
  inv: Inventory;
  unresolved: Unresolved[];
  noteRef(name: string): void;
  viaUs(dest: ContainerInfo, family: Family): boolean;
}

/** The port a forward of the forwarded-port file takes now, or why it is down. */
function filePort(x: Ctx, f: ForwardSpec, spec: Spec): { port: number } | { reason: string } {
  const reading = x.inv.portFiles?.get(x.source.id);
  if (reading?.port === undefined) return { reason: reading?.problem ?? 'the forwarded-port file was not read yet' };
  const p = reading.port;
  const clash = spec.forwards.find((o) => !o.fromFile && o.proto === f.proto && o.iface === f.iface && o.port.lo <= p && p <= o.port.hi);
  if (clash) return { reason: `port ${p} from the forwarded-port file is already forwarded by ${clash.label}` };
  return { port: p };
}

function resolveForward(x: Ctx, f: ForwardSpec, spec: Spec): DesiredForward {
  const { r } = x;
  let port = f.port;
  let destPort = f.destPort;
  const fileState = f.fromFile && spec.portFile !== undefined ? { path: spec.portFile, ...x.inv.portFiles?.get(x.source.id) } : undefined;
  const portFile = fileState ? { portFile: fileState } : {};
  if (f.fromFile) {
    const fp = filePort(x, f, spec);
    if ('reason' in fp) {
      if (f.dest.kind === 'ref') x.noteRef(f.dest.name);
      return { label: f.label, iface: f.iface, proto: f.proto, port, destPort, dest: destText(f.dest), state: 'down', targets: [], reason: fp.reason, ...portFile };
    }
    port = { lo: fp.port, hi: fp.port };
    if (!f.fixedDestPort) destPort = port;
  }
  const base = { label: f.label, iface: f.iface, proto: f.proto, port, destPort, dest: destText(f.dest), ...portFile };
  const targets: ForwardTarget[] = [];
  if (f.dest.kind === 'ip') {
    const family = f.dest.family;
    const a = r.attachmentFor(f.dest.ip, family);
    const holder = r.holderOf(f.dest.ip, family);
    targets.push({ family, ip: f.dest.ip, ...(a?.iface ? { dev: a.iface } : {}), masquerade: !(holder && x.viaUs(holder, family)) });
    return { ...base, state: 'up', targets };
  }
  x.noteRef(f.dest.name);
  const families: Family[] = f.iface === 'lo' ? [4] : [4, 6];
  for (const family of families) {
    const m = r.lookup(f.dest.name, family);
    if (!m) continue;
    targets.push({ family, ip: m.ip, ...(m.src.iface ? { dev: m.src.iface } : {}), masquerade: !x.viaUs(m.c, family), via: peerOf(m) });
  }
  if (targets.length === 0) {
    const reason = r.whyNot(f.dest.name, 'forward destination');
    x.unresolved.push({ label: f.label, ref: f.dest.name, reason });
    return { ...base, state: 'down', targets, reason };
  }
  return { ...base, state: 'up', targets };
}

/**
 * A firewall rule with its references' addresses put in. The statements are
 * emitted here, not in plan/: the family a rule takes depends on the addresses
 * its references have, and one whose references share none is `down` like an
 * unresolved reference.
 */
function resolveRule(x: Ctx, rule: RuleSpec): DesiredRule {
  const { r } = x;
  const base = { label: rule.label, name: rule.name, chain: rule.chain };
  const parsed = rule.parsed;
  parsed.refs.forEach(x.noteRef);
  const addrs = new Map<string, { v4?: string; v6?: string }>();
  const failed: { ref: string; reason: string }[] = [];
  for (const ref of parsed.refs) {
    const v4 = r.lookup(ref, 4)?.ip;
    const v6 = r.lookup(ref, 6)?.ip;
    if (v4 || v6) addrs.set(ref, { ...(v4 ? { v4 } : {}), ...(v6 ? { v6 } : {}) });
    else failed.push({ ref, reason: r.whyNot(ref, 'rule address') });
  }
  if (failed.length > 0) {
    for (const f of failed) x.unresolved.push({ label: rule.label, ref: f.ref, reason: f.reason });
    return { ...base, state: 'down', reason: failed.map((f) => f.reason).join('; ') };
  }
  try {
    const t = translateRule(parsed, (ref) => addrs.get(ref));
    return { ...base, state: 'up', expr: t.expr, ...(t.comment !== undefined ? { comment: t.comment } : {}) };
  } catch (e) {
    return { ...base, state: 'down', reason: `cannot translate: ${(e as Error).message}` };
  }
}

/** Networks of one family with those inside another dropped (an nft interval set takes no overlaps). */
function outermost(cidrs: Cidr[]): string[] {
  return outermostCidrs(cidrs).map(cidrText).sort();
}

function resolveWhitelistSide(x: Ctx, side: WhitelistSide): DesiredWhitelistSide {
  const cidrs: Cidr[] = [];
  const down: string[] = [];
  for (const n of side.nets) {
    if (n.kind === 'cidr') {
      cidrs.push(n.cidr);
      continue;
    }
    x.noteRef(n.name);
    let any = false;
    for (const family of [4, 6] as const) {
      const ip = x.r.lookup(n.name, family)?.ip;
      const c = ip === undefined ? undefined : parseCidr(ip);
      if (c !== undefined && typeof c !== 'string') {
        cidrs.push(c);
        any = true;
      }
    }
    if (!any) {
      const reason = `${x.r.whyNot(n.name, 'rule address')}; it allows nothing until it resolves`;
      x.unresolved.push({ label: side.label, ref: n.name, reason });
      down.push(n.name);
    }
  }
  const out: DesiredWhitelistSide = { label: side.label, v4: outermost(cidrs.filter((c) => c.family === 4)), v6: outermost(cidrs.filter((c) => c.family === 6)) };
  return down.length > 0 ? { ...out, down } : out;
}

function resolveWhitelists(x: Ctx, spec: Spec): DesiredWhitelist[] {
  return (spec.whitelists ?? []).map((w) => ({
    ...(w.iface !== undefined ? { iface: w.iface } : {}),
    ...(w.from ? { from: resolveWhitelistSide(x, w.from) } : {}),
    ...(w.to ? { to: resolveWhitelistSide(x, w.to) } : {}),
  }));
}

/**
 * Docker's default route per family (restored when no label replaces it), and the reply path of
 * published ports: with routes of that family via a gateway (or its IPv6 blocked), replies to what
 * the host routes to a published port must still leave through Docker's gateway.
 */
function dockerPaths(source: ContainerInfo, spec: Spec, inv: Inventory): { dockerDefaults: DockerDefault[]; replyPaths: ReplyPath[] } {
  const ipv6Block = blocksIpv6(source, spec);
  const dockerDefaults: DockerDefault[] = [];
  const replyPaths: ReplyPath[] = [];
  const ports = publishedByProto(source);
  for (const family of [4, 6] as const) {
    const n = source.networks.find((a) => (family === 4 ? a.gatewayV4 : a.gatewayV6));
    const gw = n && (family === 4 ? n.gatewayV4 : n.gatewayV6);
    if (!n || !gw || ipFamily(gw) !== family) continue;
    dockerDefaults.push({ family, gateway: gw, ...(n.iface ? { dev: n.iface } : {}) });
    const own = addressOf(n, family);
    const len = family === 4 ? n.ipv4PrefixLen : n.ipv6PrefixLen;
    const bridgeMac = inv.bridgeMacs?.get(gw);
    const routed = spec.routes.some((rt) => rt.cidr.family === family) || (family === 6 && ipv6Block);
    if (n.iface && own && len !== undefined && bridgeMac && ports.length > 0 && routed) {
      replyPaths.push({ family, dev: n.iface, gateway: gw, subnet: `${bigToIp(ipToBig(own, family) & maskOf(len, family), family)}/${len}`, bridgeMac, ports });
    }
  }
  return { dockerDefaults, replyPaths };
}

/** Its IPv6 egress blocked: only with IPv6 addresses (without, the namespace may have IPv6 turned off). */
function blocksIpv6(source: ContainerInfo, spec: Spec): boolean {
  return spec.ipv6 === 'block' && source.networks.some((n) => n.ipv6);
}

function resolveHostRoute(source: ContainerInfo, h: Cidr): DesiredHostRoute {
  const n = source.networks.find((a) => addressOf(a, h.family));
  const via = n && addressOf(n, h.family);
  return via ? { family: h.family, dst: cidrText(h), via } : { family: h.family, dst: cidrText(h), reason: `${source.name} has no IPv${h.family} address` };
}

/** `specs` holds the other containers' labels, parsed (a planner shares one across the containers of a snapshot). */
export function resolve(source: ContainerInfo, spec: Spec, inv: Inventory, specs: SpecCache = new SpecCache()): Resolution {
  const r = new Resolver(source, inv);
  // Many forwards to one destination ask once.
  const allVia = new Map<string, boolean>();
  const deps = new Set<string>();
  const refs = new Set<string>();
  const x: Ctx = {
    r,
    source,
    inv,
    unresolved: [],
    noteRef: (name) => {
      refs.add(name);
      for (const c of r.namedBy(name)) deps.add(c.id);
    },
    viaUs: (dest, family) => {
      const k = `${dest.id}/${family}`;
      let v = allVia.get(k);
      if (v === undefined) allVia.set(k, (v = routesAllVia(dest, source, family, inv, specs)));
      return v;
    },
  };
  const routes: DesiredRoute[] = spec.routes.map((rt) => {
    if (rt.dest.kind === 'ref') x.noteRef(rt.dest.name);
    const res = resolveRoute(r, rt);
    if (res.unresolved) x.unresolved.push(res.unresolved);
    return res.route;
  });
  const forwards = spec.forwards.map((f) => resolveForward(x, f, spec));
  const rules = spec.rules.map((rule) => resolveRule(x, rule));
  const whitelists = resolveWhitelists(x, spec);
  const ipv6 = source.networks.some((n) => n.ipv6) || routes.some((rt) => rt.family === 6) || forwards.some((f) => f.targets.some((t) => t.family === 6));
  const desired: DesiredState = {
    container: { id: source.id, name: source.name, pid: source.pid },
    natInterfaces: spec.natInterfaces ?? [],
    // Meaningful for a NAT gateway only: off for every other container.
    killSwitch: spec.natInterfaces !== undefined && (spec.killSwitch ?? true),
    mss: spec.natInterfaces !== undefined ? (spec.mss ?? 'route') : 'off',
    ipv6,
    routes,
    forwards,
    rules,
    hostRoutes: spec.hostRoutes.map((h) => resolveHostRoute(source, h)),
    ...dockerPaths(source, spec, inv),
    ...(blocksIpv6(source, spec) ? { ipv6Block: true } : {}),
    warnings: spec.warnings,
    ...(whitelists.length > 0 ? { whitelists } : {}),
  };
  return { desired, deps: [...deps].sort(), refs: [...refs].sort(), unresolved: x.unresolved };
}
