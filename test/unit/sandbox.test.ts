import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toContainerInfo } from '../../src/docker/inventory.js';
import { toNetworkEntry, type NetworkEntry } from '../../src/docker/networks.js';
import { sandboxReadiness, type SandboxFacts } from '../../src/docker/sandbox.js';
import { parseDefaultGateways } from '../../src/netns/procfs.js';
import type { Addr } from '../../src/netns/types.js';
import type { ContainerInfo } from '../../src/docker/container.js';
import { startedContainer } from '../fixtures/inspect.js';

const NET_B = '868e640d3a738247e2e584a2376d2d164f12f81fcd93870ecf0e493c8da06578';
const IPAM = { Config: [{ Subnet: '172.20.0.0/16', Gateway: '172.20.0.1' }, { Subnet: 'fd00:20::/64', Gateway: 'fd00:20::1' }] };

function netB(over: { Driver?: string; Internal?: boolean; EnableIPv4?: boolean; EnableIPv6?: boolean } = {}): NetworkEntry {
  return toNetworkEntry({ Id: NET_B, Name: 'twt-fx-b', Driver: 'bridge', EnableIPv6: true, IPAM, ...over });
}

/** The fixture container as created on twt-fx-b alone (not yet started). */
function created(): ContainerInfo {
  const c = startedContainer();
  const b = c.NetworkSettings!.Networks!['twt-fx-b']!;
  c.State = { Status: 'created', Running: false, Pid: 0 };
  c.NetworkSettings = { Networks: { 'twt-fx-b': { Aliases: ['svc'], NetworkID: b.NetworkID, IPAddress: '', IPPrefixLen: 0, Gateway: '', MacAddress: '' } } };
  return toContainerInfo(c);
}

const V4: Addr = { ifindex: 17, ifname: 'eth0', family: 4, address: '172.20.0.2', prefixlen: 16 };
const V6: Addr = { ifindex: 17, ifname: 'eth0', family: 6, address: 'fd00:20::2', prefixlen: 64 };
const LO: Addr = { ifindex: 1, ifname: 'lo', family: 4, address: '127.0.0.1', prefixlen: 8 };

function facts(addrs: Addr[], v4: string[] = [], v6: string[] = [], replacesDefault = { v4: false, v6: false }): SandboxFacts {
  return { name: 'twt-fx-c', pid: 7254, addrs: [LO, ...addrs], gateways: { v4, v6 }, replacesDefault };
}

test('sandbox: ready only once every address and default route Docker adds is there, in the order Docker adds them', () => {
  const net = netB();
  const look = (n: string): NetworkEntry | undefined => (n === 'twt-fx-b' ? net : undefined);
  const steps: [SandboxFacts, RegExp | 'ready'][] = [
    [facts([]), /no interface with an address/],
    [facts([V4]), /no IPv6 address yet/],
    [facts([V4, V6]), /no default route via 172\.20\.0\.1 yet/],
    [facts([V4, V6], ['172.20.0.1']), /no IPv6 default route via fd00:20::1 yet/],
    [facts([V4, V6], ['172.20.0.1'], ['fd00:20::1']), 'ready'],
  ];
  for (const [f, want] of steps) {
    const r = sandboxReadiness(created(), f, look);
    if (want === 'ready') {
      assert.ok('ready' in r, JSON.stringify(r));
      const a = r.ready.networks[0]!;
      assert.equal(r.ready.running, true);
      assert.equal(r.ready.pid, 7254);
      assert.deepEqual([a.iface, a.ipv4, a.ipv6, a.gatewayV4, a.gatewayV6], ['eth0', '172.20.0.2', 'fd00:20::2', '172.20.0.1', 'fd00:20::1']);
    } else {
      assert.ok('wait' in r, JSON.stringify(r));
      assert.match(r.wait, want);
    }
  }
});

test('sandbox: a network created with --subnet alone does not name its gateway: any default route through a gateway counts', () => {
  const bare = toNetworkEntry({ Id: NET_B, Name: 'twt-fx-b', Driver: 'bridge', EnableIPv6: true, IPAM: { Config: [{ Subnet: '172.20.0.0/16' }, { Subnet: 'fd00:20::/64' }] } });
  const look = (): NetworkEntry => bare;
  const r1 = sandboxReadiness(created(), facts([V4, V6]), look);
  assert.ok('wait' in r1 && /no default route via a gateway yet/.test(r1.wait), JSON.stringify(r1));
  const r2 = sandboxReadiness(created(), facts([V4, V6], ['172.20.0.1']), look);
  assert.ok('wait' in r2 && /no IPv6 default route via a gateway yet/.test(r2.wait), JSON.stringify(r2));
  const r3 = sandboxReadiness(created(), facts([V4, V6], ['172.20.0.1'], ['fd00:20::1']), look);
  assert.ok('ready' in r3, JSON.stringify(r3));
  // The gateways come from the default routes, as Docker's inspect would give them.
  assert.deepEqual([r3.ready.networks[0]!.gatewayV4, r3.ready.networks[0]!.gatewayV6], ['172.20.0.1', 'fd00:20::1']);
});

test('sandbox: a default route through another gateway is not Docker\'s', () => {
  const r = sandboxReadiness(created(), facts([V4, V6], ['172.20.0.9'], ['fd00:20::1']), () => netB());
  assert.ok('wait' in r && /172\.20\.0\.1/.test(r.wait), JSON.stringify(r));
});

test('sandbox: without --ipv6 only IPv4 counts; on an --internal network no default route comes', () => {
  const v4only = sandboxReadiness(created(), facts([V4], ['172.20.0.1']), () => netB({ EnableIPv6: false }));
  assert.ok('ready' in v4only, JSON.stringify(v4only));
  const internal = sandboxReadiness(created(), facts([V4, V6]), () => netB({ Internal: true }));
  assert.ok('ready' in internal, JSON.stringify(internal));
  // Docker 20.10 adds a default route there too: waited for when Twine replaces it.
  const replaced = sandboxReadiness(created(), facts([V4, V6], [], [], { v4: true, v6: false }), () => netB({ Internal: true }));
  assert.ok('wait' in replaced && /no default route via 172\.20\.0\.1 yet/.test(replaced.wait), JSON.stringify(replaced));
  // Docker 28 (its network documents carry EnableIPv4) adds none there: nothing to wait for.
  const none = sandboxReadiness(created(), facts([V4, V6], [], [], { v4: true, v6: true }), () => netB({ Internal: true, EnableIPv4: true }));
  assert.ok('ready' in none, JSON.stringify(none));
  const replaced6 = sandboxReadiness(created(), facts([V4, V6], ['172.20.0.1'], [], { v4: true, v6: true }), () => netB({ Internal: true }));
  assert.ok('wait' in replaced6 && /IPv6/.test(replaced6.wait), JSON.stringify(replaced6));
});

test('sandbox: more than one network, another driver or an unknown network is left to the start event', () => {
  const two = toContainerInfo(startedContainer());
  const r1 = sandboxReadiness({ ...two, running: false }, facts([V4]), () => netB());
  assert.deepEqual(r1, { skip: 'on more than one network' });
  const r2 = sandboxReadiness(created(), facts([V4]), () => netB({ Driver: 'macvlan' }));
  assert.deepEqual(r2, { skip: 'network twt-fx-b uses the macvlan driver' });
  const r3 = sandboxReadiness(created(), facts([V4]), () => undefined);
  assert.deepEqual(r3, { skip: 'network twt-fx-b is not known' });
  const none = { ...created(), networks: [] };
  assert.deepEqual(sandboxReadiness(none, facts([]), () => netB()), { skip: 'no network of its own' });
});

// As /proc/<pid>/net/route and ipv6_route show a container on twt-fx-b.
const ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010014AC\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000014AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
`;
const IPV6_ROUTE = `fd000020000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000020000000000000000000000001 00000400 00000001 00000000 00000003     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
`;

test('default gateways from /proc/net: gateway routes to 0/0 only, not the kernel\'s unreachable default on lo', () => {
  assert.deepEqual(parseDefaultGateways(ROUTE, IPV6_ROUTE), { v4: ['172.20.0.1'], v6: ['fd00:20::1'] });
  const header = ROUTE.split('\n')[0]!;
  assert.deepEqual(parseDefaultGateways(`${header}\neth0\t000014AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n`, ''), { v4: [], v6: [] });
  // A default route without a gateway (a device route) is not Docker's.
  assert.deepEqual(parseDefaultGateways(`${header}\neth0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n`, ''), { v4: [], v6: [] });
});
