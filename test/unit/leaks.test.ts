// The leak checks: when a routed container's DNS lookups leave from the Docker
// host (dns-leak), when its IPv6 bypasses its gateway (ipv6-bypass), what
// twine.dns=required refuses, and what twine.ipv6=block plans.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerInfo } from '../../src/docker/container.js';
import { toContainerInfo } from '../../src/docker/inventory.js';
import { LabelError } from '../../src/errors.js';
import { parseLabels } from '../../src/labels/parse.js';
import { planContainer } from '../../src/engine/planner.js';
import { dnsPath, engineMajor, ipv6Bypass, leakWarnings } from '../../src/resolve/leaks.js';
import { renderDetail } from '../../src/cli/status.js';
import { renderTable } from '../../src/server/table.js';
import { containerDoc } from '../../src/server/api.js';
import { startedContainer } from '../fixtures/inspect.js';

const GW: ContainerInfo = {
  id: 'g'.repeat(64),
  name: 'gw',
  pid: 20,
  running: true,
  labels: { 'twine.nat.interfaces': 'wg+' },
  networkMode: 'vpnnet',
  dnsServers: [],
  networks: [{ networkId: 'n1', networkName: 'vpnnet', ipv4: '172.30.0.2', ipv4PrefixLen: 16, gatewayV4: '172.30.0.1', aliases: [], dnsNames: ['gw'], iface: 'eth0' }],
};

function app(labels: Record<string, string>, over: Partial<ContainerInfo> = {}): ContainerInfo {
  return {
    id: 'a'.repeat(64),
    name: 'app',
    pid: 10,
    running: true,
    labels,
    networkMode: 'vpnnet',
    dnsServers: [],
    networks: [
      {
        networkId: 'n1',
        networkName: 'vpnnet',
        ipv4: '172.30.0.3',
        ipv4PrefixLen: 16,
        gatewayV4: '172.30.0.1',
        ipv6: 'fd00:30::3',
        ipv6PrefixLen: 64,
        gatewayV6: 'fd00:30::1',
        aliases: [],
        dnsNames: ['app'],
        iface: 'eth0',
      },
    ],
    ...over,
  };
}

const FULL = { 'twine.route.0.0.0.0/0': 'gw' };
const HALVES = { 'twine.route.0.0.0.0/1': 'gw', 'twine.route.128.0.0.0/1': 'gw' };

function leaks(c: ContainerInfo, version: string | undefined): string[] {
  return leakWarnings(c, parseLabels(c.name, c.labels), version).map((w) => w.leak ?? '');
}

test('engineMajor reads Docker version strings', () => {
  assert.equal(engineMajor('28.5.2'), 28);
  assert.equal(engineMajor('28.5.2+dfsg4'), 28);
  assert.equal(engineMajor('20.10.24+dfsg1'), 20);
  assert.equal(engineMajor('v27.1.0'), 27);
  assert.equal(engineMajor('dev'), undefined);
  assert.equal(engineMajor(undefined), undefined);
});

test('dns-leak: exactly a container on a user-defined network, without DNS servers of its own, routing all of IPv4 via a gateway, on Docker 28+', () => {
  assert.deepEqual(leaks(app(FULL), '28.5.2'), ['dns-leak', 'ipv6-bypass']);
  assert.deepEqual(leaks(app(HALVES), '28.5.2'), ['dns-leak', 'ipv6-bypass'], 'two /1 routes are a full tunnel too');
  assert.deepEqual(leaks(app(FULL), '29.0.0'), ['dns-leak', 'ipv6-bypass']);
  // No leak:
  assert.deepEqual(leaks(app(FULL), '20.10.24'), ['ipv6-bypass'], 'Docker 20.10 forwards from the container\'s namespace');
  assert.deepEqual(leaks(app(FULL), '27.5.1'), ['ipv6-bypass']);
  assert.deepEqual(leaks(app(FULL, { dnsServers: ['10.64.0.1'] }), '28.5.2'), ['ipv6-bypass'], 'dns: servers of its own');
  assert.deepEqual(leaks(app({ 'twine.route.10.0.0.0/8': 'gw' }), '28.5.2'), [], 'only part of IPv4 via the gateway');
  assert.deepEqual(leaks(app({ 'twine.route.0.0.0.0/1': 'gw' }), '28.5.2'), [], 'half of IPv4');
  assert.deepEqual(leaks(app(FULL, { networkMode: 'bridge' }), '28.5.2'), ['ipv6-bypass'], 'the default bridge has no embedded resolver');
  assert.deepEqual(leaks(app(FULL), undefined), ['ipv6-bypass'], 'engine version not known: nothing claimed');
  assert.deepEqual(leaks(app(FULL, { dnsServers: undefined }), '28.5.2'), ['ipv6-bypass'], 'not inspected yet: nothing claimed');
  assert.deepEqual(leaks(GW, '28.5.2'), [], 'a gateway routes nothing via another');
});

test('dnsPath: unknown facts are "unknown", not "no leak"', () => {
  const spec = parseLabels('app', FULL);
  assert.equal(dnsPath(app(FULL), spec, undefined).leak, 'unknown');
  assert.equal(dnsPath(app(FULL, { dnsServers: undefined }), spec, '28.5.2').leak, 'unknown');
  assert.equal(dnsPath(app(FULL, { dnsServers: undefined }), spec, '20.10.24').leak, false);
  assert.equal(dnsPath(app(FULL), spec, '28.5.2').leak, true);
});

test('ipv6-bypass: a global IPv6 address, all of IPv4 via a gateway, no ::/0; not with twine.ipv6 or a ::/0 route', () => {
  const v6 = (labels: Record<string, string>, over: Partial<ContainerInfo> = {}): string | undefined => ipv6Bypass(app(labels, over), parseLabels('app', labels));
  assert.equal(v6(FULL), 'fd00:30::3');
  assert.equal(v6({ ...FULL, 'twine.route.::/0': 'gw' }), undefined);
  assert.equal(v6({ ...FULL, 'twine.route.::/1': 'gw', 'twine.route.8000::/1': 'gw' }), undefined);
  assert.equal(v6({ ...FULL, 'twine.ipv6': 'block' }), undefined);
  assert.equal(v6({ ...FULL, 'twine.ipv6': 'allow' }), undefined);
  assert.equal(v6({ 'twine.route.10.0.0.0/8': 'gw' }), undefined);
  const noV6 = app(FULL);
  noV6.networks = noV6.networks.map(({ ipv6: _a, ipv6PrefixLen: _b, gatewayV6: _c, ...n }) => n);
  assert.equal(ipv6Bypass(noV6, parseLabels('app', FULL)), undefined, 'no IPv6 address');
});

test('labels: twine.dns and twine.ipv6 values are checked; block contradicts a ::/0 route', () => {
  assert.equal(parseLabels('app', { 'twine.dns': 'required' }).dns, 'required');
  assert.equal(parseLabels('app', { 'twine.ipv6': ' block ' }).ipv6, 'block');
  for (const [labels, key, re] of [
    [{ 'twine.dns': 'on' }, 'twine.dns', /must be required/],
    [{ 'twine.ipv6': 'off' }, 'twine.ipv6', /must be block .* or allow/],
    [{ 'twine.ipv6': 'block', 'twine.route.::/0': 'gw' }, 'twine.ipv6', /contradicts twine.route.::\/0/],
  ] as const) {
    assert.throws(
      () => parseLabels('app', labels),
      (e: unknown) => e instanceof LabelError && e.issues.some((i) => i.container === 'app' && i.key === key && re.test(i.reason)),
    );
  }
});

test('twine.dns=required: refused (naming container and label, and the fix) exactly when the lookups would leave from the host', () => {
  const labels = { ...FULL, 'twine.dns': 'required', 'twine.ipv6': 'block' };
  const plan = (c: ContainerInfo, dockerVersion?: string): unknown => planContainer(c, { containers: [c, GW] }, { allowHostRoutes: false, ...(dockerVersion ? { dockerVersion } : {}) });
  const refused = (c: ContainerInfo, v: string | undefined, re: RegExp): void =>
    assert.throws(
      () => plan(c, v),
      (e: unknown) => e instanceof LabelError && e.container === 'app' && e.issues.length === 1 && e.issues[0]!.key === 'twine.dns' && re.test(e.issues[0]!.reason) && /app/.test(e.message),
    );
  refused(app(labels), '28.5.2', /leave from the Docker host.*give the container dns: servers reachable through its gateway/);
  refused(app(labels), undefined, /version is not known/);
  refused(app(labels, { dnsServers: undefined }), '28.5.2', /not inspected/);
  assert.doesNotThrow(() => plan(app(labels, { dnsServers: ['10.64.0.1'] }), '28.5.2'));
  assert.doesNotThrow(() => plan(app(labels), '20.10.24'));
});

test('planContainer: the leak warnings are in the outcome, the desired state, status, the table and the API document', () => {
  const c = app(FULL);
  const o = planContainer(c, { containers: [c, GW] }, { allowHostRoutes: false, dockerVersion: '28.5.2' });
  assert.deepEqual(o.warnings.map((w) => [w.key, w.leak]), [['twine.dns', 'dns-leak'], ['twine.ipv6', 'ipv6-bypass']]);
  assert.deepEqual(o.desired.warnings, o.warnings);
  assert.match(o.warnings[0]!.message, /give the container dns: servers reachable through its gateway/);
  const quiet = planContainer(c, { containers: [c, GW] }, { allowHostRoutes: false, dockerVersion: '20.10.24' });
  assert.deepEqual(quiet.warnings.map((w) => w.leak), ['ipv6-bypass']);

  const doc = containerDoc({ id: c.id, name: c.name, running: true, labels: c.labels, labelErrors: [], warnings: o.warnings, desired: o.desired, plan: o.plan });
  assert.deepEqual(doc.warnings.map((w) => w.leak), ['dns-leak', 'ipv6-bypass']);
  const detail = renderDetail(doc);
  assert.match(detail, /^warning: dns-leak: app's DNS lookups leak: Docker 28\.5\.2 forwards/m);
  assert.match(detail, /^warning: ipv6-bypass: app has the IPv6 address fd00:30::3/m);
  assert.match(renderTable([doc]), /warning: dns-leak, ipv6-bypass \(twine status app\)/);
});

test('twine.ipv6=block: an unreachable ::/0 of Twine\'s (Docker\'s IPv6 default route comes back without it); on-link routes untouched; published ports still answered over IPv6', () => {
  // It publishes a port; the host's bridge (its MAC by Docker's gateway address) is known.
  const c = { ...app({ ...FULL, 'twine.ipv6': 'block' }), published: [{ proto: 'tcp' as const, port: 80 }] };
  const bridgeMacs = new Map([['fd00:30::1', '02:42:0a:00:00:01']]);
  const o = planContainer(c, { containers: [c, GW], bridgeMacs }, { allowHostRoutes: false, dockerVersion: '28.5.2' });
  const v6 = o.plan.routes.filter((r) => r.family === 6);
  assert.deepEqual(v6.filter((r) => r.table === undefined), [{ family: 6, dst: '::/0', type: 'unreachable', protocol: 74 }]);
  assert.ok(v6.some((r) => r.table !== undefined && r.gateway === 'fd00:30::1'), 'replies to what came in through Docker go back through its gateway');
  assert.ok(o.plan.defaultRoutes.some((r) => r.family === 6 && r.gateway === 'fd00:30::1'), 'Docker\'s IPv6 default route is known, to restore');
  assert.deepEqual(o.warnings.map((w) => w.leak), ['dns-leak']);
  // Without IPv6 addresses there is nothing to block (and IPv6 may be off in the namespace).
  const noV6 = { ...c, networks: c.networks.map(({ ipv6: _a, ipv6PrefixLen: _b, gatewayV6: _c, ...n }) => n) };
  const o2 = planContainer(noV6, { containers: [noV6, GW] }, { allowHostRoutes: false });
  assert.deepEqual(o2.plan.routes.filter((r) => r.family === 6), []);
});

test('inspect: HostConfig.Dns becomes dnsServers ([] when absent or null); no HostConfig leaves it unknown', () => {
  const base = startedContainer();
  assert.deepEqual(toContainerInfo({ ...base, HostConfig: { NetworkMode: 'twt-fx-a', Dns: ['10.64.0.1'] } }).dnsServers, ['10.64.0.1']);
  assert.deepEqual(toContainerInfo({ ...base, HostConfig: { NetworkMode: 'twt-fx-a', Dns: null } }).dnsServers, []);
  assert.deepEqual(toContainerInfo({ ...base, HostConfig: { NetworkMode: 'twt-fx-a' } }).dnsServers, []);
  assert.equal(toContainerInfo(base).dnsServers, undefined);
});
