// Golden plans: every scenario under test/fixtures/ compiles to exactly its
// expected.json. A deliberate change regenerates them with
// `npm run build && node scripts/regen-fixtures.mjs` (then review the diff).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadExpected, loadInput, renderExpected, runScenario, scenarioNames } from '../fixtures/scenarios.js';

const names = scenarioNames();

test('the seed examples and the extra scenarios are present', () => {
  for (const n of ['vpn', 'dnsmasq', 'vpn-down', 'dualstack', 'multinet', 'rules']) assert.ok(names.includes(n), n);
});

for (const name of names) {
  test(`golden plan: ${name}`, () => {
    const actual = JSON.parse(renderExpected(runScenario(loadInput(name)))) as unknown;
    assert.deepEqual(actual, loadExpected(name), `plan for ${name} changed; if on purpose: node scripts/regen-fixtures.mjs ${name}`);
  });
}

test('vpn: app routes 0.0.0.0/1 and 128.0.0.0/1 via vpn; vpn masquerades wg+ and forwards 9080 keeping the client address', () => {
  const r = runScenario(loadInput('vpn'));
  const app = r['vpn-app-1'];
  const vpn = r['vpn-vpn-1'];
  assert.ok(app && vpn);
  assert.deepEqual(
    app.plan.routes.slice(0, 2).map((x) => [x.dst, x.type, x.gateway, x.dev, x.protocol]),
    [
      ['0.0.0.0/1', 'unicast', '172.30.0.2', 'eth0', 74],
      ['128.0.0.0/1', 'unicast', '172.30.0.2', 'eth0', 74],
    ],
  );
  // Published ports keep answering through Docker: replies to what arrives on eth0 are marked and routed by table 7474.
  assert.deepEqual(app.plan.routes.slice(2).map((x) => [x.dst, x.gateway, x.dev, x.table]), [['0.0.0.0/0', '172.30.0.1', 'eth0', 7474]]);
  assert.deepEqual(app.plan.rules, [{ family: 4, priority: 7474, table: 7474, fwmark: 0x20000000, fwmask: 0x20000000, protocol: 74 }]);
  assert.deepEqual(
    app.plan.table.chains.filter((c) => ['REPLY_MARK', 'REPLY_ROUTE'].includes(c.name)).map((c) => c.base),
    [
      { type: 'filter', hook: 'prerouting', prio: -150 },
      { type: 'route', hook: 'output', prio: -150 },
    ],
  );
  assert.deepEqual(vpn.plan.sysctls, [{ key: 'net.ipv4.ip_forward', value: '1' }]);
  const post = vpn.plan.table.chains.find((c) => c.name === 'POSTROUTING');
  const pre = vpn.plan.table.chains.find((c) => c.name === 'PREROUTING');
  assert.ok(post && pre);
  assert.deepEqual(post.rules[1]?.expr, [{ match: { op: '==', left: { meta: { key: 'oifname' } }, right: 'wg*' } }, { masquerade: null }]);
  // app routes everything via vpn, so no masquerade toward app
  assert.equal(post.rules.length, 2);
  assert.deepEqual(pre.rules[1]?.expr.at(-1), { dnat: { family: 'ip', addr: '172.30.0.3', port: 9080 } });
  assert.equal(vpn.desired.forwards[0]?.targets[0]?.masquerade, false);
});

test('dnsmasq: lo 5353/udp to traefik via route_localnet and a loopback-source masquerade', () => {
  const d = runScenario(loadInput('dnsmasq'))['acme-dnsmasq-1'];
  assert.ok(d);
  assert.ok(d.plan.sysctls.some((s) => s.key === 'net.ipv4.conf.all.route_localnet' && s.value === '1'));
  const out = d.plan.table.chains.find((c) => c.name === 'OUTPUT_NAT');
  assert.deepEqual(out?.rules[1]?.expr, [
    { match: { op: '==', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: { prefix: { addr: '127.0.0.0', len: 8 } } } },
    { match: { op: '==', left: { payload: { protocol: 'udp', field: 'dport' } }, right: 5353 } },
    { dnat: { family: 'ip', addr: '172.31.0.3', port: 5353 } },
  ]);
  assert.equal(d.plan.table.chains.find((c) => c.name === 'PREROUTING')?.rules.length, 1);
});
