import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProcNet, type ProcNetFiles } from '../../src/netns/procfs.js';

// /proc/<pid>/net of a container on one Docker network (dockerd 20.10, kernel 6.18),
// plus a second interface with IPv6 and a gateway route.
const files: ProcNetFiles = {
  fibTrie: `Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 172.18.0.0/16 2 0 2
        +-- 172.18.0.0/30 2 0 2
           |-- 172.18.0.0
              /16 link UNICAST
           |-- 172.18.0.2
              /32 host LOCAL
        |-- 172.18.255.255
           /32 link BROADCAST
     |-- 10.77.0.1
        /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 172.18.0.2
        /32 host LOCAL
`,
  route: `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010012AC\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth1\t00004D0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
`,
  igmp: `Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter
1\tlo        :     1      V3
\t\t\t\t010000E0     1 0:00000000\t\t0
26154\teth0      :     1      V3
\t\t\t\t010000E0     1 0:00000000\t\t0
26160\teth1      :     1      V3
\t\t\t\t010000E0     1 0:00000000\t\t0
`,
  ifInet6: `fe80000000000000f8599afffe18f64e 6630 40 20 80     eth1
fd770000000000000000000000000001 6630 40 00 80     eth1
00000000000000000000000000000001 01 80 10 80       lo
`,
};

test('procfs: IPv4 from fib_trie + route + igmp, IPv6 from if_inet6, loopback IPv4 left out', () => {
  const addrs = parseProcNet(files);
  assert.deepEqual(addrs, [
    { ifindex: 26154, ifname: 'eth0', family: 4, address: '172.18.0.2', prefixlen: 16 },
    { ifindex: 26160, ifname: 'eth1', family: 4, address: '10.77.0.1', prefixlen: 24 },
    { ifindex: 26160, ifname: 'eth1', family: 6, address: 'fe80::f859:9aff:fe18:f64e', prefixlen: 64 },
    { ifindex: 26160, ifname: 'eth1', family: 6, address: 'fd77::1', prefixlen: 64 },
    { ifindex: 1, ifname: 'lo', family: 6, address: '::1', prefixlen: 128 },
  ]);
});

test('procfs: what does not add up is undefined (the caller asks netlink)', () => {
  // An address whose interface is missing from igmp (down, or no IPv4 device).
  assert.equal(parseProcNet({ ...files, igmp: files.igmp.replace(/26160\teth1.*\n.*\n/, '') }), undefined);
  // An address with no prefix route (added with noprefixroute).
  assert.equal(parseProcNet({ ...files, route: files.route.split('\n').filter((l) => !l.startsWith('eth1')).join('\n') }), undefined);
  // A mangled IPv6 line.
  assert.equal(parseProcNet({ ...files, ifInet6: 'fd77:: 2 40 00 80 eth1\n' }), undefined);
  // No IPv6 (disabled) is fine.
  assert.equal(parseProcNet({ ...files, ifInet6: '' })?.length, 2);
});
