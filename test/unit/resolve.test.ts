// The resolver: Docker embedded-DNS semantics over an inventory snapshot.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseLabels } from '../../src/labels/parse.js';
import type { ContainerInfo, Inventory, NetworkAttachment } from '../../src/docker/container.js';
import { composeServiceOf, resolve } from '../../src/resolve/resolve.js';
import { toContainerInfo } from '../../src/docker/inventory.js';

function net(id: string, ipv4?: string, extra: Partial<NetworkAttachment> = {}): NetworkAttachment {
  return {
    networkId: id,
    networkName: `net-${id}`,
    ...(ipv4 ? { ipv4, ipv4PrefixLen: 24, gatewayV4: ipv4.replace(/\.\d+$/, '.1') } : {}),
    aliases: [],
    dnsNames: [],
    ...extra,
  };
}

let pid = 100;
function ctr(name: string, labels: Record<string, string>, networks: NetworkAttachment[], extra: Partial<ContainerInfo> = {}): ContainerInfo {
  return { id: `id-${name}`, name, pid: pid++, running: true, labels, networks, ...extra };
}

function run(src: ContainerInfo, inv: Inventory) {
  return resolve(src, parseLabels(src.name, src.labels), inv);
}

test('a container name on the shared network resolves to its IP there and the source interface', () => {
  const gw = ctr('gw', {}, [net('a', '10.0.1.3')]);
  const src = ctr('src', { 'twine.route.10.9.0.0/16': 'gw' }, [net('a', '10.0.1.2', { iface: 'eth0' })]);
  const r = run(src, { containers: [src, gw] });
  assert.deepEqual(r.desired.routes[0], {
    label: 'twine.route.10.9.0.0/16',
    family: 4,
    dst: '10.9.0.0/16',
    dest: 'gw',
    state: 'up',
    gateway: '10.0.1.3',
    dev: 'eth0',
    via: { id: 'id-gw', name: 'gw', network: 'net-a' },
  });
  assert.deepEqual(r.deps, ['id-gw']);
  assert.deepEqual(r.refs, ['gw']);
  assert.deepEqual(r.unresolved, []);
});

test('unknown interface leaves dev undefined', () => {
  const gw = ctr('gw', {}, [net('a', '10.0.1.3')]);
  const src = ctr('src', { 'twine.route.10.9.0.0/16': 'gw' }, [net('a', '10.0.1.2')]);
  const r = run(src, { containers: [src, gw] });
  assert.equal(r.desired.routes[0]?.dev, undefined);
  assert.equal(r.desired.routes[0]?.gateway, '10.0.1.3');
});

test('network aliases, DNS names and compose service names resolve; service only within the same project', () => {
  const a = ctr('proj-db-1', {}, [net('a', '10.0.1.5', { aliases: ['database'], dnsNames: ['db-dns'] })], {
    composeService: 'db',
    composeProject: 'proj',
  });
  const other = ctr('other-cache-1', {}, [net('a', '10.0.1.6')], { composeService: 'cache', composeProject: 'other' });
  const src = ctr(
    'src',
    { 'twine.route.10.1.0.0/16': 'database', 'twine.route.10.2.0.0/16': 'DB-DNS', 'twine.route.10.3.0.0/16': 'db', 'twine.route.10.4.0.0/16': 'cache' },
    [net('a', '10.0.1.2')],
    { composeProject: 'proj', composeService: 'src' },
  );
  const r = run(src, { containers: [src, a, other] });
  const by = Object.fromEntries(r.desired.routes.map((x) => [x.dst, x]));
  assert.equal(by['10.1.0.0/16']?.gateway, '10.0.1.5');
  assert.equal(by['10.2.0.0/16']?.gateway, '10.0.1.5');
  assert.equal(by['10.3.0.0/16']?.gateway, '10.0.1.5');
  assert.equal(by['10.4.0.0/16']?.state, 'down');
  // A source outside compose may use any service name.
  const loose = ctr('loose', { 'twine.route.10.4.0.0/16': 'cache' }, [net('a', '10.0.1.9')]);
  assert.equal(run(loose, { containers: [loose, other] }).desired.routes[0]?.gateway, '10.0.1.6');
});

test('only shared networks count; the first shared network in the SOURCE order wins', () => {
  const d = ctr('d', {}, [net('b', '10.0.2.5'), net('a', '10.0.1.5'), net('c', '10.0.3.5')]);
  const src = ctr('src', { 'twine.route.10.9.0.0/16': 'd' }, [net('x', '10.0.9.2'), net('a', '10.0.1.2', { iface: 'eth1' }), net('b', '10.0.2.2', { iface: 'eth2' })]);
  const r = run(src, { containers: [src, d] });
  assert.equal(r.desired.routes[0]?.gateway, '10.0.1.5');
  assert.equal(r.desired.routes[0]?.dev, 'eth1');
  const lonely = ctr('lonely', { 'twine.route.10.9.0.0/16': 'd' }, [net('z', '10.0.8.2')]);
  const r2 = run(lonely, { containers: [lonely, d] });
  assert.equal(r2.desired.routes[0]?.state, 'down');
  assert.match(r2.unresolved[0]?.reason ?? '', /shares no network/);
  assert.deepEqual(r2.deps, ['id-d']);
});

test('name beats alias on the same network; two containers with the same alias make the reference ambiguous, not won by the smallest name', () => {
  const byAlias = ctr('aaa', {}, [net('a', '10.0.1.7', { aliases: ['gw'] })]);
  const byName = ctr('gw', {}, [net('a', '10.0.1.8')]);
  const src = ctr('src', { 'twine.route.10.9.0.0/16': 'gw', 'twine.nat.forward.80': 'gw' }, [net('a', '10.0.1.2')]);
  assert.equal(run(src, { containers: [src, byAlias, byName] }).desired.routes[0]?.gateway, '10.0.1.8');
  // The real gateway zz-vpn-1 and an impostor aa-imp, both --network-alias gw.
  const real = ctr('zz-vpn-1', {}, [net('a', '10.0.1.9', { aliases: ['gw'] })]);
  const r = run(src, { containers: [src, real, byAlias] });
  const route = r.desired.routes[0]!;
  assert.equal(route.state, 'down');
  assert.equal(route.gateway, undefined);
  assert.match(route.reason ?? '', /"gw" matches 2 running tasks or containers on network net-a: container aaa at 10\.0\.1\.7, container zz-vpn-1 at 10\.0\.1\.9; name one in the label by its container name \(gateway down\)/);
  assert.equal(r.desired.forwards[0]?.state, 'down');
  assert.deepEqual(r.desired.forwards[0]?.targets, []);
  assert.deepEqual(r.deps, ['id-aaa', 'id-zz-vpn-1']);
  // Naming the container resolves.
  const named = ctr('src2', { 'twine.route.10.9.0.0/16': 'zz-vpn-1' }, [net('a', '10.0.1.3')]);
  assert.equal(run(named, { containers: [named, real, byAlias] }).desired.routes[0]?.gateway, '10.0.1.9');
});

test('forged compose labels: a container whose name does not agree with them is not the service, before or after the real one stops', () => {
  const labels = { 'com.docker.compose.project': 'proj', 'com.docker.compose.service': 'vpn' };
  const real = toContainerInfo({ Id: 'id-real', Name: '/proj-vpn-1', State: { Running: true, Pid: 11 }, Config: { Labels: labels }, NetworkSettings: { Networks: { n: { NetworkID: 'a', IPAddress: '10.0.1.9', IPPrefixLen: 24 } } } });
  const imp = toContainerInfo({ Id: 'id-imp', Name: '/aa-imp', State: { Running: true, Pid: 12 }, Config: { Labels: labels }, NetworkSettings: { Networks: { n: { NetworkID: 'a', IPAddress: '10.0.1.7', IPPrefixLen: 24 } } } });
  const src = ctr('proj-app-1', { 'twine.route.0.0.0.0/0': 'vpn' }, [net('a', '10.0.1.2')], { composeProject: 'proj', composeService: 'app' });
  assert.equal(run(src, { containers: [src, real, imp] }).desired.routes[0]?.gateway, '10.0.1.9');
  const stopped = { ...real, running: false, pid: 0 };
  const r = run(src, { containers: [src, stopped, imp] });
  assert.equal(r.desired.routes[0]?.state, 'down', 'the impostor never becomes the gateway');
  assert.match(r.desired.routes[0]?.reason ?? '', /not running/);
  // v1 names (<project>_<service>_<n>) agree too; other shapes do not.
  for (const [name, ok] of [['proj_vpn_2', true], ['PROJ-VPN-3', true], ['proj-vpn-x', false], ['proj-vpn-1-evil', false], ['xproj-vpn-1', false], ['proj-vpn', false]] as const) {
    const c = { ...imp, name };
    assert.equal(composeServiceOf(c), ok ? 'vpn' : undefined, name);
    assert.equal(run(src, { containers: [src, c] }).desired.routes[0]?.state, ok ? 'up' : 'down', name);
  }
});

test('a stopped or missing gateway: route unreachable (kill switch), forward dropped, deps and refs kept', () => {
  const vpn = ctr('vpn', {}, [net('a')], { running: false, pid: 0 });
  const src = ctr('src', { 'twine.route.0.0.0.0/0': 'vpn', 'twine.nat.forward.80': 'vpn', 'twine.route.10.0.0.0/8': 'ghost' }, [net('a', '10.0.1.2')]);
  const r = run(src, { containers: [src, vpn] });
  const by = Object.fromEntries(r.desired.routes.map((x) => [x.dst, x]));
  assert.equal(by['0.0.0.0/0']?.state, 'down');
  assert.match(by['0.0.0.0/0']?.reason ?? '', /not running/);
  assert.match(by['10.0.0.0/8']?.reason ?? '', /no container named "ghost"/);
  assert.equal(r.desired.forwards[0]?.state, 'down');
  assert.deepEqual(r.desired.forwards[0]?.targets, []);
  assert.deepEqual(r.deps, ['id-vpn']);
  assert.deepEqual(r.refs, ['ghost', 'vpn']);
  assert.equal(r.unresolved.length, 3);
});

test('IPv6: routes resolve to the v6 address; forwards get a target per family; IPv6 detected', () => {
  const d = ctr('d', {}, [net('a', '10.0.1.5', { ipv6: 'fd00::5', ipv6PrefixLen: 64 })]);
  const src = ctr('src', { 'twine.route.fd10::/64': 'd', 'twine.nat.forward.eth0.443': 'd' }, [
    net('a', '10.0.1.2', { ipv6: 'fd00::2', ipv6PrefixLen: 64, gatewayV6: 'fd00::1', iface: 'eth0' }),
  ]);
  const r = run(src, { containers: [src, d] });
  assert.equal(r.desired.routes[0]?.gateway, 'fd00::5');
  assert.equal(r.desired.routes[0]?.family, 6);
  assert.deepEqual(
    r.desired.forwards[0]?.targets.map((t) => [t.family, t.ip, t.dev, t.masquerade]),
    [
      [4, '10.0.1.5', 'eth0', true],
      [6, 'fd00::5', 'eth0', true],
    ],
  );
  assert.equal(r.desired.ipv6, true);
  assert.deepEqual(r.desired.dockerDefaults, [
    { family: 4, gateway: '10.0.1.1', dev: 'eth0' },
    { family: 6, gateway: 'fd00::1', dev: 'eth0' },
  ]);
  // A v6 route to a container without a v6 address is down.
  const v4only = ctr('v4only', {}, [net('a', '10.0.1.6')]);
  const src2 = ctr('src2', { 'twine.route.fd10::/64': 'v4only' }, [net('a', '10.0.1.3')]);
  assert.match(run(src2, { containers: [src2, v4only] }).desired.routes[0]?.reason ?? '', /no IPv6 address/);
});

test('forward keeps the client address only when the destination routes everything via the source', () => {
  const vpn = ctr('vpn', { 'twine.nat.forward.wg+.9080': 'app:9080' }, [net('a', '10.0.1.2', { iface: 'eth0' })]);
  const mk = (labels: Record<string, string>) => ctr('app', labels, [net('a', '10.0.1.3')]);
  const masq = (app: ContainerInfo) => run(vpn, { containers: [vpn, app] }).desired.forwards[0]?.targets[0]?.masquerade;
  assert.equal(masq(mk({ 'twine.route.0.0.0.0/1': 'vpn', 'twine.route.128.0.0.0/1': 'vpn' })), false);
  assert.equal(masq(mk({ 'twine.route.0.0.0.0/0': '10.0.1.2' })), false);
  assert.equal(masq(mk({ 'twine.route.0.0.0.0/1': 'vpn' })), true);
  assert.equal(masq(mk({})), true);
  assert.equal(masq(mk({ 'twine.route.0.0.0.0/0': 'vpn', 'twine.bogus': 'x' })), true);
});

test('IP literal gateways and destinations: dev from the subnet that holds them', () => {
  const src = ctr('src', { 'twine.route.10.9.0.0/16': '10.0.2.254', 'twine.nat.forward.80': '10.0.1.77:8080' }, [
    net('a', '10.0.1.2', { iface: 'eth0' }),
    net('b', '10.0.2.2', { iface: 'eth1' }),
  ]);
  const r = run(src, { containers: [src] });
  assert.equal(r.desired.routes[0]?.dev, 'eth1');
  assert.deepEqual(r.desired.forwards[0]?.targets, [{ family: 4, ip: '10.0.1.77', dev: 'eth0', masquerade: true }]);
  assert.deepEqual(r.deps, []);
});

test('host routes via the first network of each family; none without an address of that family', () => {
  const src = ctr('src', { 'twine.host.routes': '10.8.0.0/24,fd08::/64' }, [net('a', '10.0.1.2'), net('b', '10.0.2.2')]);
  const r = run(src, { containers: [src] });
  assert.deepEqual(r.desired.hostRoutes, [
    { family: 4, dst: '10.8.0.0/24', via: '10.0.1.2' },
    { family: 6, dst: 'fd08::/64', reason: 'src has no IPv6 address' },
  ]);
});

test('a reference to the container itself does not resolve', () => {
  const src = ctr('src', { 'twine.route.10.9.0.0/16': 'src' }, [net('a', '10.0.1.2')]);
  const r = run(src, { containers: [src] });
  assert.equal(r.desired.routes[0]?.state, 'down');
  assert.match(r.unresolved[0]?.reason ?? '', /itself/);
});

test('rules referring to containers resolve them and record dependencies', () => {
  const db = ctr('db', {}, [net('a', '10.0.1.5')]);
  const src = ctr('src', { 'twine.iptables.rule.a': 'TWINE_OUTPUT -d db -p tcp --dport 5432 -j ACCEPT', 'twine.iptables.rule.b': 'TWINE_OUTPUT -d nope -j DROP' }, [
    net('a', '10.0.1.2'),
  ]);
  const r = run(src, { containers: [src, db] });
  assert.equal(r.desired.rules[0]?.state, 'up');
  assert.ok(JSON.stringify(r.desired.rules[0]?.expr).includes('10.0.1.5'));
  assert.equal(r.desired.rules[1]?.state, 'down');
  assert.deepEqual(r.refs, ['db', 'nope']);
  assert.deepEqual(r.deps, ['id-db']);
});

test('names are looked up per inventory snapshot: a new list is read afresh, the same list is not re-read', () => {
  const src = ctr('src', { 'twine.route.10.9.0.0/16': 'gw' }, [net('a', '10.0.1.2', { iface: 'eth0' })]);
  const gw1 = ctr('gw', {}, [net('a', '10.0.1.3')]);
  const first = { containers: [src, gw1] };
  assert.equal(run(src, first).desired.routes[0]!.gateway, '10.0.1.3');
  // The gateway moved: the engine builds a new list.
  const gw2 = { ...gw1, networks: [net('a', '10.0.1.7')] };
  assert.equal(run(src, { containers: [src, gw2] }).desired.routes[0]!.gateway, '10.0.1.7');
  // Another source against the first list still sees that list's gateway.
  const other = ctr('other', { 'twine.route.10.8.0.0/16': 'gw' }, [net('a', '10.0.1.4', { iface: 'eth0' })]);
  assert.equal(run(other, { containers: first.containers }).desired.routes[0]!.gateway, '10.0.1.3');
});

test('a reason names what the reference is to its label: gateway, forward destination, rule address', () => {
  const vpn = ctr('vpn', {}, [net('a')], { running: false, pid: 0 });
  const src = ctr(
    'src',
    { 'twine.route.10.0.0.0/8': 'vpn', 'twine.nat.forward.80': 'vpn', 'twine.nat.forward.81': 'ghost', 'twine.iptables.rule.a': 'TWINE_INPUT -s vpn -j ACCEPT' },
    [net('a', '10.0.1.2')],
  );
  const r = run(src, { containers: [src, vpn] });
  assert.equal(r.desired.routes[0]?.reason, 'container "vpn" is not running (gateway down)');
  assert.equal(r.desired.forwards[0]?.reason, 'container "vpn" is not running (forward destination down)');
  assert.equal(r.desired.forwards[1]?.reason, 'no container named "ghost" (forward destination down)');
  assert.equal(r.desired.rules[0]?.reason, 'container "vpn" is not running (rule address down)');
  for (const f of r.desired.forwards) assert.doesNotMatch(f.reason ?? '', /gateway/);
  assert.deepEqual(
    r.unresolved.map((u) => u.reason),
    ['container "vpn" is not running (gateway down)', 'container "vpn" is not running (forward destination down)', 'no container named "ghost" (forward destination down)', 'container "vpn" is not running (rule address down)'],
  );
});

test('reply path: routes of a family via a gateway and published ports → Docker\'s gateway, the subnet, the bridge\'s MAC and the ports', () => {
  const gw = ctr('gw', { 'twine.nat.interfaces': 'wg+' }, [net('a', '10.0.1.3', { mac: '02:42:0a:00:01:03' })], { published: [{ proto: 'tcp', port: 9 }] });
  const published = [
    { proto: 'udp', port: 53 },
    { proto: 'tcp', port: 8443 },
    { proto: 'tcp', port: 8080 },
    { proto: 'sctp', port: 99 },
  ] as const;
  const src = ctr('src', { 'twine.route.0.0.0.0/1': 'gw', 'twine.route.128.0.0.0/1': 'gw' }, [net('a', '10.0.1.2', { iface: 'eth0' })], { published: [...published] });
  const bridgeMacs = new Map([['10.0.1.1', '02:42:aa:bb:cc:01']]);
  const r = run(src, { containers: [src, gw], bridgeMacs });
  assert.deepEqual(r.desired.replyPaths, [
    { family: 4, dev: 'eth0', gateway: '10.0.1.1', subnet: '10.0.1.0/24', bridgeMac: '02:42:aa:bb:cc:01', ports: [{ proto: 'tcp', ports: [8080, 8443] }, { proto: 'udp', ports: [53] }] },
  ]);
  // No published port, or the bridge's MAC unknown: nothing is marked (replies follow the labels' routes).
  assert.deepEqual(run({ ...src, published: [] }, { containers: [src, gw], bridgeMacs }).desired.replyPaths, []);
  assert.deepEqual(run({ ...src, published: undefined }, { containers: [src, gw], bridgeMacs }).desired.replyPaths, []);
  assert.deepEqual(run(src, { containers: [src, gw] }).desired.replyPaths, []);
  // The gateway itself routes nothing: no reply path; nor a container without a known interface.
  assert.deepEqual(run(gw, { containers: [src, gw], bridgeMacs }).desired.replyPaths, []);
  const noIface = ctr('x', { 'twine.route.10.9.0.0/16': 'gw' }, [net('a', '10.0.1.4')], { published: [{ proto: 'tcp', port: 80 }] });
  assert.deepEqual(run(noIface, { containers: [noIface, gw], bridgeMacs }).desired.replyPaths, []);
  // Killswitch and MSS: defaults only for a NAT gateway.
  assert.equal(run(gw, { containers: [gw] }).desired.killSwitch, true);
  assert.equal(run(src, { containers: [src, gw] }).desired.killSwitch, false);
  assert.equal(run(src, { containers: [src, gw] }).desired.mss, 'off');
});
