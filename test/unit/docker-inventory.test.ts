import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createdInfo, hasTwineLabels, listedContainer, procInterfaces, toContainerInfo } from '../../src/docker/inventory.js';
import type { DockerClient } from '../../src/docker/client.js';
import { startedContainer as fixture } from '../fixtures/inspect.js';

test('inspect JSON → ContainerInfo: name without slash, pid, labels, compose labels, addresses', () => {
  const c = toContainerInfo(fixture());
  assert.equal(c.name, 'twt-fx-c');
  assert.equal(c.pid, 7254);
  assert.equal(c.running, true);
  assert.equal(c.labels['twine.route.10.0.0.0/8'], 'gw');
  assert.equal(c.composeService, 'app');
  assert.equal(c.composeProject, 'demo');
  assert.deepEqual(c.networks[0], {
    networkId: '23f1d5701dbc8ad243d44bf1d7760d8792a9d5eec2f90ffaad0030ea3f9282c1',
    networkName: 'twt-fx-a',
    endpointId: 'cf7a5ab050147ca9b2e0583a972e1617bd445710778b13366620284861930a8a',
    ipv4: '172.19.0.2',
    ipv4PrefixLen: 16,
    gatewayV4: '172.19.0.1',
    aliases: ['other', '8febf29dc98c'],
    dnsNames: [],
    mac: '02:42:ac:13:00:02',
  });
  const b = c.networks[1]!;
  assert.equal(b.ipv6, 'fd00:20::2');
  assert.equal(b.ipv6PrefixLen, 64);
  assert.equal(b.gatewayV6, 'fd00:20::1');
  assert.equal(b.mac, '02:42:ac:14:00:02', 'MAC normalized to lower case');
});

test('networks follow the interface order in the namespace, matched by MAC', () => {
  const ordered = toContainerInfo(fixture(), [
    { index: 1, name: 'lo', mac: '00:00:00:00:00:00' },
    { index: 15, name: 'eth0', mac: '02:42:ac:13:00:02' },
    { index: 17, name: 'eth1', mac: '02:42:ac:14:00:02' },
  ]);
  assert.deepEqual(ordered.networks.map((n) => [n.networkName, n.iface]), [['twt-fx-a', 'eth0'], ['twt-fx-b', 'eth1']]);
  // The same inspect JSON, but the namespace says b is the older interface: b comes first.
  const swapped = toContainerInfo(fixture(), [
    { index: 9, name: 'eth0', mac: '02:42:ac:14:00:02' },
    { index: 12, name: 'eth1', mac: '02:42:ac:13:00:02' },
  ]);
  assert.deepEqual(swapped.networks.map((n) => [n.networkName, n.iface]), [['twt-fx-b', 'eth0'], ['twt-fx-a', 'eth1']]);
  // Unknown interfaces go last, in Docker's order.
  const partial = toContainerInfo(fixture(), [{ index: 30, name: 'eth3', mac: '02:42:ac:14:00:02' }]);
  assert.deepEqual(partial.networks.map((n) => [n.networkName, n.iface]), [['twt-fx-b', 'eth3'], ['twt-fx-a', undefined]]);
});

test('interfaces from /proc/<pid>/net (no MACs) are matched by address', () => {
  const ifaces = procInterfaces([
    { ifindex: 1, ifname: 'lo', family: 4, address: '127.0.0.1', prefixlen: 8 },
    { ifindex: 9, ifname: 'eth0', family: 4, address: '172.20.0.2', prefixlen: 16 },
    { ifindex: 12, ifname: 'eth1', family: 4, address: '172.19.0.2', prefixlen: 16 },
    { ifindex: 9, ifname: 'eth0', family: 6, address: 'fd00:20::2', prefixlen: 64 },
  ]);
  assert.deepEqual(ifaces?.find((i) => i.index === 9), { index: 9, name: 'eth0', addresses: ['172.20.0.2', 'fd00:20::2'] });
  const c = toContainerInfo(fixture(), ifaces);
  assert.deepEqual(c.networks.map((n) => [n.networkName, n.iface]), [['twt-fx-b', 'eth0'], ['twt-fx-a', 'eth1']]);
  assert.equal(procInterfaces(undefined), undefined);
});

test('a stopped container has pid 0 and no addresses', () => {
  const c = toContainerInfo({
    Id: 'abc',
    Name: '/stopped',
    State: { Running: false, Pid: 0, Status: 'exited' },
    Config: { Labels: null },
    NetworkSettings: { Networks: { bridge: { NetworkID: 'n1', IPAddress: '', Gateway: '', MacAddress: '', Aliases: null } } },
  });
  assert.equal(c.running, false);
  assert.equal(c.pid, 0);
  assert.deepEqual(c.labels, {});
  assert.deepEqual(c.networks, [{ networkId: 'n1', networkName: 'bridge', aliases: [], dnsNames: [] }]);
  assert.equal(c.composeService, undefined);
});

test('hasTwineLabels looks at keys with the twine. prefix only', () => {
  assert.equal(hasTwineLabels({ 'twine.route.10.0.0.0/8': 'gw' }), true);
  assert.equal(hasTwineLabels({ 'twine-test': '1', twine: 'x', 'com.twine.x': 'y' }), false);
});

test("Docker's network mode is kept (host and container:<id> are refused by it)", () => {
  assert.equal(toContainerInfo({ ...fixture(), HostConfig: { NetworkMode: 'host' } }).networkMode, 'host');
  assert.equal(toContainerInfo({ ...fixture(), HostConfig: { NetworkMode: 'container:abc' } }).networkMode, 'container:abc');
  assert.equal(toContainerInfo({ ...fixture(), HostConfig: {} }).networkMode, undefined);
});

test('only twine.* and the compose project/service labels pass the Docker boundary (others may hold secrets)', () => {
  const raw = fixture();
  raw.Config!.Labels = {
    ...raw.Config!.Labels,
    'traefik.http.middlewares.auth.basicauth.users': 'admin:$apr1$secret-hash',
    'com.docker.compose.config-hash': 'abc',
    'TWINE.route.10.0.0.0/8': 'not ours: case matters',
    twine: 'no dot',
  };
  const c = toContainerInfo(raw);
  assert.deepEqual(Object.keys(c.labels).sort(), ['com.docker.compose.project', 'com.docker.compose.service', 'twine.route.10.0.0.0/8']);
  assert.ok(!JSON.stringify(c).includes('secret-hash'));

  // A create event's attributes mix Docker's keys with every label.
  const fromEvent = createdInfo(raw.Id, { name: 'twt-fx-c', image: 'busybox', 'twine.route.10.0.0.0/8': 'gw', 'secret.token': 'hunter2', 'com.docker.compose.service': 'app' }, []);
  assert.deepEqual(fromEvent.labels, { 'twine.route.10.0.0.0/8': 'gw', 'com.docker.compose.service': 'app' });
  assert.equal(fromEvent.composeService, 'app');
  assert.ok(!JSON.stringify(fromEvent).includes('hunter2'));
});

test('published ports: the "<port>/<proto>" keys with a host binding, from HostConfig.PortBindings and NetworkSettings.Ports; exposed-only ports and junk are not', () => {
  const base = fixture();
  const c = toContainerInfo({
    ...base,
    HostConfig: { NetworkMode: 'bridge', PortBindings: { '8080/tcp': [{ HostIp: '', HostPort: '18080' }], '9/udp': null } },
    NetworkSettings: {
      ...base.NetworkSettings,
      Ports: { '8080/tcp': [{ HostIp: '0.0.0.0', HostPort: '18080' }], '53/udp': [{ HostIp: '0.0.0.0', HostPort: '32768' }], '7/tcp': null, '99999/tcp': [{}], 'x/tcp': [{}], '5/icmp': [{}] },
    },
  });
  assert.deepEqual(c.published, [
    { proto: 'tcp', port: 8080 },
    { proto: 'udp', port: 53 },
  ]);
  assert.deepEqual(toContainerInfo({ ...base, HostConfig: { NetworkMode: 'bridge' } }).published, []);
});

test('listedContainer: the network mode from Docker\'s container list (host, container:<id>) is kept, so the mode check works on the list path too', async () => {
  for (const mode of ['host', `container:${'a'.repeat(64)}`, 'bridge']) {
    const docker = {
      getJson: async () => [{ Id: 'b'.repeat(64), Names: ['/x'], Labels: { 'twine.route.10.0.0.0/8': 'gw' }, HostConfig: { NetworkMode: mode }, NetworkSettings: { Networks: {} } }],
    } as unknown as DockerClient;
    const c = await listedContainer(docker, 'b'.repeat(64));
    assert.equal(c?.networkMode, mode);
  }
});
