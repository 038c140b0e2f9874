// desired state → Plan (ARCHITECTURE.md, "Kernel recipes"). Pure: the same desired state always
// compiles to the same plan, rule for rule, so the applier can diff by the
// identity comments makeRule() puts on every rule.
//
// Decisions where the recipes are silent:
// - IP forwarding (net.ipv4.ip_forward, and net.ipv6.conf.all.forwarding when
//   IPv6 is involved) is turned on for twine.nat.interfaces AND for forwards
//   on normal interfaces (a DNAT'ed packet from another interface must be
//   forwarded). Forwards on lo need only route_localnet.
// - The pattern "+" (any interface; also the default of a forward without a
//   pattern) compiles to no interface match at all.
// - A forward's masquerade rule is specific to that forward (ct status dnat,
//   oifname when known, daddr, proto, dport) so a forward that keeps client
//   addresses is not masqueraded by a neighbour's rule.
// - A port range forwarded to the same numbers is one rule (netfilter keeps a
//   port that lies inside the NAT range); a range shifted to other numbers is
//   one rule per port (at most MAX_SHIFTED_RANGE, checked by the parser).
// - Forwards and rules whose destination is down are left out; routes whose
//   gateway is down become `unreachable` (kill switch).
// - With no firewall content at all the table is empty (chains: []).
// - A NAT gateway gets the GATEWAY chain (forward hook, before FORWARD): TCP
//   SYNs leaving through a nat interface have their MSS clamped (to the route's
//   MTU, or twine.nat.mss), and the kill switch drops, into a named counter,
//   every forwarded packet that neither arrives nor leaves through a nat
//   interface, except connections DNAT'ed by a forward (and their replies). A
//   dependent's traffic can then only leave through the tunnel: when the tunnel
//   is gone, the gateway's routing falls back to Docker's default route and the
//   kill switch drops what would leak. A pattern "+" matches every interface:
//   no kill switch then.
//
// Each rule built here has the nft text it lists as beside it (`nft list
// table inet twine`, addresses from the golden scenarios).

import { BASE_CHAINS, GATEWAY_CHAIN, KILLSWITCH_COUNTER, WHITELIST_COUNTER, REPLY_MARK_CHAIN, REPLY_ROUTE_CHAIN, internTable, makeRule, type ChainDef, type NftExpr, type RuleDef, type TableDef } from '../firewall/nft.js';
import type { PortRange } from '../labels/spec.js';
import { TWINE_CHAINS } from '../iptables/chains.js';
import { RTPROT_BOOT, TWINE_REPLY_MARK, TWINE_REPLY_TABLE, TWINE_RT_PROTO, TWINE_RULE_PRIORITY, type Route, type Rule } from '../netns/types.js';
import type { Family } from '../net/ip.js';
import type { DesiredForward, DesiredRoute, DesiredState, DesiredWhitelist, ForwardTarget } from '../resolve/desired.js';
import { RuleLimitError, type LabelRules } from '../errors.js';
import type { Plan, SysctlSetting } from './types.js';

const nfproto = (f: Family) => (f === 4 ? 'ipv4' : 'ipv6');
const ipProto = (f: Family) => (f === 4 ? 'ip' : 'ip6');

/** iptables pattern → nft name match ("wg+" → "wg*"); undefined for "+" (no match at all). */
export function ifaceMatch(key: 'iifname' | 'oifname', pat: string): NftExpr | undefined {
  if (pat === '+') return undefined;
  const right = pat.endsWith('+') ? `${pat.slice(0, -1)}*` : pat;
  return { match: { op: '==', left: { meta: { key } }, right } };
}

function portValue(p: PortRange): number | { range: [number, number] } {
  return p.lo === p.hi ? p.lo : { range: [p.lo, p.hi] };
}

const eq = (left: NftExpr, right: unknown): NftExpr => ({ match: { op: '==', left, right } });
const fibLocal: NftExpr = eq({ fib: { result: 'type', flags: ['daddr'] } }, 'local');
const ctDnat: NftExpr = { match: { op: 'in', left: { ct: { key: 'status' } }, right: 'dnat' } };
const loopback4: NftExpr = { prefix: { addr: '127.0.0.0', len: 8 } };

/** [sport→dport] pairs: one for an unshifted range, one per port for a shifted one. */
function portPairs(f: DesiredForward): [PortRange, PortRange][] {
  if (f.port.lo === f.destPort.lo) return [[f.port, f.destPort]];
  const out: [PortRange, PortRange][] = [];
  for (let i = 0; i <= f.port.hi - f.port.lo; i++) {
    out.push([
      { lo: f.port.lo + i, hi: f.port.lo + i },
      { lo: f.destPort.lo + i, hi: f.destPort.lo + i },
    ]);
  }
  return out;
}

/**
 * At most how many rules each label compiles to (before identical rules are
 * merged), from arithmetic alone: for the error message of RuleLimitError.
 */
export function ruleBounds(d: DesiredState): LabelRules[] {
  const out: LabelRules[] = [];
  if (d.natInterfaces.length > 0) out.push({ label: 'twine.nat.interfaces', rules: d.natInterfaces.length });
  for (const f of d.forwards) {
    if (f.state !== 'up') continue;
    const pairs = f.port.lo === f.destPort.lo ? 1 : f.port.hi - f.port.lo + 1;
    out.push({ label: f.label, rules: f.targets.length * (f.iface === 'lo' ? pairs + 1 : 2 * pairs + 1) });
  }
  for (const r of d.rules) if (r.state === 'up' && r.expr) out.push({ label: r.label, rules: 1 });
  return out.sort((a, b) => b.rules - a.rules || (a.label < b.label ? -1 : 1));
}

class Rules {
  readonly byChain = new Map<string, RuleDef[]>();
  private readonly seen = new Set<string>();
  constructor(
    private readonly max: number,
    /** Called instead of adding a rule beyond `max`; it throws. */
    private readonly onOverflow: () => never,
  ) {}
  add(chain: string, expr: NftExpr[], note?: string): void {
    const rule = makeRule(chain, expr, note);
    const id = `${chain}\0${rule.comment.split(' ')[0]}`;
    if (this.seen.has(id)) return; // the same rule twice (e.g. the lo masquerade) is one rule
    if (this.seen.size >= this.max) this.onOverflow();
    this.seen.add(id);
    const list = this.byChain.get(chain) ?? [];
    list.push(rule);
    this.byChain.set(chain, list);
  }
  get size(): number {
    return this.seen.size;
  }
}

function compileForward(out: Rules, f: DesiredForward, t: ForwardTarget): void {
  const l4 = (p: PortRange): NftExpr => eq({ payload: { protocol: f.proto, field: 'dport' } }, portValue(p));
  const fam = eq({ meta: { key: 'nfproto' } }, nfproto(t.family));
  for (const [sp, dp] of portPairs(f)) {
    const dnat: NftExpr = { dnat: { family: ipProto(t.family), addr: t.ip, port: portValue(dp) } };
    if (f.iface === 'lo') {
      // ip daddr 127.0.0.0/8 udp dport 5353 dnat ip to 172.31.0.3:5353
      out.add('OUTPUT_NAT', [eq({ payload: { protocol: 'ip', field: 'daddr' } }, loopback4), l4(sp), dnat], f.label);
      continue;
    }
    const iif = ifaceMatch('iifname', f.iface);
    // iifname "wg*" fib daddr type local meta nfproto ipv4 tcp dport 9080 dnat ip to 172.30.0.3:9080
    out.add('PREROUTING', [...(iif ? [iif] : []), fibLocal, fam, l4(sp), dnat], f.label);
    // The same for connections the container makes to its own address:
    // fib daddr type local meta nfproto ipv4 tcp dport 9080 dnat ip to 172.30.0.3:9080
    out.add('OUTPUT_NAT', [fibLocal, fam, l4(sp), dnat], f.label);
  }
  if (f.iface === 'lo') {
    // ip saddr 127.0.0.0/8 ct status dnat masquerade
    out.add('POSTROUTING', [eq({ payload: { protocol: 'ip', field: 'saddr' } }, loopback4), ctDnat, { masquerade: null }], 'twine.nat.forward (lo)');
  } else if (t.masquerade) {
    const oif = t.dev ? [eq({ meta: { key: 'oifname' } }, t.dev)] : [];
    // ct status dnat oifname "eth1" ip daddr 10.60.0.3 tcp dport 22 masquerade
    out.add(
      'POSTROUTING',
      [
        ctDnat,
        ...oif,
        eq({ payload: { protocol: ipProto(t.family), field: 'daddr' } }, t.ip),
        eq({ payload: { protocol: f.proto, field: 'dport' } }, portValue(f.destPort)),
        { masquerade: null },
      ],
      f.label,
    );
  }
}

function sysctlsOf(d: DesiredState): SysctlSetting[] {
  const s = new Map<string, string>();
  const forward = (f: Family) => s.set(f === 4 ? 'net.ipv4.ip_forward' : 'net.ipv6.conf.all.forwarding', '1');
  if (d.natInterfaces.length > 0) {
    forward(4);
    if (d.ipv6) forward(6);
  }
  for (const f of d.forwards) {
    if (f.state !== 'up') continue;
    if (f.iface === 'lo') s.set('net.ipv4.conf.all.route_localnet', '1');
    else for (const t of f.targets) forward(t.family);
  }
  return [...s.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, value]) => ({ key, value }));
}

/** twine.ipv6=block: on-link and link-local routes are more specific and stay. */
const IPV6_BLOCK: Route = { family: 6, dst: '::/0', type: 'unreachable', protocol: TWINE_RT_PROTO };

/** Routes in kernel terms: a gateway that is down makes its route `unreachable` (kill switch). */
export function compileRoutes(routes: readonly DesiredRoute[]): Route[] {
  return routes.map((r): Route => {
    if (r.state === 'up' && r.gateway) {
      return { family: r.family, dst: r.dst, type: 'unicast', gateway: r.gateway, ...(r.dev ? { dev: r.dev } : {}), protocol: TWINE_RT_PROTO };
    }
    return { family: r.family, dst: r.dst, type: 'unreachable', protocol: TWINE_RT_PROTO };
  });
}

const synOnly: NftExpr = eq({ '&': [{ payload: { protocol: 'tcp', field: 'flags' } }, ['syn', 'rst']] }, 'syn');
const notDnat: NftExpr = { match: { op: '!', left: { ct: { key: 'status' } }, right: 'dnat' } };

/** The GATEWAY chain's rules of a NAT gateway: MSS clamps, then the kill switch. */
function gatewayRules(d: DesiredState): { rules: RuleDef[]; counters: string[] } {
  const rules: RuleDef[] = [];
  const counters: string[] = [];
  const pats = d.natInterfaces;
  if (pats.length === 0) return { rules, counters };
  if (d.mss !== 'off') {
    const value = d.mss === 'route' ? { rt: { key: 'mtu' } } : d.mss;
    for (const pat of pats) {
      const oif = ifaceMatch('oifname', pat);
      const clamp = { mangle: { key: { 'tcp option': { name: 'maxseg', field: 'size' } }, value } };
      // oifname "wg*" tcp flags syn / syn,rst tcp option maxseg size set rt mtu
      rules.push(makeRule(GATEWAY_CHAIN.name, [...(oif ? [oif] : []), synOnly, clamp], 'twine.nat.mss'));
    }
  }
  if (d.killSwitch && !pats.includes('+')) {
    const not = (key: 'iifname' | 'oifname'): NftExpr[] =>
      pats.map((p) => ({ match: { ...(ifaceMatch(key, p)!.match as NftExpr), op: '!=' } }));
    // iifname != "wg*" oifname != "wg*" ct status ! dnat counter name "killswitch" drop
    rules.push(makeRule(GATEWAY_CHAIN.name, [...not('iifname'), ...not('oifname'), notDnat, { counter: KILLSWITCH_COUNTER }, { drop: null }], 'twine.nat.killswitch'));
    counters.push(KILLSWITCH_COUNTER);
  }
  const allow = (d.whitelists ?? []).flatMap((w) => whitelistRules(w, pats));
  if (allow.length > 0) {
    rules.push(...allow);
    counters.push(WHITELIST_COUNTER);
  }
  return { rules, counters };
}

const ctOriginal: NftExpr = eq({ ct: { key: 'direction' } }, 'original');

/** An anonymous set of networks ("10.0.0.0/8", "fd00::1/128") for a match. */
function netSet(nets: readonly string[]): { set: (string | { prefix: { addr: string; len: number } })[] } {
  return {
    set: nets.map((n) => {
      const [addr = '', len = ''] = n.split('/');
      const full = addr.includes(':') ? 128 : 32;
      return Number(len) === full ? addr : { prefix: { addr, len: Number(len) } };
    }),
  };
}

/**
 * A whitelist's drops: a packet forwarded out of an interface it covers, in a
 * connection's original direction and not DNAT'ed by a forward, is dropped
 * when its source (from) or destination (to) is not listed. A side with no
 * network of a family drops that whole family. Replies pass: their connection
 * was let through in its original direction.
 */
function whitelistRules(w: DesiredWhitelist, nat: readonly string[]): RuleDef[] {
  const out: RuleDef[] = [];
  const oifs = (w.iface !== undefined ? [w.iface] : nat).map((p) => ifaceMatch('oifname', p));
  for (const [side, field] of [
    [w.from, 'saddr'],
    [w.to, 'daddr'],
  ] as const) {
    if (!side) continue;
    for (const family of [4, 6] as const) {
      const nets = family === 4 ? side.v4 : side.v6;
      const notListed: NftExpr[] = nets.length > 0 ? [{ match: { op: '!=', left: { payload: { protocol: ipProto(family), field } }, right: netSet(nets) } }] : [];
      for (const oif of oifs) {
        const expr: NftExpr[] = [...(oif ? [oif] : []), eq({ meta: { key: 'nfproto' } }, nfproto(family)), ctOriginal, notDnat, ...notListed, { counter: WHITELIST_COUNTER }, { drop: null }];
        out.push(makeRule(GATEWAY_CHAIN.name, expr, side.label));
      }
    }
  }
  return out;
}

const ctMark: NftExpr = { ct: { key: 'mark' } };
const metaMark: NftExpr = { meta: { key: 'mark' } };

/** REPLY_MARK and REPLY_ROUTE rules for the container's reply paths. */
function replyRules(d: DesiredState): { mark: RuleDef[]; route: RuleDef[] } {
  const mark: RuleDef[] = [];
  const route: RuleDef[] = [];
  for (const p of d.replyPaths) {
    const [addr, len] = p.subnet.split('/');
    // Only what the host routed (the bridge's MAC), from off the subnet, to a published port:
    // iifname "eth0" ether saddr 02:42:8e:00:00:01 meta nfproto ipv4 ip saddr != 172.30.0.0/24 tcp dport { 80, 443 } ct state new ct mark set ct mark | 0x20000000
    for (const { proto, ports } of p.ports) {
      mark.push(
        makeRule(
          REPLY_MARK_CHAIN.name,
          [
            eq({ meta: { key: 'iifname' } }, p.dev),
            eq({ payload: { protocol: 'ether', field: 'saddr' } }, p.bridgeMac),
            eq({ meta: { key: 'nfproto' } }, nfproto(p.family)),
            { match: { op: '!=', left: { payload: { protocol: ipProto(p.family), field: 'saddr' } }, right: { prefix: { addr, len: Number(len) } } } },
            eq({ payload: { protocol: proto, field: 'dport' } }, ports.length === 1 ? ports[0] : { set: ports }),
            { match: { op: 'in', left: { ct: { key: 'state' } }, right: 'new' } },
            { mangle: { key: ctMark, value: { '|': [ctMark, TWINE_REPLY_MARK] } } },
          ],
          `published ports: replies via Docker (${proto})`,
        ),
      );
    }
  }
  if (mark.length > 0) {
    // ct mark & 0x20000000 == 0x20000000 meta mark set meta mark | 0x20000000
    route.push(
      makeRule(REPLY_ROUTE_CHAIN.name, [eq({ '&': [ctMark, TWINE_REPLY_MARK] }, TWINE_REPLY_MARK), { mangle: { key: metaMark, value: { '|': [metaMark, TWINE_REPLY_MARK] } } }], 'published ports: replies via Docker'),
    );
  }
  return { mark, route };
}

function replyRoutes(d: DesiredState): Route[] {
  return d.replyPaths.map((p) => ({
    family: p.family,
    dst: p.family === 4 ? '0.0.0.0/0' : '::/0',
    type: 'unicast',
    gateway: p.gateway,
    dev: p.dev,
    table: TWINE_REPLY_TABLE,
    protocol: TWINE_RT_PROTO,
  }));
}

function policyRules(d: DesiredState): Rule[] {
  return d.replyPaths.map((p) => ({
    family: p.family,
    priority: TWINE_RULE_PRIORITY,
    table: TWINE_REPLY_TABLE,
    fwmark: TWINE_REPLY_MARK,
    fwmask: TWINE_REPLY_MARK,
    protocol: TWINE_RT_PROTO,
  }));
}

function tableOf(d: DesiredState, maxRules: number): TableDef {
  const rules = new Rules(maxRules, () => {
    throw new RuleLimitError(maxRules, ruleBounds(d));
  });
  for (const pat of d.natInterfaces) {
    const oif = ifaceMatch('oifname', pat);
    // oifname "wg*" masquerade
    rules.add('POSTROUTING', [...(oif ? [oif] : []), { masquerade: null }], 'twine.nat.interfaces');
  }
  for (const f of d.forwards) {
    if (f.state !== 'up') continue;
    for (const t of f.targets) compileForward(rules, f, t);
  }
  // The users' twine.iptables.rule.* labels, translated (firewall/iptables/translate.ts), e.g.
  // ip saddr 10.0.0.0/8 tcp dport 22 accept
  for (const r of d.rules) {
    if (r.state !== 'up' || !r.expr) continue;
    rules.add(r.chain, r.expr, r.comment ?? r.label);
  }
  const gw = gatewayRules(d);
  const reply = replyRules(d);
  if (rules.size === 0 && gw.rules.length === 0 && reply.mark.length === 0) return internTable({ chains: [] });
  const chains: ChainDef[] = BASE_CHAINS.map((b) => ({
    name: b.name,
    base: { type: b.type, hook: b.hook, prio: b.prio },
    // jump TWINE_INPUT (the users' rules first), then Twine's own
    rules: [makeRule(b.name, [{ jump: { target: b.jumpTo } }]), ...(rules.byChain.get(b.name) ?? [])],
  }));
  const own = (c: Omit<(typeof BASE_CHAINS)[number], 'jumpTo'>, list: RuleDef[]): void => {
    if (list.length > 0) chains.push({ name: c.name, base: { type: c.type, hook: c.hook, prio: c.prio }, rules: list });
  };
  own(GATEWAY_CHAIN, gw.rules);
  own(REPLY_MARK_CHAIN, reply.mark);
  own(REPLY_ROUTE_CHAIN, reply.route);
  for (const c of TWINE_CHAINS) chains.push({ name: c, rules: rules.byChain.get(c) ?? [] });
  return internTable(gw.counters.length > 0 ? { chains, counters: gw.counters } : { chains });
}

/** Throws RuleLimitError when the firewall rules would be more than `maxRules`. */
export function compile(d: DesiredState, maxRules = Infinity): Plan {
  return {
    container: { ...d.container },
    ns: { pid: d.container.pid },
    sysctls: sysctlsOf(d),
    routes: [...compileRoutes(d.routes), ...(d.ipv6Block ? [IPV6_BLOCK] : []), ...replyRoutes(d)],
    rules: policyRules(d),
    defaultRoutes: d.dockerDefaults.map((g) => ({
      family: g.family,
      dst: g.family === 4 ? '0.0.0.0/0' : '::/0',
      type: 'unicast',
      gateway: g.gateway,
      ...(g.dev ? { dev: g.dev } : {}),
      protocol: RTPROT_BOOT,
    })),
    table: tableOf(d, maxRules),
    hostRoutes: d.hostRoutes
      .filter((h) => h.via)
      .map((h) => ({ family: h.family, dst: h.dst, type: 'unicast', gateway: h.via, protocol: TWINE_RT_PROTO })),
  };
}
