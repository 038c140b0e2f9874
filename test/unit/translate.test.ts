// Unit tests of the iptables translator: tokenize, parse (errors name the
// option), chain/target rules, families, references, and the emitted JSON.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { translateRule, type RefResolver } from '../../src/firewall/iptables/translate.js';
import { parseRule } from '../../src/iptables/rule.js';
import { tokenize } from '../../src/iptables/tokenize.js';
import type { TwineChain } from '../../src/iptables/chains.js';
import type { NftExpr } from '../../src/firewall/nft.js';
import { TokenizeError, UnresolvedRefError } from '../../src/errors.js';

function ok(chain: TwineChain, opts: string, resolve: RefResolver = () => undefined) {
  const p = parseRule(chain, tokenize(opts));
  if ('errors' in p) assert.fail(`unexpected errors: ${p.errors.join('; ')}`);
  return { parsed: p.rule, ...translateRule(p.rule, resolve) };
}
function errs(chain: TwineChain, opts: string): string[] {
  const p = parseRule(chain, tokenize(opts));
  assert.ok('errors' in p, `expected errors for ${opts}`);
  return p.errors;
}
const m = (left: NftExpr, right: unknown, op = '=='): NftExpr => ({ match: { op, left, right } });
const V4 = m({ meta: { key: 'nfproto' } }, 'ipv4');
const V6 = m({ meta: { key: 'nfproto' } }, 'ipv6');
const pl = (protocol: string, field: string) => ({ payload: { protocol, field } });

describe('tokenize', () => {
  test('splits on whitespace and honours quotes and escapes', () => {
    assert.deepEqual(tokenize('  -m comment  --comment "a b"  -j ACCEPT '), ['-m', 'comment', '--comment', 'a b', '-j', 'ACCEPT']);
    assert.deepEqual(tokenize(`--log-prefix 'it"s '`), ['--log-prefix', 'it"s ']);
    assert.deepEqual(tokenize('a"b c"d \'\' "x\\"y\\\\"'), ['ab cd', '', 'x"y\\']);
    assert.deepEqual(tokenize('a\\ b'), ['a b']);
    assert.deepEqual(tokenize('$(rm -rf /) `id` ; |'), ['$(rm', '-rf', '/)', '`id`', ';', '|']);
    assert.deepEqual(tokenize(''), []);
  });
  test('unterminated quotes are a TokenizeError', () => {
    assert.throws(() => tokenize('--comment "abc'), TokenizeError);
    assert.throws(() => tokenize("--comment 'abc"), TokenizeError);
    assert.throws(() => tokenize('abc\\'), TokenizeError);
  });
});

describe('translate: matches', () => {
  test('-s/-d with CIDR, netmask, canonical network, negation and /0', () => {
    assert.deepEqual(ok('TWINE_INPUT', '-s 10.1.2.3/8 -j ACCEPT').expr, [V4, m(pl('ip', 'saddr'), { prefix: { addr: '10.0.0.0', len: 8 } }), { accept: null }]);
    assert.deepEqual(ok('TWINE_INPUT', '! -d 10.0.0.0/255.255.0.0 -j ACCEPT').expr[1], m(pl('ip', 'daddr'), { prefix: { addr: '10.0.0.0', len: 16 } }, '!='));
    assert.deepEqual(ok('TWINE_INPUT', '-s 10.0.0.1/32 -j ACCEPT').expr[1], m(pl('ip', 'saddr'), '10.0.0.1'));
    assert.deepEqual(ok('TWINE_INPUT', '-s 0.0.0.0/0 -j ACCEPT').expr, [V4, { accept: null }]);
    const v6 = ok('TWINE_INPUT', '--source FD00::1:2/64 -j ACCEPT');
    assert.equal(v6.family, 6);
    assert.deepEqual(v6.expr, [V6, m(pl('ip6', 'saddr'), { prefix: { addr: 'fd00::', len: 64 } }), { accept: null }]);
  });
  test('-i/-o with + wildcards and negation', () => {
    assert.deepEqual(ok('TWINE_FORWARD', '-i wg+ ! -o eth0 -j ACCEPT').expr, [V4, m({ meta: { key: 'iifname' } }, 'wg*'), m({ meta: { key: 'oifname' } }, 'eth0', '!='), { accept: null }]);
    assert.deepEqual(ok('TWINE_FORWARD', '-i + -j ACCEPT').expr, [V4, { accept: null }]);
    assert.deepEqual(ok('TWINE_INPUT', '-i eth0.100 -j ACCEPT').expr[1], m({ meta: { key: 'iifname' } }, 'eth0.100'));
  });
  test('-p, ports, ranges, multiport', () => {
    assert.deepEqual(ok('TWINE_INPUT', '-p udp -j ACCEPT').expr[1], m(pl('ip', 'protocol'), 'udp'));
    assert.deepEqual(ok('TWINE_INPUT', '! -p icmp -j ACCEPT').expr[1], m(pl('ip', 'protocol'), 'icmp', '!='));
    assert.deepEqual(ok('TWINE_INPUT', '-p icmpv6 -j ACCEPT').expr, [V6, m({ meta: { key: 'l4proto' } }, 'ipv6-icmp'), { accept: null }]);
    assert.deepEqual(ok('TWINE_INPUT', '-p tcp --dport 2 --sport 1000: -j ACCEPT').expr, [V4, m(pl('tcp', 'sport'), { range: [1000, 65535] }), m(pl('tcp', 'dport'), 2), { accept: null }]);
    assert.deepEqual(ok('TWINE_INPUT', '-p tcp ! --dport :1023 -j ACCEPT').expr[1], m(pl('tcp', 'dport'), { range: [0, 1023] }, '!='));
    assert.deepEqual(ok('TWINE_INPUT', '-p udp -m multiport --dports 53,80:90 -j ACCEPT').expr[1], m(pl('udp', 'dport'), { set: [53, { range: [80, 90] }] }));
    assert.deepEqual(ok('TWINE_INPUT', '-p tcp -m multiport ! --sports 7 -j ACCEPT').expr[1], m(pl('tcp', 'sport'), 7, '!='));
  });
  test('conntrack, state, mark, comment', () => {
    assert.deepEqual(ok('TWINE_INPUT', '-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT').expr[1], m({ ct: { key: 'state' } }, ['established', 'related'], 'in'));
    assert.deepEqual(ok('TWINE_INPUT', '-m state ! --state NEW -j ACCEPT').expr[1], m({ ct: { key: 'state' } }, 'new', '!'));
    assert.deepEqual(ok('TWINE_INPUT', '-m mark --mark 0x10/0xff -j ACCEPT').expr[1], m({ '&': [{ meta: { key: 'mark' } }, 255] }, 16));
    assert.deepEqual(ok('TWINE_INPUT', '-m mark ! --mark 3 -j ACCEPT').expr[1], m({ meta: { key: 'mark' } }, 3, '!='));
    const c = ok('TWINE_INPUT', '-m comment --comment "allow ssh" -j ACCEPT');
    assert.equal(c.comment, 'allow ssh');
    assert.deepEqual(c.expr, [V4, { accept: null }]);
  });
});

describe('translate: targets', () => {
  test('verdicts, REJECT, LOG, MARK', () => {
    assert.deepEqual(ok('TWINE_INPUT', '-j DROP').expr.at(-1), { drop: null });
    assert.deepEqual(ok('TWINE_NAT_OUTPUT', '-j RETURN').expr.at(-1), { return: null });
    assert.deepEqual(ok('TWINE_INPUT', '-j REJECT').expr.at(-1), { reject: { type: 'icmp', expr: 'port-unreachable' } });
    assert.deepEqual(ok('TWINE_INPUT', '-j REJECT --reject-with icmp-host-prohibited').expr.at(-1), { reject: { type: 'icmp', expr: 'host-prohibited' } });
    assert.deepEqual(ok('TWINE_INPUT', '-j REJECT --reject-with icmp6-adm-prohibited').expr, [V6, { reject: { type: 'icmpv6', expr: 'admin-prohibited' } }]);
    assert.deepEqual(ok('TWINE_INPUT', '-p tcp -j REJECT --reject-with tcp-reset').expr.at(-1), { reject: { type: 'tcp reset' } });
    assert.deepEqual(ok('TWINE_INPUT', '-j LOG --log-prefix "x: "').expr.at(-1), { log: { prefix: 'x: ' } });
    assert.deepEqual(ok('TWINE_INPUT', '-j LOG').expr.at(-1), { log: null });
    assert.deepEqual(ok('TWINE_FORWARD', '-j MARK --set-mark 5').expr.at(-1), { mangle: { key: { meta: { key: 'mark' } }, value: 5 } });
    assert.deepEqual(ok('TWINE_FORWARD', '-j MARK --set-mark 0x1/0xff').expr.at(-1), {
      mangle: { key: { meta: { key: 'mark' } }, value: { '^': [{ '&': [{ meta: { key: 'mark' } }, 0xffffff00] }, 1] } },
    });
  });
  test('NAT targets', () => {
    assert.deepEqual(ok('TWINE_NAT_POSTROUTING', '-o wg+ -j MASQUERADE').expr.at(-1), { masquerade: null });
    assert.deepEqual(ok('TWINE_NAT_POSTROUTING', '-p tcp -j MASQUERADE --to-ports 1000-2000').expr.at(-1), { masquerade: { port: { range: [1000, 2000] } } });
    assert.deepEqual(ok('TWINE_NAT_POSTROUTING', '-j SNAT --to-source 1.2.3.4').expr.at(-1), { snat: { family: 'ip', addr: '1.2.3.4' } });
    assert.deepEqual(ok('TWINE_NAT_POSTROUTING', '-p udp -j SNAT --to-source 1.2.3.4-1.2.3.9:100').expr.at(-1), { snat: { family: 'ip', addr: { range: ['1.2.3.4', '1.2.3.9'] }, port: 100 } });
    assert.deepEqual(ok('TWINE_NAT_PREROUTING', '-p tcp --dport 80 -j DNAT --to-destination 10.0.0.2:8080').expr.at(-1), { dnat: { family: 'ip', addr: '10.0.0.2', port: 8080 } });
    assert.deepEqual(ok('TWINE_NAT_OUTPUT', '-p tcp -j DNAT --to-destination [fd00::2]:80').expr.at(-1), { dnat: { family: 'ip6', addr: 'fd00::2', port: 80 } });
    assert.deepEqual(ok('TWINE_NAT_OUTPUT', '-p tcp -j REDIRECT --to-ports 8080').expr.at(-1), { redirect: { port: 8080 } });
    assert.deepEqual(ok('TWINE_NAT_PREROUTING', '-j REDIRECT').expr.at(-1), { redirect: null });
  });
});

describe('translate: chain rules and errors name the option', () => {
  const cases: [TwineChain, string, string][] = [
    ['TWINE_NAT_PREROUTING', '-j MASQUERADE', '-j MASQUERADE'],
    ['TWINE_INPUT', '-j SNAT --to-source 1.2.3.4', '-j SNAT'],
    ['TWINE_NAT_POSTROUTING', '-j DNAT --to-destination 1.2.3.4', '-j DNAT'],
    ['TWINE_FORWARD', '-j REDIRECT', '-j REDIRECT'],
    ['TWINE_NAT_PREROUTING', '-j REJECT', '-j REJECT'],
    ['TWINE_NAT_OUTPUT', '-j DROP', '-j DROP'],
    ['TWINE_INPUT', '-o eth0 -j ACCEPT', '-o'],
    ['TWINE_NAT_PREROUTING', '-o eth0 -j ACCEPT', '-o'],
    ['TWINE_OUTPUT', '-i eth0 -j ACCEPT', '-i'],
    ['TWINE_NAT_POSTROUTING', '-i eth0 -j ACCEPT', '-i'],
    ['TWINE_INPUT', '-p sctp -j ACCEPT', '-p sctp'],
    ['TWINE_INPUT', '-s 10.0.0.0/33 -j ACCEPT', '-s'],
    ['TWINE_INPUT', '-s 10.0.0.0/255.0.255.0 -j ACCEPT', '-s'],
    ['TWINE_INPUT', '-s 1.2.3.4,5.6.7.8 -j ACCEPT', '-s'],
    ['TWINE_INPUT', '-d -bad -j ACCEPT', '-d'],
    ['TWINE_INPUT', '-i way-too-long-interface -j ACCEPT', '-i'],
    ['TWINE_INPUT', '--dport 22 -j ACCEPT', '--dport'],
    ['TWINE_INPUT', '-p tcp --dport 70000 -j ACCEPT', '--dport'],
    ['TWINE_INPUT', '-p tcp --dport 9:1 -j ACCEPT', '--dport'],
    ['TWINE_INPUT', '-p tcp --dport http -j ACCEPT', '--dport'],
    ['TWINE_INPUT', '-p tcp --dports 1,2 -j ACCEPT', '--dports'],
    ['TWINE_INPUT', '-m multiport --dports 1,2 -j ACCEPT', '-m multiport'],
    ['TWINE_INPUT', '-p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16 -j ACCEPT', '--dports'],
    ['TWINE_INPUT', '--ctstate NEW -j ACCEPT', '--ctstate'],
    ['TWINE_INPUT', '-m conntrack --ctstate SNAT -j ACCEPT', '--ctstate'],
    ['TWINE_INPUT', '-m state --state BOGUS -j ACCEPT', '--state'],
    ['TWINE_INPUT', '-m mark --mark 0x1ffffffff -j ACCEPT', '--mark'],
    ['TWINE_INPUT', '--comment x -j ACCEPT', '--comment'],
    ['TWINE_INPUT', `-m comment --comment ${'x'.repeat(101)} -j ACCEPT`, '--comment'],
    ['TWINE_INPUT', '-m owner --uid-owner 0 -j ACCEPT', '-m owner'],
    ['TWINE_INPUT', '-j ACCEPT --uid-owner 0', '--uid-owner'],
    ['TWINE_INPUT', '-j TWINE_OUTPUT', '-j TWINE_OUTPUT'],
    ['TWINE_INPUT', '-g TWINE_OUTPUT', '-g'],
    ['TWINE_INPUT', '-s 10.0.0.1', '-j'],
    ['TWINE_INPUT', '-j ACCEPT -j DROP', '-j'],
    ['TWINE_INPUT', '-j REJECT --reject-with tcp-reset', '--reject-with'],
    ['TWINE_INPUT', '-j REJECT --reject-with bogus', '--reject-with'],
    ['TWINE_INPUT', '-j ACCEPT --reject-with tcp-reset', '--reject-with'],
    ['TWINE_INPUT', `-j LOG --log-prefix ${'p'.repeat(30)}`, '--log-prefix'],
    ['TWINE_NAT_POSTROUTING', '-j MASQUERADE --to-ports 1000', '--to-ports'],
    ['TWINE_NAT_POSTROUTING', '-j SNAT', '-j SNAT'],
    ['TWINE_NAT_PREROUTING', '-j DNAT --to-destination 10.0.0.1:80', '--to-destination'],
    ['TWINE_NAT_PREROUTING', '-j DNAT --to-destination $(id)', '--to-destination'],
    ['TWINE_FORWARD', '-j MARK', '-j MARK'],
    ['TWINE_FORWARD', '-j MARK --set-mark x', '--set-mark'],
    ['TWINE_INPUT', '! -j ACCEPT', '! -j'],
    ['TWINE_INPUT', 'ACCEPT', 'ACCEPT'],
    ['TWINE_INPUT', '-s fd00::1 -d 10.0.0.1 -j ACCEPT', 'mixes'],
    ['TWINE_INPUT', '-s fd00::1 -p icmp -j ACCEPT', '-p icmp'],
  ];
  for (const [chain, opts, named] of cases) {
    test(`${chain} ${opts.slice(0, 60)} → error naming ${named}`, () => {
      const e = errs(chain, opts);
      assert.ok(
        e.some((x) => x.startsWith(named)),
        e.join('; '),
      );
    });
  }
  test('every problem is reported at once', () => {
    const e = errs('TWINE_INPUT', '-o eth0 -p sctp --dport 1 -m foo -j MASQUERADE');
    for (const named of ['-o', '-p sctp', '--dport', '-m foo', '-j MASQUERADE']) assert.ok(e.some((x) => x.startsWith(named)), `${named} in ${e.join('; ')}`);
  });
  test('ACCEPT, RETURN, LOG and MARK are allowed in every chain', () => {
    for (const chain of ['TWINE_INPUT', 'TWINE_OUTPUT', 'TWINE_FORWARD', 'TWINE_NAT_PREROUTING', 'TWINE_NAT_POSTROUTING', 'TWINE_NAT_OUTPUT'] as const)
      for (const t of ['-j ACCEPT', '-j RETURN', '-j LOG', '-j MARK --set-mark 1']) ok(chain, t);
  });
});

describe('translate: container references', () => {
  const resolve: RefResolver = (r) => ({ web: { v4: '172.18.0.5', v6: 'fd00::5' }, v6only: { v6: 'fd00::8' }, v4only: { v4: '172.18.0.9' } })[r];
  test('refs are returned by parseRule and resolved at translate time', () => {
    const r = ok('TWINE_FORWARD', '-s web ! -d v4only -j ACCEPT', resolve);
    assert.deepEqual(r.parsed.refs, ['web', 'v4only']);
    assert.equal(r.family, 4);
    assert.deepEqual(r.expr.slice(1, 3), [m(pl('ip', 'saddr'), '172.18.0.5'), m(pl('ip', 'daddr'), '172.18.0.9', '!=')]);
  });
  test('an IPv6 literal or an IPv6-only reference makes the rule IPv6', () => {
    assert.deepEqual(ok('TWINE_INPUT', '-s web -d fd00::1 -j ACCEPT', resolve).expr[1], m(pl('ip6', 'saddr'), 'fd00::5'));
    const r = ok('TWINE_INPUT', '-s v6only -j ACCEPT', resolve);
    assert.equal(r.family, 6);
    assert.deepEqual(r.expr[1], m(pl('ip6', 'saddr'), 'fd00::8'));
  });
  test('DNAT to a reference', () => {
    assert.deepEqual(ok('TWINE_NAT_PREROUTING', '-p tcp -j DNAT --to-destination web:8080', resolve).expr.at(-1), { dnat: { family: 'ip', addr: '172.18.0.5', port: 8080 } });
  });
  test('unresolvable references throw UnresolvedRefError naming the reference', () => {
    const p = parseRule('TWINE_INPUT', tokenize('-s gone -j ACCEPT'));
    assert.ok('rule' in p);
    assert.throws(() => translateRule(p.rule, resolve), (e: unknown) => e instanceof UnresolvedRefError && e.ref === 'gone');
    const q = parseRule('TWINE_INPUT', tokenize('-s v4only -d 10.0.0.1 -j ACCEPT'));
    assert.ok('rule' in q);
    assert.doesNotThrow(() => translateRule(q.rule, resolve));
    const w = parseRule('TWINE_INPUT', tokenize('-s v4only -d fd00::1 -j ACCEPT'));
    assert.ok('rule' in w);
    assert.throws(() => translateRule(w.rule, resolve), UnresolvedRefError);
  });
  test('names that are not Docker names are not references', () => {
    assert.ok(errs('TWINE_INPUT', '-s we$b -j ACCEPT').some((e) => e.startsWith('-s')));
    assert.ok(errs('TWINE_INPUT', '-s web/24 -j ACCEPT').some((e) => e.startsWith('-s')));
  });
});
