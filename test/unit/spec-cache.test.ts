// Each container's labels are parsed once: the planner, the resolver (does a
// forward's destination route back through us?) and the early start path share
// one SpecCache, and Spec carries the parsed iptables rules the resolver uses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerInfo, Inventory, NetworkAttachment } from '../../src/docker/container.js';
import { planContainer } from '../../src/engine/planner.js';
import { LabelError } from '../../src/errors.js';
import { parseLabels } from '../../src/labels/parse.js';
import { SpecCache, type LabelParser } from '../../src/labels/spec-cache.js';
import type { DesiredState } from '../../src/resolve/desired.js';
import { resolve } from '../../src/resolve/resolve.js';
import { FakeBed } from '../fakes/index.js';

function attach(ip: string): NetworkAttachment {
  return { networkId: 'n1', networkName: 'lan', ipv4: ip, ipv4PrefixLen: 24, gatewayV4: '10.9.0.1', aliases: [], dnsNames: [], iface: 'eth0' };
}

function ctr(name: string, ip: string, labels: Record<string, string>): ContainerInfo {
  return { id: `id-${name}`, name, pid: 1, running: true, labels, networks: [attach(ip)] };
}

/** A parser that records what it was asked to parse. */
function counting(): { parse: LabelParser; calls: { name: string; labels: Record<string, string> }[] } {
  const calls: { name: string; labels: Record<string, string> }[] = [];
  return {
    calls,
    parse: (name, labels, limits) => {
      calls.push({ name, labels });
      return parseLabels(name, labels, limits);
    },
  };
}

/** A gateway forwarding to two apps that route everything back through it, and an app with invalid labels. */
function snapshot(): Inventory {
  return {
    containers: [
      ctr('gw', '10.9.0.2', {
        'twine.nat.interfaces': 'wg0',
        'twine.nat.forward.8080': 'app1:80',
        'twine.nat.forward.8081': 'app2:80',
        'twine.nat.forward.8082': 'app1:81',
        'twine.iptables.rule.ssh': 'TWINE_INPUT -s app1 -p tcp --dport 22 -j ACCEPT',
      }),
      ctr('app1', '10.9.0.3', { 'twine.route.0.0.0.0/0': 'gw' }),
      ctr('app2', '10.9.0.4', { 'twine.route.0.0.0.0/0': 'gw' }),
      ctr('bad', '10.9.0.5', { 'twine.route.10.0.0.1/8': 'gw' }),
    ],
  };
}

test('one snapshot planned container by container: every container parsed once, the forwards see the targets\' specs', () => {
  const inv = snapshot();
  const { parse, calls } = counting();
  const specs = new SpecCache(undefined, parse);
  const errors: string[] = [];
  for (const c of inv.containers) {
    try {
      const o = planContainer(c, inv, { allowHostRoutes: false, specs });
      if (c.name === 'gw') {
        // The targets route everything via gw: no masquerade, which only their own labels say.
        assert.deepEqual(
          o.desired.forwards.map((f) => [f.label, f.targets.map((t) => t.masquerade)]),
          [
            ['twine.nat.forward.8080', [false]],
            ['twine.nat.forward.8081', [false]],
            ['twine.nat.forward.8082', [false]],
          ],
        );
      }
    } catch (e) {
      if (!(e instanceof LabelError)) throw e;
      errors.push(e.message);
    }
  }
  assert.deepEqual(calls.map((c) => c.name).sort(), ['app1', 'app2', 'bad', 'gw']);
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /^container bad: 1 invalid label:\n {2}twine\.route\.10\.0\.0\.1\/8="gw": "10\.0\.0\.1\/8" has host bits set/);
  // Asked again (another plan of the same snapshot): no new parse, the same error.
  assert.throws(() => planContainer(inv.containers[3]!, inv, { allowHostRoutes: false, specs }), (e) => e instanceof LabelError && e.message === errors[0]);
  planContainer(inv.containers[1]!, inv, { allowHostRoutes: false, specs });
  assert.equal(calls.length, 4);
});

test('a container read again (a new labels record) or renamed is parsed again, under its new name', () => {
  const { parse, calls } = counting();
  const specs = new SpecCache(undefined, parse);
  const bad = ctr('bad', '10.9.0.5', { 'twine.route.10.0.0.1/8': 'gw' });
  assert.throws(() => specs.specOf(bad), /container bad:/);
  assert.throws(() => specs.specOf({ ...bad, name: 'renamed' }), /container renamed:/);
  assert.throws(() => specs.specOf({ ...bad, labels: { ...bad.labels } }), /container bad:/);
  assert.deepEqual(
    calls.map((c) => c.name),
    ['bad', 'renamed', 'bad'],
  );
});

test('Spec carries the parsed rule: the resolver translates it without reading the words again', () => {
  const inv = snapshot();
  const gw = inv.containers[0]!;
  const spec = parseLabels(gw.name, gw.labels);
  const rule = spec.rules[0]!;
  assert.deepEqual(rule.parsed.refs, ['app1']);
  const expected = resolve(gw, spec, inv).desired.rules;
  assert.equal(expected[0]?.state, 'up');
  // Words the parser would refuse: the resolver does not look at them.
  const tampered = { ...spec, rules: [{ ...rule, args: ['--no-such-option'] }] };
  assert.deepEqual(resolve(gw, tampered, inv).desired.rules, expected);
});

test('the engine parses each container version once: planner and resolver share the store\'s parsed labels', async () => {
  const { parse, calls } = counting();
  const bed = new FakeBed({}, { parseLabels: parse });
  bed.network('lan', '172.30.7.0/24');
  const id = (n: number) => `bbbb${String(n).padStart(60, '0')}`;
  bed.create({ id: id(1), name: 'gw', labels: { 'twine.nat.interfaces': 'eth0', 'twine.nat.forward.8080': 'app1:80', 'twine.nat.forward.8081': 'app2:80' }, networks: [{ network: 'lan', ip: '172.30.7.2' }] });
  bed.create({ id: id(2), name: 'app1', labels: { 'twine.route.0.0.0.0/0': 'gw' }, networks: [{ network: 'lan', ip: '172.30.7.3' }] });
  bed.create({ id: id(3), name: 'app2', labels: { 'twine.route.0.0.0.0/0': 'gw' }, networks: [{ network: 'lan', ip: '172.30.7.4' }] });
  for (const n of [1, 2, 3]) bed.run(id(n));
  await bed.engine.syncAll('start-up');
  await bed.settle();
  assert.deepEqual(bed.txs.map((t) => [t.container, t.result]).sort(), [['app1', 'applied'], ['app2', 'applied'], ['gw', 'applied']]);
  // gw's plan asked for app1's and app2's specs (their routes decide the masquerade), and each planned itself.
  const gw = bed.engine.container('gw')?.desired as DesiredState | undefined;
  assert.deepEqual(gw?.forwards.map((f) => f.targets.map((t) => t.masquerade)), [[false], [false]]);
  for (const name of ['gw', 'app1', 'app2']) assert.ok(calls.some((c) => c.name === name), `${name} parsed`);
  const twice = calls.filter((c, i) => calls.findIndex((d) => d.labels === c.labels && d.name === c.name) !== i);
  assert.deepEqual(twice.map((c) => c.name), [], 'a container version parsed more than once');
});
