// The label parser (README "Labels"): every label form, each error, all errors at once.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LabelError } from '../../src/errors.js';
import { bigToIp, coversAll, ipToBig } from '../../src/net/ip.js';
import { parseCidr } from '../../src/net/cidr.js';
import { ifacePatternProblem, parseLabels } from '../../src/labels/parse.js';

function errorsOf(labels: Record<string, string>): LabelError {
  try {
    parseLabels('c1', labels);
  } catch (e) {
    assert.ok(e instanceof LabelError, `expected LabelError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a LabelError');
}

function reasonFor(labels: Record<string, string>, re: RegExp): void {
  const e = errorsOf(labels);
  assert.ok(e.issues.some((i) => re.test(i.reason)), `no reason matching ${re}: ${e.message}`);
}

test('non-twine labels are ignored; no labels → empty spec', () => {
  const s = parseLabels('c1', { 'com.docker.compose.service': 'x', 'traefik.enable': 'true' });
  assert.deepEqual(s, { forwards: [], routes: [], rules: [], hostRoutes: [], warnings: [] });
});

test('twine.nat.interfaces: list, trimmed, wildcard, deduplicated', () => {
  const s = parseLabels('c1', { 'twine.nat.interfaces': '  wg+ , eth0.100,+,wg+ ' });
  assert.deepEqual(s.natInterfaces, ['wg+', 'eth0.100', '+']);
});

test('twine.nat.forward: pattern with dots, default proto, udp, default dest port', () => {
  const s = parseLabels('c1', {
    'twine.nat.forward.wg+.9080': 'app:9080',
    'twine.nat.forward.eth0.100.53/udp': 'dns',
    'twine.nat.forward.8080': ' 10.0.0.5:80 ',
  });
  assert.equal(s.forwards.length, 3);
  const byLabel = Object.fromEntries(s.forwards.map((f) => [f.label, f]));
  assert.equal(byLabel['twine.nat.forward.eth0.100.53/udp']?.iface, 'eth0.100');
  assert.equal(byLabel['twine.nat.forward.eth0.100.53/udp']?.proto, 'udp');
  assert.deepEqual(byLabel['twine.nat.forward.8080']?.destPort, { lo: 80, hi: 80 });
  assert.deepEqual(byLabel['twine.nat.forward.8080']?.dest, { kind: 'ip', family: 4, ip: '10.0.0.5' });
  assert.equal(byLabel['twine.nat.forward.wg+.9080']?.iface, 'wg+');
});

test('twine.nat.forward: port ranges 1:1, shifted by a start port, mismatched lengths refused', () => {
  const s = parseLabels('c1', {
    'twine.nat.forward.8000-8010': 'web',
    'twine.nat.forward.9000-9002': 'web:7000',
    'twine.nat.forward.lo.6000-6001/udp': 'web:5000-5001',
  });
  const f = Object.fromEntries(s.forwards.map((x) => [x.label, x.destPort]));
  assert.deepEqual(f['twine.nat.forward.8000-8010'], { lo: 8000, hi: 8010 });
  assert.deepEqual(f['twine.nat.forward.9000-9002'], { lo: 7000, hi: 7002 });
  assert.deepEqual(f['twine.nat.forward.lo.6000-6001/udp'], { lo: 5000, hi: 5001 });
  reasonFor({ 'twine.nat.forward.8000-8010': 'web:80-81' }, /has 2 ports, the forwarded range 11/);
  reasonFor({ 'twine.nat.forward.100-200': 'web:65500' }, /beyond 65535/);
});

test('twine.nat.forward: IPv6 destinations, bracketed with port and bare', () => {
  const s = parseLabels('c1', { 'twine.nat.forward.80': '[FD00::0:5]:8080', 'twine.nat.forward.81': 'fd00::6' });
  const f = Object.fromEntries(s.forwards.map((x) => [x.label, x]));
  assert.deepEqual(f['twine.nat.forward.80']?.dest, { kind: 'ip', family: 6, ip: 'fd00::5' });
  assert.deepEqual(f['twine.nat.forward.80']?.destPort, { lo: 8080, hi: 8080 });
  assert.deepEqual(f['twine.nat.forward.81']?.dest, { kind: 'ip', family: 6, ip: 'fd00::6' });
  reasonFor({ 'twine.nat.forward.lo.80': '[fd00::1]:80' }, /IPv4 destinations only/);
});

test('twine.route: IPv4/IPv6, host route without prefix, canonical address', () => {
  const s = parseLabels('c1', {
    'twine.route.0.0.0.0/1': 'vpn',
    'twine.route.10.1.2.3': '172.20.0.2',
    'twine.route.FD00:0:0::/64': 'gw6',
    'twine.route.::/0': 'fd00::1',
  });
  const r = Object.fromEntries(s.routes.map((x) => [x.label, x]));
  assert.deepEqual(r['twine.route.0.0.0.0/1']?.cidr, { family: 4, addr: '0.0.0.0', prefixLen: 1 });
  assert.deepEqual(r['twine.route.10.1.2.3']?.cidr, { family: 4, addr: '10.1.2.3', prefixLen: 32 });
  assert.deepEqual(r['twine.route.10.1.2.3']?.dest, { kind: 'ip', family: 4, ip: '172.20.0.2' });
  assert.deepEqual(r['twine.route.FD00:0:0::/64']?.cidr, { family: 6, addr: 'fd00::', prefixLen: 64 });
  assert.deepEqual(r['twine.route.::/0']?.cidr, { family: 6, addr: '::', prefixLen: 0 });
});

test('twine.route errors: host bits, bad prefix, family mismatch, bad gateway, duplicates', () => {
  reasonFor({ 'twine.route.10.0.0.1/8': 'gw' }, /host bits set \(did you mean 10\.0\.0\.0\/8\?\)/);
  reasonFor({ 'twine.route.10.0.0.0/33': 'gw' }, /bad prefix length/);
  reasonFor({ 'twine.route.10.0.0.0/8': 'fd00::1' }, /IPv4 route needs an IPv4 gateway/);
  reasonFor({ 'twine.route.10.0.0.0/8': 'bad name!' }, /neither an IP address nor a container name/);
  reasonFor({ 'twine.route.10.0.0.0/8': '' }, /missing gateway/);
  reasonFor({ 'twine.route.010.0.0.0/8': 'gw' }, /not an IPv4 or IPv6 CIDR/);
  reasonFor({ 'twine.route.10.0.0.5': 'a', 'twine.route.10.0.0.5/32': 'b' }, /same destination as/);
});

test('twine.host.routes: list of CIDRs', () => {
  const s = parseLabels('c1', { 'twine.host.routes': '10.8.0.0/24, fd08::/64,10.8.0.0/24' });
  assert.deepEqual(s.hostRoutes, [
    { family: 4, addr: '10.8.0.0', prefixLen: 24 },
    { family: 6, addr: 'fd08::', prefixLen: 64 },
  ]);
  reasonFor({ 'twine.host.routes': '10.8.0.0/24,nope' }, /"nope" is not an IPv4 or IPv6 CIDR/);
});

test('deprecated spellings are accepted with warnings', () => {
  const s = parseLabels('c1', { 'twine.forward.8080/udp': 'app:80', 'twine.gateway.interface': 'tun+', 'twine.nat.interfaces': 'wg+' });
  assert.deepEqual(s.natInterfaces, ['tun+', 'wg+']);
  assert.equal(s.forwards[0]?.proto, 'udp');
  assert.equal(s.forwards[0]?.iface, '+');
  assert.deepEqual(
    s.warnings.map((w) => w.key),
    ['twine.forward.8080/udp', 'twine.gateway.interface'],
  );
  reasonFor({ 'twine.forward.eth0.80': 'app' }, /takes no interface pattern/);
});

test('twine.iptables.rule: chain checked, rules sorted by chain then name', () => {
  reasonFor({ 'twine.iptables.rule.a': 'INPUT -j ACCEPT' }, /must start with one of the chains TWINE_INPUT/);
  reasonFor({ 'twine.iptables.rule.a': '' }, /must start with one of the chains/);
  reasonFor({ 'twine.iptables.rule.bad name': 'TWINE_INPUT -j ACCEPT' }, /whitespace|rule name/);
  reasonFor({ 'twine.iptables.rule.x$y': 'TWINE_INPUT -j ACCEPT' }, /rule name must be/);
});

test('twine.iptables.rule: options validated by the translator', () => {
  const s = parseLabels('c1', {
    'twine.iptables.rule.b': 'TWINE_INPUT -p tcp --dport 22 -j ACCEPT',
    'twine.iptables.rule.a': 'TWINE_INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT',
    'twine.iptables.rule.0': 'TWINE_OUTPUT -j DROP',
  });
  assert.deepEqual(
    s.rules.map((r) => [r.chain, r.name]),
    [
      ['TWINE_INPUT', 'a'],
      ['TWINE_INPUT', 'b'],
      ['TWINE_OUTPUT', '0'],
    ],
  );
  assert.deepEqual(s.rules[1]?.args, ['-p', 'tcp', '--dport', '22', '-j', 'ACCEPT']);
  const e = errorsOf({ 'twine.iptables.rule.x': 'TWINE_INPUT --no-such-option 1 -j ACCEPT' });
  assert.ok(e.issues.some((i) => i.key === 'twine.iptables.rule.x' && /--no-such-option/.test(i.reason)), e.message);
});

test('interface patterns follow Linux ifname rules, + only at the end', () => {
  assert.equal(ifacePatternProblem('eth0'), undefined);
  assert.equal(ifacePatternProblem('wg+'), undefined);
  assert.equal(ifacePatternProblem('+'), undefined);
  assert.equal(ifacePatternProblem('abcdefghijklmno'), undefined);
  for (const bad of ['', 'abcdefghijklmnop', 'a+b', 'eth 0', 'a/b', 'a:b', 'a*', '.', '..', 'é']) {
    assert.ok(ifacePatternProblem(bad), `"${bad}" should be refused`);
  }
  reasonFor({ 'twine.nat.interfaces': 'wg+,a:b' }, /may not contain/);
  reasonFor({ 'twine.nat.forward.w+g.80': 'app' }, /only allowed at the end/);
});

test('unknown twine keys, control characters, absurd lengths, bad ports and protocols', () => {
  reasonFor({ 'twine.nat.interface': 'wg+' }, /unknown twine label/);
  reasonFor({ 'twine.route': '10.0.0.1' }, /unknown twine label/);
  reasonFor({ 'twine.nat.interfaces': 'wg+\n' + 'x' }, /control characters/);
  reasonFor({ 'twine.nat.interfaces': 'x'.repeat(5000) }, /longer than 4096/);
  reasonFor({ ['twine.route.' + '1'.repeat(300)]: 'gw' }, /key longer than/);
  reasonFor({ 'twine.nat.forward.0': 'app' }, /port out of range/);
  reasonFor({ 'twine.nat.forward.70000': 'app' }, /port out of range/);
  reasonFor({ 'twine.nat.forward.80/sctp': 'app' }, /tcp or udp/);
  reasonFor({ 'twine.nat.forward.20-10': 'app' }, /ends before it starts/);
  reasonFor({ 'twine.nat.forward.80': '' }, /missing destination/);
  reasonFor({ 'twine.nat.forward.80': 'app:0' }, /destination port out of range/);
  reasonFor({ 'twine.nat.forward.80': 'app:80', 'twine.forward.80': 'app:81' }, /overlaps/);
});

test('every problem is reported at once, each naming key and value', () => {
  const e = errorsOf({
    'twine.nat.interfaces': 'a:b',
    'twine.route.10.0.0.1/8': 'gw',
    'twine.nat.forward.99999': 'app',
    'twine.bogus': 'x',
    'twine.host.routes': 'nope',
    'other.label': 'ignored',
  });
  assert.equal(e.container, 'c1');
  assert.deepEqual(e.issues.map((i) => i.key).sort(), [
    'twine.bogus',
    'twine.host.routes',
    'twine.nat.forward.99999',
    'twine.nat.interfaces',
    'twine.route.10.0.0.1/8',
  ]);
  assert.equal(e.issues.find((i) => i.key === 'twine.route.10.0.0.1/8')?.value, 'gw');
  assert.match(e.message, /5 invalid labels/);
});

test('huge values are quoted shortened in errors', () => {
  const e = errorsOf({ 'twine.route.10.0.0.0/8': 'x'.repeat(5000) });
  assert.ok((e.issues[0]?.value.length ?? 0) <= 201);
});

test('ip helpers: canonical IPv6, CIDR parsing, coverage', () => {
  assert.equal(bigToIp(ipToBig('2001:db8:0:0:1:0:0:1', 6), 6), '2001:db8::1:0:0:1');
  assert.equal(bigToIp(ipToBig('::ffff:1.2.3.4', 6), 6), '::ffff:102:304');
  assert.equal(bigToIp(ipToBig('fd00::', 6), 6), 'fd00::');
  assert.deepEqual(parseCidr('192.168.1.0/24'), { family: 4, addr: '192.168.1.0', prefixLen: 24 });
  assert.ok(coversAll([{ addr: '0.0.0.0', prefixLen: 1 }, { addr: '128.0.0.0', prefixLen: 1 }], 4));
  assert.ok(coversAll([{ addr: '::', prefixLen: 0 }], 6));
  assert.ok(!coversAll([{ addr: '0.0.0.0', prefixLen: 1 }], 4));
  assert.ok(!coversAll([{ addr: '0.0.0.0', prefixLen: 2 }, { addr: '128.0.0.0', prefixLen: 1 }], 4));
});

test('twine.nat.killswitch and twine.nat.mss: on/off, bytes or auto, only on a NAT gateway', () => {
  assert.equal(parseLabels('c1', { 'twine.nat.interfaces': 'wg+' }).killSwitch, undefined);
  const s = parseLabels('c1', { 'twine.nat.interfaces': 'wg+', 'twine.nat.killswitch': ' off ', 'twine.nat.mss': '1200' });
  assert.equal(s.killSwitch, false);
  assert.equal(s.mss, 1200);
  assert.equal(parseLabels('c1', { 'twine.nat.interfaces': 'wg+', 'twine.nat.killswitch': 'on', 'twine.nat.mss': 'off' }).mss, 'off');
  assert.equal(parseLabels('c1', { 'twine.nat.interfaces': 'wg+', 'twine.nat.mss': 'auto' }).mss, 'route');
  reasonFor({ 'twine.nat.interfaces': 'wg+', 'twine.nat.killswitch': 'maybe' }, /on or off/);
  reasonFor({ 'twine.nat.interfaces': 'wg+', 'twine.nat.mss': '100' }, /536-65495/);
  reasonFor({ 'twine.nat.interfaces': 'wg+', 'twine.nat.mss': '1200b' }, /segment size/);
  reasonFor({ 'twine.nat.killswitch': 'off' }, /NAT gateway only/);
  reasonFor({ 'twine.nat.mss': '1300' }, /NAT gateway only/);
});

test('twine.iptables.rule: a word named like an object property (constructor, toString) is an unknown word or value, named as such', () => {
  reasonFor({ 'twine.iptables.rule.a': 'TWINE_INPUT constructor -j ACCEPT' }, /constructor: unexpected word \(options start with -\)/);
  reasonFor({ 'twine.iptables.rule.a': 'TWINE_INPUT -p tcp toString 1 -j ACCEPT' }, /toString: unexpected word/);
  reasonFor({ 'twine.iptables.rule.a': 'TWINE_INPUT -p tcp -j REJECT --reject-with constructor' }, /--reject-with constructor: unsupported/);
});
