import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createdInfo, toContainerInfo, type ContainerInspect, type InspectNetwork } from '../../src/docker/inventory.js';
import { startedContainer as running } from '../fixtures/inspect.js';
import { startedInfo, type StartFacts } from '../../src/docker/start-info.js';
import { parseSubnet, toNetworkEntry, type NetworkEntry } from '../../src/docker/networks.js';
import { sameNetworks } from '../../src/docker/container.js';
import type { Addr, Link } from '../../src/netns/types.js';

const NET_A = '23f1d5701dbc8ad243d44bf1d7760d8792a9d5eec2f90ffaad0030ea3f9282c1';
const NET_B = '868e640d3a738247e2e584a2376d2d164f12f81fcd93870ecf0e493c8da06578';

const SHORT_ID = '8febf29dc98c';

// The fixture container as `docker inspect` shows it after create: no addresses
// or ids yet, only the aliases it was given (Docker adds the short id at start).
function created(): ContainerInspect {
  const c = running();
  c.State = { Status: 'created', Running: false, Pid: 0 };
  const nets = Object.entries(c.NetworkSettings?.Networks ?? {}).map(([name, n]) => [
    name,
    { Aliases: (n.Aliases ?? []).filter((a) => a !== SHORT_ID), NetworkID: '', IPAddress: '', IPPrefixLen: 0, Gateway: '', MacAddress: '' },
  ]);
  c.NetworkSettings = { Networks: Object.fromEntries(nets) as Record<string, InspectNetwork> };
  return c;
}

const networks = new Map<string, NetworkEntry>([
  ['twt-fx-a', toNetworkEntry({ Id: NET_A, Name: 'twt-fx-a', Driver: 'bridge', IPAM: { Config: [{ Subnet: '172.19.0.0/16', Gateway: '172.19.0.1' }] } })],
  [
    'twt-fx-b',
    toNetworkEntry({
      Id: NET_B,
      Name: 'twt-fx-b',
      Driver: 'bridge',
      IPAM: { Config: [{ Subnet: '172.20.0.0/16', Gateway: '172.20.0.1' }, { Subnet: 'fd00:20::/64', Gateway: 'fd00:20::1' }] },
    }),
  ],
  ['host', toNetworkEntry({ Id: 'h', Name: 'host', Driver: 'host', IPAM: { Config: [] } })],
]);
const lookup = (n: string): NetworkEntry | undefined => networks.get(n);

// What its namespace showed: eth0 (ifindex 15) on twt-fx-a, eth1 (17) on twt-fx-b.
const links: Link[] = [
  { index: 1, name: 'lo', up: true, mtu: 65536 },
  { index: 15, name: 'eth0', up: true, mtu: 1500, mac: '02:42:ac:13:00:02' },
  { index: 17, name: 'eth1', up: true, mtu: 1500, mac: '02:42:ac:14:00:02' },
];
const addrs: Addr[] = [
  { ifindex: 1, ifname: 'lo', family: 4, address: '127.0.0.1', prefixlen: 8 },
  { ifindex: 17, ifname: 'eth1', family: 4, address: '172.20.0.2', prefixlen: 16 },
  { ifindex: 15, ifname: 'eth0', family: 4, address: '172.19.0.2', prefixlen: 16 },
  { ifindex: 17, ifname: 'eth1', family: 6, address: 'fd00:20::2', prefixlen: 64 },
  { ifindex: 17, ifname: 'eth1', family: 6, address: 'fe80::42:acff:fe14:2', prefixlen: 64 },
  { ifindex: 1, ifname: 'lo', family: 6, address: '::1', prefixlen: 128 },
];
const facts = (over: Partial<StartFacts> = {}): StartFacts => ({ name: 'twt-fx-c', pid: 7254, addrs, ...over });

test('start without inspect: the created container + its namespace give what inspect would (aliases aside)', () => {
  const r = startedInfo(toContainerInfo(created()), facts(), lookup);
  assert.ok('info' in r, JSON.stringify(r));
  const real = toContainerInfo(running(), links);
  assert.equal(r.info.pid, 7254);
  assert.equal(r.info.running, true);
  assert.deepEqual(r.info.labels, real.labels);
  assert.equal(r.info.composeService, 'app');
  assert.deepEqual(
    r.info.networks.map((n) => [n.networkName, n.iface]),
    [['twt-fx-a', 'eth0'], ['twt-fx-b', 'eth1']],
    'in interface order',
  );
  // Docker adds the short id as an alias only when it starts the container.
  const withoutShortId = real.networks.map((n) => ({ ...n, aliases: n.aliases.filter((a) => a !== SHORT_ID) }));
  assert.ok(sameNetworks(r.info.networks, withoutShortId), JSON.stringify({ got: r.info.networks, want: withoutShortId }));
  assert.ok(!sameNetworks(r.info.networks, real.networks), 'the alias difference is seen (the engine re-plans after its inspect)');
  assert.equal(r.info.networks[0]!.mac, undefined, 'MACs are not read on this path');
});

test('start without inspect: a previous run as the template keeps its aliases and takes the new addresses', () => {
  const moved = addrs.map((a) => (a.address === '172.19.0.2' ? { ...a, address: '172.19.0.9' } : a));
  const r = startedInfo(toContainerInfo(running(), links), facts({ addrs: moved, pid: 900, name: 'renamed' }), lookup);
  assert.ok('info' in r);
  assert.equal(r.info.name, 'renamed', 'the name comes from the start event');
  assert.equal(r.info.pid, 900);
  assert.equal(r.info.networks[0]!.ipv4, '172.19.0.9');
  assert.deepEqual(r.info.networks[0]!.aliases, ['other', SHORT_ID]);
  assert.equal(r.info.networks[1]!.mac, '02:42:ac:14:00:02', "the previous run's MAC is kept");
});

test('start without inspect: falls back whenever the picture is incomplete or ambiguous', () => {
  const template = toContainerInfo(created());
  const fallback = (r: ReturnType<typeof startedInfo>): string => ('fallback' in r ? r.fallback : 'took the fast path');
  // network mode container:/none: no networks of its own
  assert.match(fallback(startedInfo({ ...template, networks: [] }, facts(), lookup)), /no networks of its own/);
  // an unknown network (created after the index was read)
  assert.match(fallback(startedInfo(template, facts(), (n) => (n === 'twt-fx-b' ? undefined : lookup(n)))), /twt-fx-b is not known/);
  // network mode host: the host network has no subnet
  const host = { ...template, networks: [{ networkId: '', networkName: 'host', aliases: [], dnsNames: [] }] };
  assert.match(fallback(startedInfo(host, facts(), lookup)), /no subnet/);
  // disconnected from a network before it started: no interface on it
  const onlyA = addrs.filter((a) => a.ifindex !== 17);
  assert.match(fallback(startedInfo(template, facts({ addrs: onlyA }), lookup)), /twt-fx-b: no interface/);
  // connected to another network before it started: an address on no known network
  const extra: Addr[] = [...addrs, { ifindex: 19, ifname: 'eth2', family: 4, address: '10.9.0.2', prefixlen: 24 }];
  assert.match(fallback(startedInfo(template, facts({ addrs: extra }), lookup)), /eth2 \(10\.9\.0\.2\) is on no network/);
  // two addresses of one network
  const two: Addr[] = [...addrs, { ifindex: 19, ifname: 'eth2', family: 4, address: '172.19.0.7', prefixlen: 16 }];
  assert.match(fallback(startedInfo(template, facts({ addrs: two }), lookup)), /twt-fx-a: more than one/);
});

test('network subnets: CIDR and gateway parsed per family, junk ignored', () => {
  assert.deepEqual(parseSubnet('172.20.0.0/16', '172.20.0.1'), { family: 4, addr: '172.20.0.0', prefixLen: 16, gateway: '172.20.0.1' });
  assert.deepEqual(parseSubnet('fd00::/64', '10.0.0.1'), { family: 6, addr: 'fd00::', prefixLen: 64 }, 'a gateway of the other family is dropped');
  assert.equal(parseSubnet('', undefined), undefined);
  assert.equal(parseSubnet('nonsense/8', undefined), undefined);
  assert.deepEqual(toNetworkEntry({ Id: 'x', Name: 'none', Driver: 'null', IPAM: null }).subnets, []);
});

test('a network whose list names no gateway: the last inspect\'s gateway, else the one default route in the namespace', () => {
  const bare = new Map<string, NetworkEntry>([
    ['twt-fx-b', toNetworkEntry({ Id: NET_B, Name: 'twt-fx-b', Driver: 'bridge', IPAM: { Config: [{ Subnet: '172.20.0.0/16' }] } })],
  ]);
  const only = (c: ReturnType<typeof created>): ContainerInspect => {
    const nets = c.NetworkSettings!.Networks!;
    c.NetworkSettings = { Networks: { 'twt-fx-b': nets['twt-fx-b']! } };
    return c;
  };
  const v4 = addrs.filter((a) => a.ifindex === 17 && a.family === 4);
  const fromRoute = startedInfo(toContainerInfo(only(created())), facts({ addrs: v4, gateways: () => ({ v4: ['172.20.0.1'], v6: [] }) }), (n) => bare.get(n));
  assert.ok('info' in fromRoute, JSON.stringify(fromRoute));
  assert.equal(fromRoute.info.networks[0]!.gatewayV4, '172.20.0.1');
  // After Twine replaced the default route, the namespace's says nothing about Docker's gateway: the template's wins.
  const ran = toContainerInfo(only(running()));
  const fromTemplate = startedInfo(ran, facts({ addrs: v4, gateways: () => ({ v4: ['172.20.0.9'], v6: [] }) }), (n) => bare.get(n));
  assert.ok('info' in fromTemplate, JSON.stringify(fromTemplate));
  assert.equal(fromTemplate.info.networks[0]!.gatewayV4, '172.20.0.1');
  // Named by the template: the namespace's routes are not read at all.
  let reads = 0;
  startedInfo(ran, facts({ addrs: v4, gateways: () => (reads++, { v4: [], v6: [] }) }), (n) => bare.get(n));
  assert.equal(reads, 0);
    // Two default routes: no guess.
  const two = startedInfo(toContainerInfo(only(created())), facts({ addrs: v4, gateways: () => ({ v4: ['172.20.0.1', '172.20.0.9'], v6: [] }) }), (n) => bare.get(n));
  assert.ok('info' in two && two.info.networks[0]!.gatewayV4 === undefined, JSON.stringify(two));
});

test('createdInfo: a create event\'s attributes and the networks its connect events named', () => {
  const c = createdInfo('f'.repeat(64), { name: 'web', image: 'nginx', 'twine.route.0.0.0.0/0': 'vpn', 'com.docker.compose.service': 'web', 'com.docker.compose.project': 'demo' }, [{ name: 'demo_default', id: NET_A }]);
  assert.deepEqual(c, {
    id: 'f'.repeat(64),
    name: 'web',
    pid: 0,
    running: false,
    labels: { 'twine.route.0.0.0.0/0': 'vpn', 'com.docker.compose.service': 'web', 'com.docker.compose.project': 'demo' },
    networks: [{ networkId: NET_A, networkName: 'demo_default', aliases: [], dnsNames: [] }],
    networkMode: 'demo_default',
    composeService: 'web',
    composeProject: 'demo',
  });
  // The network mode from the connects: the host network means the host's namespace; none named: unknown.
  assert.equal(createdInfo('e'.repeat(64), { name: 'h' }, [{ name: 'host', id: 'h' }]).networkMode, 'host');
  assert.equal(createdInfo('e'.repeat(64), { name: 'h' }, []).networkMode, undefined);
});

test('on an --internal network the gateway is what Docker gives the container: none on Docker 28, the bridge\'s on 20.10', () => {
  // Docker 28's network documents carry EnableIPv4; 20.10's do not.
  const net28 = toNetworkEntry({ Id: NET_A, Name: 'twt-fx-a', Driver: 'bridge', Internal: true, EnableIPv4: true, IPAM: { Config: [{ Subnet: '172.19.0.0/16', Gateway: '172.19.0.1' }] } });
  const net20 = toNetworkEntry({ Id: NET_A, Name: 'twt-fx-a', Driver: 'bridge', Internal: true, IPAM: { Config: [{ Subnet: '172.19.0.0/16', Gateway: '172.19.0.1' }] } });
  assert.deepEqual([net28.gatewayForContainers, net20.gatewayForContainers], [false, true]);
  assert.equal(toNetworkEntry({ Id: 'x', Name: 'x', Driver: 'bridge', EnableIPv4: true }).gatewayForContainers, true, 'an ordinary network on Docker 28');
  const c = toContainerInfo(created());
  const one = { ...c, networks: c.networks.filter((n) => n.networkName === 'twt-fx-a') };
  const v4 = addrs.filter((a) => a.ifname !== 'eth1');
  // Docker 28: no default route in the namespace, no Gateway in its inspect.
  const r28 = startedInfo(one, facts({ addrs: v4, gateways: () => ({ v4: [], v6: [] }) }), () => net28);
  assert.ok('info' in r28, JSON.stringify(r28));
  assert.equal(r28.info.networks[0]!.gatewayV4, undefined, "the bridge's address is not taken for the container's gateway");
  const r20 = startedInfo(one, facts({ addrs: v4, gateways: () => ({ v4: [], v6: [] }) }), () => net20);
  assert.ok('info' in r20, JSON.stringify(r20));
  assert.equal(r20.info.networks[0]!.gatewayV4, '172.19.0.1');
});
