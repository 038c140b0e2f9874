// The bridges' MACs read in the host's namespace: by gateway address, bridges only, re-read when a gateway is unknown (rate-limited) or forced.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BRIDGE_REREAD_MS, BridgeMacs } from '../../src/engine/bridge-macs.js';
import type { Addr, Link, NetnsBackend } from '../../src/netns/types.js';

test('bridge MACs: a bridge\'s addresses map to its MAC; other kinds do not; an unknown gateway reads again at most every BRIDGE_REREAD_MS', async () => {
  let reads = 0;
  let links: Link[] = [
    { index: 3, name: 'br-1', up: true, mtu: 1500, kind: 'bridge', mac: '02:42:AA:00:00:01' },
    { index: 4, name: 'veth1', up: true, mtu: 1500, kind: 'veth', mac: '02:42:bb:00:00:01' },
  ];
  const addrs: Addr[] = [
    { ifindex: 3, ifname: 'br-1', family: 4, address: '172.30.1.1', prefixlen: 24 },
    { ifindex: 3, ifname: 'br-1', family: 6, address: 'fd30::1', prefixlen: 64 },
    { ifindex: 4, ifname: 'veth1', family: 4, address: '10.9.9.1', prefixlen: 24 },
  ];
  const netns = {
    addrList: async () => {
      reads++;
      return addrs;
    },
    linkList: async () => links,
  } as unknown as NetnsBackend;
  let now = 0;
  const b = new BridgeMacs(netns, ['/fake/host'], () => now);
  await b.ensure(['172.30.1.1']);
  assert.deepEqual([...b.current], [
    ['172.30.1.1', '02:42:aa:00:00:01'],
    ['fd30::1', '02:42:aa:00:00:01'],
  ]);
  const first = b.current;
  await b.ensure(['172.30.1.1']);
  assert.equal(reads, 1, 'known: not read again');
  await b.ensure(['10.9.9.1']);
  assert.equal(reads, 1, 'unknown, but read just now');
  now += BRIDGE_REREAD_MS;
  await b.ensure(['10.9.9.1']);
  assert.equal(reads, 2);
  assert.equal(b.current, first, 'unchanged: the same map');
  links = [{ ...links[0]!, mac: '02:42:aa:00:00:02' }];
  await b.ensure([], true);
  assert.equal(b.current.get('172.30.1.1'), '02:42:aa:00:00:02', 'a recreated bridge: its new MAC at the forced read');
  // A network removed and another created on the same subnet: its bridge has the old address and a new MAC.
  links = [{ ...links[0]!, mac: '02:42:aa:00:00:03' }];
  const before = reads;
  await b.ensure(['172.30.1.1']);
  assert.equal(reads, before, 'known, nothing said otherwise: not read');
  b.invalidate();
  await b.ensure(['172.30.1.1']);
  assert.equal(reads, before + 1, 'invalidated: read at the next use although known and read just now');
  assert.equal(b.current.get('172.30.1.1'), '02:42:aa:00:00:03');
  await b.ensure(['172.30.1.1']);
  assert.equal(reads, before + 1, 'and only once');
});

test('bridge MACs: looked for in each namespace given; one that cannot be read is skipped, all failing throws', async () => {
  const netns = {
    addrList: async (ns: { path: string }) => {
      if (ns.path === '/denied') throw new Error('EACCES');
      return [{ ifindex: 3, ifname: 'br-1', family: 4, address: '172.30.1.1', prefixlen: 24 }];
    },
    linkList: async () => [{ index: 3, name: 'br-1', up: true, mtu: 1500, kind: 'bridge', mac: '02:42:aa:00:00:01' }],
  } as unknown as NetnsBackend;
  const b = new BridgeMacs(netns, ['/denied', '/own']);
  await b.ensure(['172.30.1.1']);
  assert.equal(b.current.get('172.30.1.1'), '02:42:aa:00:00:01');
  await assert.rejects(new BridgeMacs(netns, ['/denied']).ensure(['172.30.1.1']), /EACCES/);
});
