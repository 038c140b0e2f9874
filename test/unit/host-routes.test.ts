// Host-route policy (what twine.host.routes may route on the host) and the
// claims that give a prefix to the container that held it first.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LabelError } from '../../src/errors.js';
import { planContainer } from '../../src/engine/planner.js';
import { conflictReason, HostClaims } from '../../src/engine/host-claims.js';
import { hostRoutePolicy } from '../../src/engine/host-subnets.js';
import { hostRoutesAllowFrom, limitsFrom } from '../../src/cli/engine-options.js';
import { addressSpace, hostRouteBudgetProblems, hostRouteProblem, type HostRoutePolicy } from '../../src/labels/host-routes.js';
import { cidrContains, cidrsOverlap, cidrText, outermostCidrs, parseCidr, type Cidr } from '../../src/net/cidr.js';
import type { ContainerInfo } from '../../src/docker/container.js';

const cidr = (s: string): Cidr => {
  const c = parseCidr(s);
  assert.ok(typeof c !== 'string', c as string);
  return c;
};

const policy: HostRoutePolicy = {
  connected: [
    { cidr: cidr('192.0.2.0/24'), where: 'eth0 (192.0.2.2/24)' },
    { cidr: cidr('172.17.0.0/16'), where: 'Docker network bridge' },
    { cidr: cidr('fd00::/64'), where: 'eth0 (fd00::2/64)' },
  ],
};

test('always refused: default routes, prefixes shorter than /8 (IPv4) or /32 (IPv6), loopback, link-local, multicast, unspecified/broadcast/mapped', () => {
  const cases: [string, RegExp][] = [
    ['0.0.0.0/0', /default route/],
    ['::/0', /default route/],
    ['0.0.0.0/1', /shorter than \/8/],
    ['128.0.0.0/1', /shorter than \/8/],
    ['2000::/3', /shorter than \/32, the shortest IPv6 host route/],
    ['2000::/8', /shorter than \/32/],
    ['2001:db8::/31', /shorter than \/32/],
    ['127.0.0.1/32', /loopback/],
    ['127.0.0.0/16', /loopback/],
    ['::1/128', /loopback/],
    ['169.254.169.254/32', /link-local/],
    ['169.0.0.0/8', /link-local/],
    ['fe80::/10', /link-local/],
    ['fe80::1/128', /link-local/],
    ['224.0.0.0/4', /multicast/],
    ['239.1.2.3/32', /multicast/],
    ['ff02::/16', /multicast/],
    ['0.1.2.0/24', /this network/],
    ['255.255.255.255/32', /broadcast/],
    ['::ffff:10.0.0.0/104', /IPv4-mapped/],
  ];
  for (const [c, re] of cases) {
    const p = hostRouteProblem(cidr(c), { connected: [] });
    assert.ok(p !== undefined && re.test(p), `${c}: ${p}`);
    // An allow list cannot let them in.
    assert.ok(hostRouteProblem(cidr(c), { connected: [], allow: [cidr(c.includes(':') ? '::/0' : '0.0.0.0/0')] }), `${c} allowed by an allow list`);
  }
});

test('refused: any prefix overlapping a connected subnet, either way round, named with where it comes from', () => {
  assert.match(hostRouteProblem(cidr('192.0.2.0/25'), policy)!, /overlaps 192\.0\.2\.0\/24, a subnet connected on the host \(eth0 \(192\.0\.2\.2\/24\)\)/);
  assert.match(hostRouteProblem(cidr('192.0.0.0/8'), policy)!, /overlaps 192\.0\.2\.0\/24/);
  assert.match(hostRouteProblem(cidr('172.17.5.5/32'), policy)!, /Docker network bridge/);
  assert.match(hostRouteProblem(cidr('fd00::/40'), policy)!, /overlaps fd00::\/64/);
  assert.equal(hostRouteProblem(cidr('10.77.0.0/16'), policy), undefined);
  assert.equal(hostRouteProblem(cidr('192.0.3.0/24'), policy), undefined);
  assert.equal(hostRouteProblem(cidr('fd01::/64'), policy), undefined);
});

test('--host-routes-allow narrows: only prefixes inside an allowed one', () => {
  const p: HostRoutePolicy = { ...policy, allow: [cidr('10.77.0.0/16'), cidr('fd77::/48')] };
  assert.equal(hostRouteProblem(cidr('10.77.0.0/16'), p), undefined);
  assert.equal(hostRouteProblem(cidr('10.77.8.0/24'), p), undefined);
  assert.equal(hostRouteProblem(cidr('fd77:0:0:1::/64'), p), undefined);
  assert.match(hostRouteProblem(cidr('10.76.0.0/16'), p)!, /not inside the allowed prefixes \(--host-routes-allow=10\.77\.0\.0\/16,fd77::\/48\)/);
  assert.match(hostRouteProblem(cidr('10.0.0.0/8'), p)!, /not inside/);
});

test('cidrsOverlap and cidrContains', () => {
  assert.ok(cidrsOverlap(cidr('10.0.0.0/8'), cidr('10.1.0.0/16')));
  assert.ok(cidrsOverlap(cidr('10.1.0.0/16'), cidr('10.0.0.0/8')));
  assert.ok(!cidrsOverlap(cidr('10.0.0.0/16'), cidr('10.1.0.0/16')));
  assert.ok(!cidrsOverlap(cidr('10.0.0.0/8'), cidr('fd00::/8')));
  assert.ok(cidrContains(cidr('10.0.0.0/8'), cidr('10.1.0.0/16')));
  assert.ok(!cidrContains(cidr('10.1.0.0/16'), cidr('10.0.0.0/8')));
  assert.ok(cidrContains(cidr('10.0.0.0/8'), cidr('10.0.0.0/8')));
});

test('planContainer: each refused CIDR is one issue on twine.host.routes; nothing is planned', () => {
  const c: ContainerInfo = {
    id: 'id-r',
    name: 'r',
    pid: 10,
    running: true,
    labels: { 'twine.host.routes': '10.77.0.0/16,0.0.0.0/0,169.254.169.254/32,192.0.2.128/25' },
    networks: [{ networkId: 'n', networkName: 'n', ipv4: '172.17.0.5', ipv4PrefixLen: 16, aliases: [], dnsNames: [] }],
  };
  let e: unknown;
  try {
    planContainer(c, { containers: [c] }, { allowHostRoutes: true, hostRoutes: policy });
  } catch (err) {
    e = err;
  }
  assert.ok(e instanceof LabelError);
  assert.deepEqual(
    e.issues.map((i) => i.key),
    ['twine.host.routes', 'twine.host.routes', 'twine.host.routes'],
  );
  assert.match(e.message, /^container r: 3 invalid labels/);
  assert.match(e.message, /0\.0\.0\.0\/0 is the default route/);
  assert.match(e.message, /169\.254\.169\.254\/32 is link-local/);
  assert.match(e.message, /192\.0\.2\.128\/25 overlaps 192\.0\.2\.0\/24/);
  const ok = planContainer({ ...c, labels: { 'twine.host.routes': '10.77.0.0/16' } }, { containers: [c] }, { allowHostRoutes: true, hostRoutes: policy });
  assert.deepEqual(
    ok.plan.hostRoutes.map((r) => [r.dst, r.gateway]),
    [['10.77.0.0/16', '172.17.0.5']],
  );
});

test('HostClaims: the first holder keeps a prefix; an overlapping claim conflicts naming the holder; letting go re-plans the refused', () => {
  const h = new HostClaims();
  assert.deepEqual(h.set('a', 'alpha', [cidr('10.77.0.0/16')]), []);
  assert.deepEqual(h.conflicts('a', [cidr('10.77.0.0/16')]), [], 'own claims never conflict');
  const same = h.conflicts('b', [cidr('10.77.0.0/16'), cidr('10.78.0.0/16')]);
  assert.equal(same.length, 1);
  assert.equal(same[0]!.holder.name, 'alpha');
  assert.match(conflictReason('beta', same[0]!), /^10\.77\.0\.0\/16 conflicts with container alpha, which holds it and keeps it: .*beta's claim is refused$/);
  const inner = h.conflicts('b', [cidr('10.77.5.0/24')]);
  assert.match(conflictReason('beta', inner[0]!), /holds the overlapping 10\.77\.0\.0\/16/);
  h.wait('b');
  assert.ok(h.holds('a', '10.77.0.0/16'));
  assert.ok(!h.holds('b', '10.77.0.0/16'));
  // Changing alpha's claim without letting anything go re-plans nobody.
  assert.deepEqual(h.set('a', 'alpha', [cidr('10.77.0.0/16'), cidr('10.79.0.0/16')]), []);
  assert.deepEqual(h.release('a'), ['b']);
  assert.deepEqual(h.conflicts('b', [cidr('10.77.0.0/16')]), []);
  h.set('b', 'beta', [cidr('10.77.0.0/16')]);
  h.wait('c');
  assert.deepEqual(h.set('b', 'beta', []), ['c'], 'dropping a prefix lets it go');
  assert.deepEqual(h.release('zzz'), [], 'releasing nothing re-plans nobody');
});

test('the host\'s own routes: a prefix equal to, inside or around a static/VPN/BGP route of any table is refused naming it; default routes and Twine\'s own do not count', () => {
  const p = hostRoutePolicy(
    [],
    [],
    undefined,
    [
      { family: 4, dst: '0.0.0.0/0', type: 'unicast', gateway: '192.0.2.1', dev: 'eth0', protocol: 3 },
      { family: 4, dst: '10.240.0.0/16', type: 'unicast', gateway: '198.18.62.2', dev: 'eth1', protocol: 4 },
      { family: 4, dst: '10.96.0.0/12', type: 'unicast', dev: 'wg0', table: 51820, protocol: 186 },
      { family: 4, dst: '10.77.0.0/16', type: 'unicast', gateway: '172.17.0.5', protocol: 74 },
      { family: 6, dst: '2001:db8:5::/48', type: 'blackhole', protocol: 4 },
      { family: 6, dst: '::/0', type: 'unicast', gateway: 'fe80::1', dev: 'eth0', protocol: 3 },
    ],
  );
  assert.match(hostRouteProblem(cidr('10.240.0.0/16'), p)!, /^10\.240\.0\.0\/16 overlaps 10\.240\.0\.0\/16, a route of the host \(via 198\.18\.62\.2 dev eth1, table main, proto 4\), which Twine never replaces or takes traffic from$/);
  assert.match(hostRouteProblem(cidr('10.240.7.0/24'), p)!, /overlaps 10\.240\.0\.0\/16/, 'a longer prefix would take part of its traffic');
  assert.match(hostRouteProblem(cidr('10.0.0.0/8'), p)!, /overlaps 10\.240\.0\.0\/16/);
  assert.match(hostRouteProblem(cidr('10.100.0.0/16'), p)!, /overlaps 10\.96\.0\.0\/12, a route of the host \(dev wg0, table 51820, proto 186\)/);
  assert.match(hostRouteProblem(cidr('2001:db8:5:1::/64'), p)!, /overlaps 2001:db8:5::\/48, a route of the host \(blackhole, table main, proto 4\)/);
  assert.equal(hostRouteProblem(cidr('10.77.0.0/16'), p), undefined, "Twine's own routes are the claims' business");
  assert.equal(hostRouteProblem(cidr('10.241.0.0/16'), p), undefined, 'the default route does not count');
  assert.equal(hostRouteProblem(cidr('2001:db8:6::/48'), p), undefined);
});

test('outermostCidrs: the prefixes inside no other, the first of equal ones, in the list\'s order', () => {
  const cs = (list: string): Cidr[] => list.split(',').map(cidr);
  assert.deepEqual(outermostCidrs(cs('10.77.9.0/24,10.77.0.0/16,192.168.0.0/24,10.77.0.0/16,10.77.0.1/32')).map(cidrText), ['10.77.0.0/16', '192.168.0.0/24']);
  const twins = cs('fd00::/64,fd00::/64');
  assert.equal(outermostCidrs(twins).length, 1);
  assert.equal(outermostCidrs(twins)[0], twins[0]);
  assert.deepEqual(outermostCidrs([]), []);
});

test('budget: one container\'s prefixes together cover at most a /8 of IPv4 and a /32 of IPv6; nested prefixes count once', () => {
  const cs = (list: string): Cidr[] => list.split(',').map(cidr);
  assert.equal(addressSpace(cs('10.0.0.0/9,10.128.0.0/9')), 1n << 24n);
  assert.equal(addressSpace(cs('10.77.0.0/16,10.77.9.0/24,10.77.0.0/16')), 1n << 16n);
  assert.deepEqual(hostRouteBudgetProblems(cs('10.0.0.0/8')), []);
  assert.deepEqual(hostRouteBudgetProblems(cs('10.0.0.0/9,10.128.0.0/9,10.0.5.0/24')), []);
  const v4 = hostRouteBudgetProblems(cs('11.0.0.0/8,12.0.0.0/8'));
  assert.equal(v4.length, 1);
  assert.match(v4[0]!, /^the IPv4 prefixes \(11\.0\.0\.0\/8, 12\.0\.0\.0\/8\) cover 33554432 addresses together, more than one container may route on the host: 16777216 \(a \/8\)$/);
  // 64 prefixes of /8 each (a quarter of IPv4) are refused as a whole.
  const quarter = Array.from({ length: 64 }, (_, i) => cidr(`${64 + i}.0.0.0/8`));
  assert.equal(hostRouteBudgetProblems(quarter).length, 1);
  const v6 = hostRouteBudgetProblems(cs('2001:db8::/32,2001:db9::/32'));
  assert.match(v6[0]!, /the IPv6 prefixes .* more than one container may route on the host: 79228162514264337593543950336 \(a \/32\)/);
  assert.deepEqual(hostRouteBudgetProblems(cs('2001:db8::/32,10.0.0.0/8')), [], 'each family has its own budget');
  // Through planContainer: one issue on the label, nothing planned.
  const c: ContainerInfo = {
    id: 'id-r',
    name: 'r',
    pid: 10,
    running: true,
    labels: { 'twine.host.routes': '11.0.0.0/8,12.0.0.0/8' },
    networks: [{ networkId: 'n', networkName: 'n', ipv4: '172.17.0.5', ipv4PrefixLen: 16, aliases: [], dnsNames: [] }],
  };
  assert.throws(() => planContainer(c, { containers: [c] }, { allowHostRoutes: true, hostRoutes: policy }), (e: unknown) => e instanceof LabelError && e.issues.length === 1 && /cover 33554432 addresses/.test(e.message) && e.issues[0]!.key === 'twine.host.routes');
});

test('hostRoutePolicy: the host addresses as their subnets, and every Docker network subnet', () => {
  const p = hostRoutePolicy(
    [
      { ifindex: 2, ifname: 'eth0', family: 4, address: '192.0.2.2', prefixlen: 24 },
      { ifindex: 2, ifname: 'eth0', family: 6, address: 'fd00::2', prefixlen: 64 },
    ],
    [{ id: 'x', name: 'backend', driver: 'overlay', internal: false, gatewayForContainers: true, ipv6: false, ingress: false, subnets: [{ family: 4, addr: '10.0.9.0', prefixLen: 24 }] }],
    [cidr('10.77.0.0/16')],
  );
  assert.deepEqual(
    p.connected.map((c) => `${c.cidr.addr}/${c.cidr.prefixLen} ${c.where}`),
    ['192.0.2.0/24 eth0 (192.0.2.2/24)', 'fd00::/64 eth0 (fd00::2/64)', '10.0.9.0/24 Docker network backend'],
  );
  assert.deepEqual(p.allow, [cidr('10.77.0.0/16')]);
  assert.match(hostRouteProblem(cidr('10.0.9.128/25'), p)!, /Docker network backend/);
});

test('--host-routes-allow and the --max-* options parse, and refuse what is not a CIDR or a count', () => {
  assert.deepEqual(hostRoutesAllowFrom({ 'host-routes-allow': '10.77.0.0/16, fd77::/48' }), [cidr('10.77.0.0/16'), cidr('fd77::/48')]);
  assert.equal(hostRoutesAllowFrom({}), undefined);
  assert.throws(() => hostRoutesAllowFrom({ 'host-routes-allow': '10.77.0.1/16' }), /--host-routes-allow=.*host bits set/);
  assert.throws(() => hostRoutesAllowFrom({ 'host-routes-allow': '' }), /--host-routes-allow/);
  assert.deepEqual(limitsFrom({ 'max-rules': '30000', 'max-routes': '10', 'max-labels': '5' }), { rules: 30000, routes: 10, labels: 5 });
  assert.throws(() => limitsFrom({ 'max-rules': '0', 'max-routes': '10', 'max-labels': '5' }), /--max-rules="0": expected an integer/);
  assert.throws(() => limitsFrom({ 'max-rules': '1e5', 'max-routes': '10', 'max-labels': '5' }), /--max-rules/);
});
