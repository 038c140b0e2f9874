// Per-container limits (labels, routes, rules after expansion) and the
// overlap check's scaling: errors name the container, a label and the limit.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LabelError } from '../../src/errors.js';
import { planContainer } from '../../src/engine/planner.js';
import { DEFAULT_LIMITS } from '../../src/labels/limits.js';
import { MAX_ISSUES, parseLabels } from '../../src/labels/parse.js';
import type { ContainerInfo } from '../../src/docker/container.js';

function ctr(labels: Record<string, string>): ContainerInfo {
  return {
    id: 'id-c1',
    name: 'c1',
    pid: 100,
    running: true,
    labels,
    networks: [{ networkId: 'n', networkName: 'n', ipv4: '10.0.0.2', ipv4PrefixLen: 24, gatewayV4: '10.0.0.1', aliases: [], dnsNames: [], iface: 'eth0' }],
  };
}

function refused(f: () => unknown): LabelError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof LabelError, `expected a LabelError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a LabelError');
}

/** k forwards of 256 ports each, shifted (one rule per port and chain), on interfaces e0, e1, … */
function shifted(k: number, last = 1255): Record<string, string> {
  const labels: Record<string, string> = {};
  for (let i = 0; i < k; i++) labels[`twine.nat.forward.e${i}.1000-${i === k - 1 ? last : 1255}`] = '10.0.0.9:2000';
  return labels;
}

const ruleCount = (labels: Record<string, string>, rules = DEFAULT_LIMITS.rules): number => {
  const c = ctr(labels);
  const p = planContainer(c, { containers: [c] }, { allowHostRoutes: false, limits: { ...DEFAULT_LIMITS, rules } }).plan;
  return p.table.chains.reduce((n, ch) => n + ch.rules.length, 0) - 6;
};

test('the hostile set (80 shifted 256-port forwards, 20,743 rules) is refused: the error names the container, the limit and the labels', () => {
  const labels = shifted(80);
  const c = ctr(labels);
  const e = refused(() => planContainer(c, { containers: [c] }, { allowHostRoutes: false }));
  assert.equal(e.container, 'c1');
  assert.equal(e.issues.length, 1);
  const i = e.issues[0]!;
  assert.match(i.key, /^twine\.nat\.forward\.e\d+\.1000-1255$/);
  assert.equal(i.value, '10.0.0.9:2000');
  assert.match(i.reason, /more than 4096 firewall rules/);
  assert.match(i.reason, /--max-rules or TWINE_MAX_RULES raises it/);
  assert.match(i.reason, /up to 513/);
  assert.match(i.reason, /and 77 more labels/);
  assert.match(e.message, /^container c1: 1 invalid label/);
  // Raised far enough, the same set compiles: 20,743 rules less the 6 base-chain jumps.
  assert.equal(ruleCount(labels, 30_000), 20_743 - 6);
});

test('a set just under the rule limit compiles; one rule more is refused', () => {
  // 14 × 256 + 254 PREROUTING, 256 OUTPUT_NAT (shared by all), 2 masquerade (one per destination range): 4,096 rules.
  assert.equal(ruleCount(shifted(15, 1253)), 4096);
  const c = ctr(shifted(15, 1254));
  refused(() => planContainer(c, { containers: [c] }, { allowHostRoutes: false }));
});

test('twine.* labels per container: over the limit the container is refused before any label is parsed', () => {
  const labels: Record<string, string> = { 'com.example.other': 'x'.repeat(10) };
  for (let i = 0; i < 1025; i++) labels[`twine.route.10.${i >> 8}.${i & 255}.0/24`] = '10.0.0.3';
  const e = refused(() => parseLabels('c1', labels));
  assert.equal(e.issues.length, 1);
  assert.match(e.issues[0]!.reason, /1025 twine\.\* labels, more than the limit of 1024/);
  assert.match(e.issues[0]!.reason, /--max-labels or TWINE_MAX_LABELS/);
  assert.ok(e.issues[0]!.key.startsWith('twine.route.'));
  // Raised, it parses.
  assert.equal(parseLabels('c1', labels, { labels: 2000, routes: 2000 }).routes.length, 1025);
});

test('routes per container: twine.route.* and the CIDRs of twine.host.routes count together', () => {
  const labels: Record<string, string> = { 'twine.host.routes': '10.200.0.0/24,10.201.0.0/24' };
  for (let i = 0; i < 9; i++) labels[`twine.route.10.9.${i}.0/24`] = '10.0.0.3';
  const e = refused(() => parseLabels('c1', labels, { labels: 100, routes: 10 }));
  assert.equal(e.issues[0]!.key, 'twine.host.routes');
  assert.match(e.issues[0]!.reason, /11 routes .*more than the limit of 10 .*--max-routes or TWINE_MAX_ROUTES/);
  for (let i = 9; i < 12; i++) labels[`twine.route.10.9.${i}.0/24`] = '10.0.0.3';
  assert.equal(refused(() => parseLabels('c1', labels, { labels: 100, routes: 10 })).issues[0]!.key, 'twine.route.10.9.8.0/24');
  assert.equal(parseLabels('c1', labels, { labels: 100, routes: 14 }).routes.length, 12);
});

test('value length: over 4096 characters is refused with the label named', () => {
  const e = refused(() => parseLabels('c1', { 'twine.iptables.rule.a': `TWINE_INPUT -m comment --comment ${'x'.repeat(5000)} -j ACCEPT` }));
  assert.equal(e.issues[0]!.key, 'twine.iptables.rule.a');
  assert.match(e.issues[0]!.reason, /longer than 4096/);
  assert.ok(e.issues[0]!.value.length <= 201, 'the value is quoted shortened');
});

test('at most MAX_ISSUES problems are listed, then how many more', () => {
  const labels: Record<string, string> = {};
  for (let i = 0; i < 300; i++) labels[`twine.bogus.${i}`] = 'x';
  const e = refused(() => parseLabels('c1', labels));
  assert.equal(e.issues.length, MAX_ISSUES + 1);
  assert.match(e.issues[MAX_ISSUES]!.reason, /^200 more problems not listed$/);
});

test('forward overlaps: each overlapping forward is named with one it overlaps, whatever the order; disjoint ones pass', () => {
  const e = refused(() =>
    parseLabels('c1', {
      'twine.nat.forward.100-200': '10.0.0.9',
      'twine.nat.forward.150': '10.0.0.9',
      'twine.nat.forward.250-300': '10.0.0.9',
      'twine.nat.forward.300-310': '10.0.0.9',
      'twine.nat.forward.400/udp': '10.0.0.9',
      'twine.nat.forward.400': '10.0.0.9',
      'twine.nat.forward.eth0.150': '10.0.0.9',
    }),
  );
  assert.deepEqual(
    e.issues.map((i) => `${i.key} ${i.reason}`).sort(),
    [
      'twine.nat.forward.150 overlaps twine.nat.forward.100-200 (same interfaces, protocol and ports)',
      'twine.nat.forward.300-310 overlaps twine.nat.forward.250-300 (same interfaces, protocol and ports)',
    ],
  );
  // 1,000 disjoint forwards on one interface: no overlap, and no pairwise comparison.
  const many: Record<string, string> = {};
  for (let i = 0; i < 1000; i++) many[`twine.nat.forward.${1000 + i}`] = '10.0.0.9';
  assert.equal(parseLabels('c1', many).forwards.length, 1000);
});
