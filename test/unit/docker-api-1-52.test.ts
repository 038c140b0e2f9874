// Documents shaped the way Docker 29 (Engine API 1.52) sends them: events
// without the legacy `status`, `id` and `from`, inspect without the top-level
// NetworkSettings addresses, and the version check that refuses engines older
// than the oldest one Twine is tested with.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareApiVersions, engineInfo, OLDEST_API } from '../../src/docker/client.js';
import type { DockerClient } from '../../src/docker/client.js';
import { parseDockerEvent } from '../../src/docker/events.js';
import { toContainerInfo, type ContainerInspect } from '../../src/docker/inventory.js';
import { DockerError } from '../../src/errors.js';

const ID = '3f4d0b1c2a9e8d7f6e5d4c3b2a190817f6e5d4c3b2a1908f7e6d5c4b3a291807';

test('API 1.52 events: a container start and a network connect without status, id or from', () => {
  const start = parseDockerEvent(
    `{"Type":"container","Action":"start","Actor":{"ID":"${ID}","Attributes":{"image":"twine-test/busybox","name":"twt-app","twine.route.10.98.0.0/16":"gw"}},"scope":"local","time":1796000000,"timeNano":1796000000123456789}`,
  )!;
  assert.deepEqual([start.type, start.action, start.id, start.attributes.name], ['container', 'start', ID, 'twt-app']);
  assert.equal(start.attributes['twine.route.10.98.0.0/16'], 'gw');
  assert.equal(start.timeNano, 1796000000123456789n);
  const connect = parseDockerEvent(JSON.stringify({ Type: 'network', Action: 'connect', Actor: { ID: 'n'.repeat(64), Attributes: { container: ID, name: 'twt-net', type: 'bridge' } }, scope: 'local', time: 1, timeNano: 1000000001 }))!;
  assert.deepEqual([connect.type, connect.action, connect.attributes.container], ['network', 'connect', ID]);
  // Health checks send `exec_start: …` actions; an event with no Actor ID is not usable.
  assert.equal(parseDockerEvent(JSON.stringify({ Type: 'container', Action: 'start', Actor: { Attributes: {} }, time: 1, timeNano: 1 })), undefined);
});

/** `docker inspect` of a running container on two networks as Docker 29 answers it. */
function inspect152(): ContainerInspect {
  return {
    Id: ID,
    Name: '/twt-app',
    State: { Status: 'running', Running: true, Pid: 4242 },
    Config: { Labels: { 'twine.route.10.98.0.0/16': 'gw', 'com.docker.compose.project': 'p', 'com.docker.compose.service': 'app' } },
    HostConfig: { NetworkMode: 'twt-a' },
    // No IPAddress, Gateway, MacAddress, EndpointID, IPPrefixLen, GlobalIPv6Address, IPv6Gateway, Bridge or HairpinMode here.
    NetworkSettings: {
      SandboxID: 'a'.repeat(64),
      SandboxKey: '/var/run/docker/netns/abcdef',
      Ports: {},
      Networks: {
        'twt-a': {
          IPAMConfig: null,
          Links: null,
          Aliases: ['app'],
          DriverOpts: null,
          GwPriority: 0,
          NetworkID: 'b'.repeat(64),
          EndpointID: 'c'.repeat(64),
          Gateway: '172.31.7.1',
          IPAddress: '172.31.7.2',
          IPPrefixLen: 24,
          IPv6Gateway: 'fd00:7::1',
          GlobalIPv6Address: 'fd00:7::2',
          GlobalIPv6PrefixLen: 64,
          MacAddress: 'AA:BB:CC:00:00:02',
          DNSNames: ['twt-app', 'app', '3f4d0b1c2a9e'],
        },
        'twt-b': {
          IPAMConfig: null,
          Links: null,
          Aliases: null,
          DriverOpts: null,
          GwPriority: 0,
          NetworkID: 'd'.repeat(64),
          EndpointID: 'e'.repeat(64),
          Gateway: '172.31.8.1',
          IPAddress: '172.31.8.2',
          IPPrefixLen: 24,
          IPv6Gateway: '',
          GlobalIPv6Address: '',
          GlobalIPv6PrefixLen: 0,
          MacAddress: 'aa:bb:cc:00:01:02',
          DNSNames: ['twt-app', '3f4d0b1c2a9e'],
        },
      },
    },
  } as unknown as ContainerInspect;
}

test('API 1.52 inspect: addresses, gateways, MACs and names come from each network, none from the top level', () => {
  const c = toContainerInfo(inspect152());
  assert.equal(c.name, 'twt-app');
  assert.equal(c.pid, 4242);
  assert.equal(c.networks.length, 2);
  const a = c.networks.find((n) => n.networkName === 'twt-a')!;
  assert.deepEqual([a.ipv4, a.ipv4PrefixLen, a.gatewayV4, a.ipv6, a.ipv6PrefixLen, a.gatewayV6, a.mac], ['172.31.7.2', 24, '172.31.7.1', 'fd00:7::2', 64, 'fd00:7::1', 'aa:bb:cc:00:00:02']);
  assert.deepEqual(a.aliases, ['app']);
  assert.ok(a.dnsNames.includes('app'));
  const b = c.networks.find((n) => n.networkName === 'twt-b')!;
  assert.deepEqual([b.ipv4, b.gatewayV4, b.ipv6, b.gatewayV6], ['172.31.8.2', '172.31.8.1', undefined, undefined]);
  assert.deepEqual(b.aliases, []);
});

function engine(v: { Version?: unknown; ApiVersion?: unknown } | Error): DockerClient {
  return { version: async () => (v instanceof Error ? Promise.reject(v) : v) } as unknown as DockerClient;
}

test('engineInfo: Docker 20.10 (1.41), 28.5 (1.51) and 29 (1.52) are taken; 19.03 (1.40) and a version it cannot read are refused, saying why', async () => {
  assert.equal(OLDEST_API, '1.41');
  assert.deepEqual(await engineInfo(engine({ Version: '20.10.24+dfsg1', ApiVersion: '1.41' })), { version: '20.10.24+dfsg1', apiVersion: '1.41' });
  assert.deepEqual(await engineInfo(engine({ Version: '28.5.2', ApiVersion: '1.51' })), { version: '28.5.2', apiVersion: '1.51' });
  assert.deepEqual(await engineInfo(engine({ Version: '29.1.0', ApiVersion: '1.52' })), { version: '29.1.0', apiVersion: '1.52' });
  await assert.rejects(engineInfo(engine({ Version: '19.03.15', ApiVersion: '1.40' })), (e: Error) => {
    assert.ok(e instanceof DockerError);
    assert.match(e.message, /Docker 19\.03\.15 speaks Engine API 1\.40, older than 1\.41 \(Docker 20\.10\), the oldest Twine is tested with: refusing/);
    return true;
  });
  await assert.rejects(engineInfo(engine({ Version: 'x' })), /speaks Engine API \(unknown\)/);
  await assert.rejects(engineInfo(engine(new Error('connect ENOENT'))), /^DockerError: docker: version: connect ENOENT|docker: version: connect ENOENT/);
  assert.ok(compareApiVersions('1.9', '1.41') < 0 && compareApiVersions('1.52', '1.41') > 0 && compareApiVersions('1.41', '1.41') === 0 && compareApiVersions('2.0', '1.99') > 0);
});
