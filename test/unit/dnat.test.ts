// Which conntrack entries a table change leaves stale (src/firewall/dnat.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dnatOf, staleConntrack } from '../../src/firewall/dnat.js';
import { makeRule, type NftBatch, type TableDef } from '../../src/firewall/nft.js';

const loForward = (addr: string) => [
  { match: { op: '==', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: { prefix: { addr: '127.0.0.0', len: 8 } } } },
  { match: { op: '==', left: { payload: { protocol: 'udp', field: 'dport' } }, right: 5353 } },
  { dnat: { family: 'ip', addr, port: 5353 } },
];
const table = (addr?: string): TableDef => ({ chains: [{ name: 'OUTPUT_NAT', rules: addr ? [makeRule('OUTPUT_NAT', loForward(addr))] : [] }] });
/** As nft lists it. */
const live = (addr?: string): NftBatch => ({
  nftables: addr ? [{ rule: { family: 'inet', table: 'twine', chain: 'OUTPUT_NAT', handle: 7, expr: loForward(addr) } }] : [],
});

test('dnatOf: protocol, matched port and destination, target address and port', () => {
  assert.deepEqual(dnatOf(loForward('172.18.0.3')), { family: 4, proto: 'udp', dport: [5353, 5353], origDst: '127.0.0.0/8', addr: '172.18.0.3', port: [5353, 5353] });
  assert.equal(dnatOf([{ masquerade: null }]), undefined);
  const v6 = dnatOf([{ match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: { range: [8000, 8010] } } }, { dnat: { family: 'ip6', addr: 'fd00:1::3' } }]);
  assert.deepEqual(v6, { family: 6, proto: 'tcp', dport: [8000, 8010], addr: 'fd00:1::3' });
});

test('a moved destination: entries DNATed to the old address go; the forward itself is not new', () => {
  assert.deepEqual(staleConntrack(live('172.18.0.3'), table('172.18.0.9')), [{ family: 4, proto: 'udp', replySrc: '172.18.0.3', replySport: [5353, 5353], dnat: true }]);
});

test('a forward that went away, and one that came (back): DNATed entries, then un-NATed ones of its port', () => {
  assert.deepEqual(staleConntrack(live('172.18.0.3'), table()), [{ family: 4, proto: 'udp', replySrc: '172.18.0.3', replySport: [5353, 5353], dnat: true }]);
  assert.deepEqual(staleConntrack(live(), table('172.18.0.9')), [{ family: 4, proto: 'udp', origDport: [5353, 5353], origDst: '127.0.0.0/8', dnat: false }]);
});

test('no change: nothing to delete; no live table (deleted when the forward went): the forward is new', () => {
  assert.deepEqual(staleConntrack(live('172.18.0.3'), table('172.18.0.3')), []);
  assert.deepEqual(staleConntrack(null, table('172.18.0.3')), [{ family: 4, proto: 'udp', origDport: [5353, 5353], origDst: '127.0.0.0/8', dnat: false }]);
});
