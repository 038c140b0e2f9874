import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffRoutes, isEmpty } from '../../src/engine/route-diff.js';
import { RTPROT_BOOT, TWINE_RT_PROTO, type Route } from '../../src/netns/types.js';

const tw = (dst: string, gateway?: string, type: Route['type'] = 'unicast'): Route => ({
  family: dst.includes(':') ? 6 : 4,
  dst,
  type,
  ...(gateway ? { gateway, dev: 'eth0' } : {}),
  protocol: TWINE_RT_PROTO,
});

test('identical routes → nothing to do', () => {
  const r = [tw('10.0.0.0/8', '172.18.0.2'), tw('fd00::/8', 'fd01::2')];
  assert.ok(isEmpty(diffRoutes(r, r)));
});

test('a changed gateway is replaced in place, never deleted', () => {
  const d = diffRoutes([tw('0.0.0.0/1', '172.18.0.2')], [tw('0.0.0.0/1', '172.18.0.9')]);
  assert.deepEqual(d.replace, [tw('0.0.0.0/1', '172.18.0.9')]);
  assert.deepEqual(d.del, []);
});

test('gateway down: unicast becomes unreachable with the same prefix', () => {
  const d = diffRoutes([tw('0.0.0.0/1', '172.18.0.2')], [tw('0.0.0.0/1', undefined, 'unreachable')]);
  assert.equal(d.replace.length, 1);
  assert.equal(d.replace[0]!.type, 'unreachable');
});

test('routes Twine no longer wants are deleted; a replaced default route is restored instead', () => {
  const docker: Route = { family: 4, dst: '0.0.0.0/0', type: 'unicast', gateway: '172.18.0.1', dev: 'eth0', protocol: RTPROT_BOOT };
  const d = diffRoutes([tw('0.0.0.0/0', '172.18.0.2'), tw('10.1.0.0/16', '172.18.0.2')], [], [docker]);
  assert.deepEqual(d.replace, [docker]);
  assert.deepEqual(d.del, [tw('10.1.0.0/16', '172.18.0.2')]);
});

test('metric and table are part of the key', () => {
  const a: Route = { ...tw('10.0.0.0/8', '172.18.0.2'), metric: 5 };
  const b: Route = { ...tw('10.0.0.0/8', '172.18.0.2'), table: 100 };
  const d = diffRoutes([a], [b]);
  assert.deepEqual(d.replace, [b]);
  assert.deepEqual(d.del, [a]);
});

test('an IPv6 route planned without a metric matches the kernel\'s read-back with metric 1024', () => {
  // The kernel gives an IPv6 route added with no metric (or 0) metric 1024 (IP6_RT_PRIO_USER).
  const planned = tw('fd00:99::/64', 'fd00:1::2');
  const kernel: Route = { ...planned, metric: 1024, table: 254 };
  assert.ok(isEmpty(diffRoutes([kernel], [planned])));
  const unreachable: Route = { ...tw('fd00:98::/64', undefined, 'unreachable'), dev: 'lo', metric: 1024 };
  assert.ok(isEmpty(diffRoutes([unreachable], [tw('fd00:98::/64', undefined, 'unreachable')])));
  // IPv4 keeps metric 0 distinct from 1024.
  assert.equal(diffRoutes([{ ...tw('10.0.0.0/8', '172.18.0.2'), metric: 1024 }], [tw('10.0.0.0/8', '172.18.0.2')]).del.length, 1);
});
