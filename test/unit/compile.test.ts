// The compiler: desired state → Plan (routes, sysctls, table inet twine).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BASE_CHAINS, makeRule, type NftExpr } from '../../src/firewall/nft.js';
import { TWINE_CHAINS } from '../../src/iptables/chains.js';
import { RTPROT_BOOT, TWINE_RT_PROTO } from '../../src/netns/types.js';
import { compile, ifaceMatch } from '../../src/plan/compile.js';
import { explainText } from '../../src/plan/explain.js';
import type { DesiredForward, DesiredState } from '../../src/resolve/desired.js';

function desired(over: Partial<DesiredState> = {}): DesiredState {
  return {
    container: { id: 'id1', name: 'c1', pid: 42 },
    natInterfaces: [],
    killSwitch: true,
    mss: 'route',
    ipv6: false,
    routes: [],
    forwards: [],
    rules: [],
    hostRoutes: [],
    dockerDefaults: [{ family: 4, gateway: '172.17.0.1', dev: 'eth0' }],
    replyPaths: [],
    warnings: [],
    ...over,
  };
}

const fwd = (over: Partial<DesiredForward>): DesiredForward => ({
  label: 'twine.nat.forward.80',
  iface: '+',
  proto: 'tcp',
  port: { lo: 80, hi: 80 },
  destPort: { lo: 80, hi: 80 },
  dest: 'web',
  state: 'up',
  targets: [{ family: 4, ip: '10.0.0.5', dev: 'eth0', masquerade: true }],
  ...over,
});

test('nothing to do: no sysctls, no routes, empty table, Docker default kept for restoring', () => {
  const p = compile(desired());
  assert.deepEqual(p.container, { id: 'id1', name: 'c1', pid: 42 });
  assert.deepEqual(p.ns, { pid: 42 });
  assert.deepEqual(p.sysctls, []);
  assert.deepEqual(p.routes, []);
  assert.deepEqual(p.table, { chains: [] });
  assert.deepEqual(p.defaultRoutes, [{ family: 4, dst: '0.0.0.0/0', type: 'unicast', gateway: '172.17.0.1', dev: 'eth0', protocol: RTPROT_BOOT }]);
});

test('routes carry Twine protocol; down routes are unreachable', () => {
  const p = compile(
    desired({
      routes: [
        { label: 'l1', family: 4, dst: '0.0.0.0/0', dest: 'vpn', state: 'up', gateway: '10.0.0.2', dev: 'eth0' },
        { label: 'l2', family: 6, dst: '::/0', dest: 'vpn', state: 'down', reason: 'x' },
      ],
    }),
  );
  assert.deepEqual(p.routes, [
    { family: 4, dst: '0.0.0.0/0', type: 'unicast', gateway: '10.0.0.2', dev: 'eth0', protocol: TWINE_RT_PROTO },
    { family: 6, dst: '::/0', type: 'unreachable', protocol: TWINE_RT_PROTO },
  ]);
  assert.deepEqual(p.table.chains, []);
});

test('NAT interfaces: forwarding sysctls (IPv6 twin when IPv6 is involved) and masquerade per pattern', () => {
  const p = compile(desired({ natInterfaces: ['wg+', 'eth1', '+'], ipv6: true }));
  assert.deepEqual(p.sysctls, [
    { key: 'net.ipv4.ip_forward', value: '1' },
    { key: 'net.ipv6.conf.all.forwarding', value: '1' },
  ]);
  const post = p.table.chains.find((c) => c.name === 'POSTROUTING');
  assert.deepEqual(
    post?.rules.slice(1).map((r) => r.expr),
    [
      [{ match: { op: '==', left: { meta: { key: 'oifname' } }, right: 'wg*' } }, { masquerade: null }],
      [{ match: { op: '==', left: { meta: { key: 'oifname' } }, right: 'eth1' } }, { masquerade: null }],
      [{ masquerade: null }],
    ],
  );
});

test('table layout: six base chains jumping to their TWINE_* chain first, a NAT gateway\'s GATEWAY chain, then the six TWINE_* chains', () => {
  const p = compile(desired({ natInterfaces: ['wg+'] }));
  assert.deepEqual(
    p.table.chains.map((c) => c.name),
    [...BASE_CHAINS.map((b) => b.name), 'GATEWAY', ...TWINE_CHAINS],
  );
  assert.deepEqual(
    compile(desired({ forwards: [fwd({})] })).table.chains.map((c) => c.name),
    [...BASE_CHAINS.map((b) => b.name), ...TWINE_CHAINS],
  );
  for (const b of BASE_CHAINS) {
    const c = p.table.chains.find((x) => x.name === b.name);
    assert.deepEqual(c?.base, { type: b.type, hook: b.hook, prio: b.prio });
    assert.ok(Number.isInteger(c?.base?.prio));
    assert.deepEqual(c?.rules[0]?.expr, [{ jump: { target: b.jumpTo } }]);
    assert.match(c?.rules[0]?.comment ?? '', /^twine:[0-9a-f]{16}$/);
  }
  for (const n of TWINE_CHAINS) assert.equal(p.table.chains.find((x) => x.name === n)?.base, undefined);
});

test('forward on a normal interface: PREROUTING with iifname, OUTPUT_NAT without, masquerade toward the destination', () => {
  const p = compile(desired({ forwards: [fwd({ iface: 'wg+' })] }));
  const ch = (n: string) => p.table.chains.find((c) => c.name === n)?.rules.slice(1).map((r) => r.expr);
  const dnat = { dnat: { family: 'ip', addr: '10.0.0.5', port: 80 } };
  const fib = { match: { op: '==', left: { fib: { result: 'type', flags: ['daddr'] } }, right: 'local' } };
  const fam = { match: { op: '==', left: { meta: { key: 'nfproto' } }, right: 'ipv4' } };
  const dport = { match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 80 } };
  assert.deepEqual(ch('PREROUTING'), [[{ match: { op: '==', left: { meta: { key: 'iifname' } }, right: 'wg*' } }, fib, fam, dport, dnat]]);
  assert.deepEqual(ch('OUTPUT_NAT'), [[fib, fam, dport, dnat]]);
  assert.deepEqual(ch('POSTROUTING'), [
    [
      { match: { op: 'in', left: { ct: { key: 'status' } }, right: 'dnat' } },
      { match: { op: '==', left: { meta: { key: 'oifname' } }, right: 'eth0' } },
      { match: { op: '==', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: '10.0.0.5' } },
      dport,
      { masquerade: null },
    ],
  ]);
  assert.deepEqual(p.sysctls, [{ key: 'net.ipv4.ip_forward', value: '1' }]);
  // Keeping the client address: no masquerade rule at all.
  const keep = compile(desired({ forwards: [fwd({ targets: [{ family: 4, ip: '10.0.0.5', masquerade: false }] })] }));
  assert.equal(keep.table.chains.find((c) => c.name === 'POSTROUTING')?.rules.length, 1);
});

test('forward on lo: route_localnet, OUTPUT_NAT on 127.0.0.0/8, one loopback masquerade for all', () => {
  const p = compile(
    desired({
      forwards: [
        fwd({ label: 'a', iface: 'lo', proto: 'udp', port: { lo: 5353, hi: 5353 }, destPort: { lo: 5353, hi: 5353 } }),
        fwd({ label: 'b', iface: 'lo', port: { lo: 8080, hi: 8080 }, destPort: { lo: 80, hi: 80 } }),
      ],
    }),
  );
  assert.deepEqual(p.sysctls, [{ key: 'net.ipv4.conf.all.route_localnet', value: '1' }]);
  assert.equal(p.table.chains.find((c) => c.name === 'PREROUTING')?.rules.length, 1);
  const out = p.table.chains.find((c) => c.name === 'OUTPUT_NAT')?.rules.slice(1) ?? [];
  assert.equal(out.length, 2);
  assert.deepEqual(out[1]?.expr.at(-1), { dnat: { family: 'ip', addr: '10.0.0.5', port: 80 } });
  const post = p.table.chains.find((c) => c.name === 'POSTROUTING')?.rules.slice(1) ?? [];
  assert.equal(post.length, 1);
  assert.deepEqual(post[0]?.expr[0], {
    match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: { prefix: { addr: '127.0.0.0', len: 8 } } },
  });
});

test('IPv6 forwards use dnat ip6 and the IPv6 forwarding sysctl', () => {
  const p = compile(desired({ forwards: [fwd({ targets: [{ family: 6, ip: 'fd00::5', masquerade: true }] })] }));
  const pre = p.table.chains.find((c) => c.name === 'PREROUTING')?.rules[1]?.expr;
  assert.deepEqual(pre?.at(-1), { dnat: { family: 'ip6', addr: 'fd00::5', port: 80 } });
  assert.deepEqual(p.sysctls, [{ key: 'net.ipv6.conf.all.forwarding', value: '1' }]);
});

test('port ranges: same numbers → one range rule; shifted → one rule per port', () => {
  const same = compile(desired({ forwards: [fwd({ port: { lo: 8000, hi: 8010 }, destPort: { lo: 8000, hi: 8010 } })] }));
  const pre = same.table.chains.find((c) => c.name === 'PREROUTING')?.rules.slice(1) ?? [];
  assert.equal(pre.length, 1);
  assert.deepEqual(pre[0]?.expr.at(-1), { dnat: { family: 'ip', addr: '10.0.0.5', port: { range: [8000, 8010] } } });
  const shifted = compile(desired({ forwards: [fwd({ port: { lo: 9000, hi: 9002 }, destPort: { lo: 7000, hi: 7002 } })] }));
  const pre2 = shifted.table.chains.find((c) => c.name === 'PREROUTING')?.rules.slice(1) ?? [];
  assert.deepEqual(
    pre2.map((r) => r.expr.at(-1)?.dnat?.port),
    [7000, 7001, 7002],
  );
});

test('down forwards are left out; custom rules go to their chain in order with the user comment', () => {
  const p = compile(
    desired({
      forwards: [fwd({ state: 'down', targets: [], reason: 'x' })],
      rules: [
        { label: 'twine.iptables.rule.a', name: 'a', chain: 'TWINE_INPUT', state: 'up', expr: [{ accept: null }], comment: 'hello' },
        { label: 'twine.iptables.rule.b', name: 'b', chain: 'TWINE_INPUT', state: 'up', expr: [{ drop: null }] },
        { label: 'twine.iptables.rule.c', name: 'c', chain: 'TWINE_OUTPUT', state: 'down', reason: 'y' },
      ],
    }),
  );
  const input = p.table.chains.find((c) => c.name === 'TWINE_INPUT')?.rules ?? [];
  assert.deepEqual(input.map((r) => r.expr), [[{ accept: null }], [{ drop: null }]]);
  assert.match(input[0]?.comment ?? '', /^twine:[0-9a-f]{16} hello$/);
  assert.match(input[1]?.comment ?? '', / twine\.iptables\.rule\.b$/);
  assert.deepEqual(p.table.chains.find((c) => c.name === 'TWINE_OUTPUT')?.rules, []);
  assert.equal(p.table.chains.find((c) => c.name === 'PREROUTING')?.rules.length, 1);
});

test('host routes via the container, Twine protocol; compile is deterministic', () => {
  const d = desired({
    hostRoutes: [
      { family: 4, dst: '10.8.0.0/24', via: '172.17.0.2' },
      { family: 6, dst: 'fd08::/64', reason: 'no v6' },
    ],
    natInterfaces: ['wg+'],
  });
  const p = compile(d);
  assert.deepEqual(p.hostRoutes, [{ family: 4, dst: '10.8.0.0/24', type: 'unicast', gateway: '172.17.0.2', protocol: TWINE_RT_PROTO }]);
  assert.deepEqual(compile(d), p);
  const text = explainText({ desired: d, deps: [], refs: [], unresolved: [] }, p);
  assert.match(text, /10\.8\.0\.0\/24 via 172\.17\.0\.2 proto 74/);
  assert.match(text, /oifname "wg\*" masquerade/);
});

test('containers with the same table share one frozen table; rules are shared and the caller\'s expressions left alone', () => {
  const rule = (expr: NftExpr[], comment?: string) => ({ label: 'twine.iptables.rule.a', name: 'a', chain: 'TWINE_INPUT' as const, state: 'up' as const, expr, ...(comment ? { comment } : {}) });
  const expr: NftExpr[] = [{ match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 22 } }, { accept: null }];
  const a = compile(desired({ container: { id: 'a', name: 'a', pid: 1 }, rules: [rule(expr)], natInterfaces: ['wg+'] }));
  const b = compile(desired({ container: { id: 'b', name: 'b', pid: 2 }, rules: [rule(structuredClone(expr))], natInterfaces: ['wg+'] }));
  assert.equal(a.table, b.table);
  assert.ok(Object.isFrozen(a.table) && Object.isFrozen(a.table.chains[0]!.rules[0]!.expr[0]));
  assert.throws(() => (a.table.chains as unknown[]).push({}), TypeError);
  assert.ok(!Object.isFrozen(expr) && !Object.isFrozen(expr[0]), 'the label\'s parsed rule is not frozen');
  // Anything different is a table of its own: a rule, its comment, a chain.
  const c = compile(desired({ rules: [rule(expr, 'ssh')], natInterfaces: ['wg+'] }));
  const d = compile(desired({ rules: [rule([{ drop: null }])], natInterfaces: ['wg+'] }));
  const e = compile(desired({ rules: [rule(expr)], natInterfaces: ['wg+'], killSwitch: false }));
  assert.equal(new Set([a.table, c.table, d.table, e.table]).size, 4);
  assert.notEqual(JSON.stringify(a.table), JSON.stringify(c.table));
  // One rule object per chain, expression and note.
  assert.equal(makeRule('TWINE_INPUT', expr, 'x'), makeRule('TWINE_INPUT', structuredClone(expr), 'x'));
  assert.notEqual(makeRule('TWINE_INPUT', expr, 'x'), makeRule('TWINE_INPUT', expr, 'y'));
  assert.notEqual(makeRule('TWINE_INPUT', expr), makeRule('TWINE_OUTPUT', expr));
  assert.equal(makeRule('TWINE_INPUT', expr, 'x').comment.split(' ')[0], makeRule('TWINE_INPUT', expr, 'y').comment.split(' ')[0]);
});

test('iptables pattern to nft name match', () => {
  assert.equal(ifaceMatch('oifname', '+'), undefined);
  assert.equal(ifaceMatch('oifname', 'wg+')?.match.right, 'wg*');
  assert.equal(ifaceMatch('iifname', 'eth0.100')?.match.right, 'eth0.100');
});

test('NAT gateway: MSS clamp to the route MTU per pattern, then the kill switch counting into its named counter', () => {
  const p = compile(desired({ natInterfaces: ['wg+', 'tun0'] }));
  const gw = p.table.chains.find((c) => c.name === 'GATEWAY');
  assert.deepEqual(gw?.base, { type: 'filter', hook: 'forward', prio: -2 });
  const syn = { match: { op: '==', left: { '&': [{ payload: { protocol: 'tcp', field: 'flags' } }, ['syn', 'rst']] }, right: 'syn' } };
  const clamp = (value: unknown) => ({ mangle: { key: { 'tcp option': { name: 'maxseg', field: 'size' } }, value } });
  const m = (op: string, key: string, right: string) => ({ match: { op, left: { meta: { key } }, right } });
  assert.deepEqual(
    gw?.rules.map((r) => r.expr),
    [
      [m('==', 'oifname', 'wg*'), syn, clamp({ rt: { key: 'mtu' } })],
      [m('==', 'oifname', 'tun0'), syn, clamp({ rt: { key: 'mtu' } })],
      [
        m('!=', 'iifname', 'wg*'),
        m('!=', 'iifname', 'tun0'),
        m('!=', 'oifname', 'wg*'),
        m('!=', 'oifname', 'tun0'),
        { match: { op: '!', left: { ct: { key: 'status' } }, right: 'dnat' } },
        { counter: 'killswitch' },
        { drop: null },
      ],
    ],
  );
  assert.deepEqual(p.table.counters, ['killswitch']);
});

test('NAT gateway: twine.nat.mss=<bytes> clamps to it, off and killswitch off leave no GATEWAY chain; "+" has no kill switch', () => {
  const fixed = compile(desired({ natInterfaces: ['wg+'], mss: 1200, killSwitch: false }));
  const gw = fixed.table.chains.find((c) => c.name === 'GATEWAY');
  assert.equal(gw?.rules.length, 1);
  assert.deepEqual(gw?.rules[0]?.expr.at(-1), { mangle: { key: { 'tcp option': { name: 'maxseg', field: 'size' } }, value: 1200 } });
  assert.equal(fixed.table.counters, undefined);
  const none = compile(desired({ natInterfaces: ['wg+'], mss: 'off', killSwitch: false }));
  assert.equal(none.table.chains.find((c) => c.name === 'GATEWAY'), undefined);
  const any = compile(desired({ natInterfaces: ['+'], mss: 'off' }));
  assert.equal(any.table.chains.find((c) => c.name === 'GATEWAY'), undefined);
});

test('reply mark: only what the host routes (the bridge\'s MAC), from off the subnet, to a published port, one rule per protocol', () => {
  const p = compile(
    desired({
      routes: [{ label: 'twine.route.0.0.0.0/0', family: 4, dst: '0.0.0.0/0', dest: 'gw', state: 'up', gateway: '172.17.0.5', dev: 'eth0' }],
      replyPaths: [{ family: 4, dev: 'eth0', gateway: '172.17.0.1', subnet: '172.17.0.0/16', bridgeMac: '02:42:aa:bb:cc:01', ports: [{ proto: 'tcp', ports: [8080, 8443] }, { proto: 'udp', ports: [53] }] }],
    }),
  );
  const mark = p.table.chains.find((c) => c.name === 'REPLY_MARK');
  assert.ok(mark, 'a REPLY_MARK chain');
  assert.equal(mark.rules.length, 2);
  const text = mark.rules.map((r) => JSON.stringify(r.expr));
  for (const t of text) {
    assert.ok(t.includes('{"match":{"op":"==","left":{"payload":{"protocol":"ether","field":"saddr"}},"right":"02:42:aa:bb:cc:01"}}'), t);
    assert.ok(t.includes('{"match":{"op":"!=","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":{"prefix":{"addr":"172.17.0.0","len":16}}}}'), t);
    assert.ok(t.includes('"iifname"'), t);
  }
  assert.ok(text[0]!.includes('{"payload":{"protocol":"tcp","field":"dport"}},"right":{"set":[8080,8443]}'), text[0]);
  assert.ok(text[1]!.includes('{"payload":{"protocol":"udp","field":"dport"}},"right":53}'), text[1]);
  // Nothing of "any new connection from off the subnet": every rule names the MAC and the ports.
  assert.ok(text.every((t) => t.includes('dport') && t.includes('ether')));
  assert.equal(p.rules?.length, 1, 'one policy rule to table 7474');
});
