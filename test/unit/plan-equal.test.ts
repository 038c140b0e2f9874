// Plan equality (src/plan/equal.ts) and the container lookup by name or id
// (src/docker/container-ref.ts): the two comparisons the engine, the status
// API and the CLI share.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findByNameOrId } from '../../src/docker/container-ref.js';
import { BASE_CHAINS, makeRule } from '../../src/firewall/nft.js';
import { TWINE_RT_PROTO } from '../../src/netns/types.js';
import { planPartsDiffering, plansEqual, sameRoutes, sameValue } from '../../src/plan/equal.js';
import type { Plan } from '../../src/plan/types.js';

function plan(pid: number, dst = '10.9.0.0/16'): Plan {
  return {
    container: { id: 'c', name: 'c', pid: 42 },
    ns: { pid },
    sysctls: [{ key: 'net.ipv4.ip_forward', value: '1' }],
    routes: [{ family: 4, dst, type: 'unreachable', protocol: TWINE_RT_PROTO }],
    defaultRoutes: [],
    table: { chains: BASE_CHAINS.map((b) => ({ name: b.name, base: { type: b.type, hook: b.hook, prio: b.prio }, rules: [makeRule(b.name, [{ accept: null }])] })) },
    hostRoutes: [],
  };
}

test('plans are equal whatever namespace target they name, and differ by the part that differs', () => {
  assert.ok(plansEqual(plan(1), plan(2)));
  assert.ok(!plansEqual(plan(1), plan(1, '10.8.0.0/16')));
  assert.deepEqual(planPartsDiffering(plan(1), plan(2, '10.8.0.0/16')), ['routes']);
  const withRules = { ...plan(1), rules: [] };
  assert.deepEqual(planPartsDiffering(plan(1), withRules), ['rules']);
  assert.deepEqual(planPartsDiffering(withRules, plan(1)), ['rules']);
});

test('a property set to undefined is the same as one left out, and key order does not matter', () => {
  assert.ok(sameValue({ a: 1, b: undefined }, { a: 1 }));
  assert.ok(sameValue({ a: 1, b: [1, { c: 2, d: 3 }] }, { b: [1, { d: 3, c: 2 }], a: 1 }));
  assert.ok(!sameValue({ a: 1 }, { a: 1, b: 0 }));
  assert.ok(!sameValue([1, 2], [2, 1]));
  assert.ok(!sameValue([], {}));
  assert.ok(!sameValue(null, {}));
  const r = { family: 4 as const, dst: '10.1.0.0/16', type: 'unicast' as const, gateway: '172.18.0.2' };
  assert.ok(sameRoutes([r], [{ ...r, metric: undefined }]));
  assert.ok(!sameRoutes([r], [{ ...r, gateway: '172.18.0.3' }]));
});

test('a container is found by name, full id or an id prefix of at least 4 characters', () => {
  const cs = [
    { id: 'abcdef0123', name: 'web' },
    { id: '0123abcdef', name: 'abc' },
  ];
  assert.equal(findByNameOrId(cs, 'web')?.id, 'abcdef0123');
  assert.equal(findByNameOrId(cs, '0123abcdef')?.name, 'abc');
  assert.equal(findByNameOrId(cs, 'abcd')?.name, 'web');
  assert.equal(findByNameOrId(cs, 'abc')?.name, 'abc', 'three characters are a name, never an id prefix');
  assert.equal(findByNameOrId(cs, '012')?.name, undefined);
  assert.equal(findByNameOrId(cs, 'nope'), undefined);
});
