// `twine status` and `twine healthcheck` through the CLI's main(), against a
// status server serving a fake daemon on a unix socket; and the table alone.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { main } from '../../src/cli/main.js';
import { Metrics } from '../../src/server/metrics.js';
import { startServer, type RunningServer } from '../../src/server/http.js';
import { containerDoc } from '../../src/server/api.js';
import { renderTable, formatLatency } from '../../src/server/table.js';
import { renderDetail } from '../../src/cli/status.js';
import type { ContainerState } from '../../src/engine/state.js';

const app: ContainerState = {
  id: 'a1b2c3d4e5f6',
  name: 'app',
  running: true,
  labels: { 'twine.route.0.0.0.0/1': 'vpn', 'twine.route.128.0.0.0/1': 'vpn' },
  desired: {
    natInterfaces: [],
    routes: [
      { label: 'twine.route.0.0.0.0/1', state: 'up' },
      { label: 'twine.route.128.0.0.0/1', state: 'down' },
    ],
    forwards: [],
    rules: [{ label: 'twine.iptables.rule.a', state: 'up' }],
    hostRoutes: [],
  },
  applied: { container: { id: 'a1b2', name: 'app', pid: 1 }, ns: { pid: 1 }, sysctls: [], routes: [], defaultRoutes: [], table: { chains: [] }, hostRoutes: [] },
  labelErrors: [],
  warnings: [],
  lastLatencyMs: 4.25,
};
const vpn: ContainerState = {
  id: 'b1b2c3d4e5f6',
  name: 'vpn',
  running: true,
  labels: { 'twine.nat.interfaces': 'wg+', 'twine.nat.forward.wg+.9080': 'app:9080' },
  desired: { natInterfaces: ['wg+'], routes: [], forwards: [{ label: 'twine.nat.forward.wg+.9080', state: 'up', targets: [] }], rules: [], hostRoutes: [] },
  applied: app.applied!,
  labelErrors: [],
  warnings: [],
  lastLatencyMs: 1234,
};
const broken: ContainerState = {
  id: 'c1b2c3d4e5f6',
  name: 'broken',
  running: true,
  labels: { 'twine.rout.10.0.0.0/8': 'vpn' },
  labelErrors: [{ container: 'broken', key: 'twine.rout.10.0.0.0/8', value: 'vpn', reason: 'unknown twine label' }],
  lastError: 'container broken: 1 invalid label',
  warnings: [],
};

describe('status table', () => {
  it('renders one aligned line per container, the error naming the label', () => {
    const t = renderTable([app, broken, vpn].map(containerDoc));
    assert.equal(
      t,
      [
        'CONTAINER  STATE    ROUTES      FORWARDS  RULES  LATENCY  ERROR',
        'app        applied  2 (1 down)  -         1      4.3 ms',
        'broken     invalid  -           -         -      -        twine.rout.10.0.0.0/8: unknown twine label',
        'vpn        applied  -           1         -      1234 ms',
        '',
      ].join('\n'),
    );
  });
  it('control characters in labels, names and errors reach the terminal escaped, in the table and in the detail (ESC [2J, a line break, C1 CSI, a bidi override)', () => {
    const evil: ContainerState = {
      id: 'e1b2c3d4e5f6',
      name: 'evil',
      running: true,
      labels: { 'twine.route.10.0.0.0/8': 'vpn\u001b[2J', 'twine.x\u001b[31m': 'a\nstatus: applied', 'twine.y': '\u009b2J\u202e' },
      labelErrors: [{ container: 'evil', key: 'twine.x\u001b[31m', value: 'a\nb', reason: 'unknown twine label \u001b[2J' }],
      lastError: 'container evil: \u001b]0;title\u0007',
      warnings: [],
    };
    const doc = containerDoc(evil);
    for (const text of [renderTable([doc]), renderDetail(doc)]) {
      // eslint-disable-next-line no-control-regex -- looking for control characters
      assert.doesNotMatch(text, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/, JSON.stringify(text));
    }
    const detail = renderDetail(doc);
    assert.match(detail, /^ {2}twine\.route\.10\.0\.0\.0\/8=vpn\\x1b\[2J$/m);
    assert.match(detail, /^ {2}twine\.x\\x1b\[31m=a\\nstatus: applied$/m, 'a line break in a value does not start a line of its own');
    assert.match(detail, /^ {2}twine\.y=\\x9b2J\\u202e$/m);
    assert.match(renderTable([doc]), /unknown twine label \\x1b\[2J/);
  });
  it('a refused container: state refused, the reason in the table, the API document and the detail', () => {
    const msg = "network_mode host: Twine writes only into a container's own network namespace";
    const refused: ContainerState = { id: 'c1c2c3d4e5f6', name: 'hostnet', running: true, labels: {}, labelErrors: [], warnings: [], lastError: msg, refusal: { reason: 'network_mode', message: msg } };
    const doc = containerDoc(refused);
    assert.equal(doc.status, 'refused');
    assert.deepEqual(doc.refusal, { reason: 'network_mode', message: msg });
    assert.match(renderTable([doc]), new RegExp(`^hostnet +refused .*${msg}$`, 'm'));
    assert.match(renderDetail(doc), new RegExp(`refused \\(nothing written\\):\n  ${msg}`));
    assert.doesNotMatch(renderDetail(doc), /rolled back/);
  });
  it('says so when there is nothing to show', () => {
    assert.equal(renderTable([]), 'no containers with twine.* labels\n');
  });
  it('formats latencies from sub-ms to seconds', () => {
    assert.equal(formatLatency(0.42), '0.4 ms');
    assert.equal(formatLatency(37.6), '38 ms');
    assert.equal(formatLatency(12_345), '12.3 s');
    assert.equal(formatLatency(undefined), '-');
  });
});

describe('twine status / twine healthcheck', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'twt-cli-'));
  const socket = path.join(dir, 'twine.sock');
  const view = {
    reconciled: false,
    connected: true,
    down: undefined as { since: number; reason?: string } | undefined,
    dockerDown(): { since: number; reason?: string } | undefined {
      return this.connected ? undefined : this.down;
    },
    containers: () => [app, broken, vpn],
    container: (x: string) => [app, broken, vpn].find((c) => c.name === x || c.id.startsWith(x)),
    dockerConnected(): boolean {
      return this.connected;
    },
    killSwitchDrops: async (c: ContainerState) => (c.name === 'vpn' ? 3 : undefined),
  };
  let srv: RunningServer;

  async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await main(argv, { stdout: (t) => (out += t), stderr: (t) => (err += t), env: {} });
    return { code, out, err };
  }

  before(async () => {
    srv = await startServer({ view, metrics: new Metrics({ defaultMetrics: false }), listen: 'none', socket });
  });
  after(async () => {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('status prints the table from the daemon', async () => {
    const r = await cli('status', '--socket', socket);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, renderTable([app, broken, vpn].map(containerDoc)));
  });

  it('status --json prints the API documents; status <name> the details', async () => {
    const j = await cli('status', '--socket', socket, '--json');
    assert.equal(j.code, 0);
    const docs = JSON.parse(j.out) as { name: string; status: string }[];
    assert.deepEqual(docs.map((d) => `${d.name}:${d.status}`), ['app:applied', 'broken:invalid', 'vpn:applied']);
    const d = await cli('status', '--socket', socket, 'broken');
    assert.equal(d.code, 0);
    assert.match(d.out, /label errors \(nothing applied, last good state kept\):\n {2}twine\.rout\.10\.0\.0\.0\/8="vpn": unknown twine label/);
    const gw = await cli('status', '--socket', socket, 'vpn');
    assert.match(gw.out, /kill switch: {3}3 packets dropped/, gw.err);
    assert.doesNotMatch(d.out, /kill switch/);
    const missing = await cli('status', '--socket', socket, 'nope');
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no container "nope"/);
  });

  it('healthcheck exits 1 with the reason until healthy, then 0', async () => {
    view.reconciled = false;
    let r = await cli('healthcheck', '--socket', socket);
    assert.equal(r.code, 1);
    assert.equal(r.err, 'unhealthy: first reconcile not finished\n');
    view.reconciled = true;
    r = await cli('healthcheck', '--socket', socket);
    assert.equal(r.code, 0);
    assert.equal(r.out, 'healthy: docker connected, 3 container(s), 1 with errors\n');
    r = await cli('healthcheck', '--socket', socket, '-q');
    assert.equal(r.code, 0);
    assert.equal(r.out, '');
  });

  it('both exit 1 when no daemon answers, naming the socket; 2 on a bad option', async () => {
    const gone = path.join(dir, 'absent.sock');
    const h = await cli('healthcheck', '--socket', gone);
    assert.equal(h.code, 1);
    assert.match(h.err, /cannot reach twine at unix socket .*absent\.sock.*is `twine start` running/);
    const s = await cli('status', '--socket', gone);
    assert.equal(s.code, 1);
    const u = await cli('status', '--url', 'ftp://x');
    assert.equal(u.code, 2);
    const t = await cli('healthcheck', '--timeout', 'soon');
    assert.equal(t.code, 2);
  });

  it('status says since when and why the daemon is not connected to Docker, and exits 1', async () => {
    view.connected = false;
    view.down = { since: Date.parse('2026-11-29T21:00:05.123Z'), reason: 'events: GET /events: connect ENOENT /var/run/docker.sock' };
    try {
      const r = await cli('status', '--socket', socket);
      assert.equal(r.code, 1);
      assert.match(r.err, /^docker: not connected since 2026-11-29T21:00:05Z \(events: GET \/events: connect ENOENT \/var\/run\/docker\.sock\)/);
      assert.equal(r.out, renderTable([app, broken, vpn].map(containerDoc)), 'the last known state is still shown');
      const one = await cli('status', '--socket', socket, 'app');
      assert.equal(one.code, 1);
      assert.match(one.err, /^docker: not connected since /);
      const h = await cli('healthcheck', '--socket', socket);
      assert.equal(h.code, 1);
      assert.match(h.err, /not connected since 2026-11-29T21:00:05Z \(events: GET \/events: connect ENOENT/);
    } finally {
      view.connected = true;
    }
    assert.equal((await cli('status', '--socket', socket)).code, 0);
  });

  it('status <name> shows each reference: what it resolved to, or why it is down', async () => {
    const doc = containerDoc({
      ...app,
      desired: {
        routes: [
          { label: 'twine.route.0.0.0.0/1', dest: 'vpn', state: 'up', gateway: '172.20.0.2', via: { id: 'f00d', name: 'vpn', network: 'front' } },
          { label: 'twine.route.10.0.0.0/8', dest: 'ghost', state: 'down', reason: 'no container named "ghost" (gateway down)' },
        ],
        forwards: [{ label: 'twine.nat.forward.80', dest: 'web', state: 'down', targets: [], reason: 'container "web" is not running (forward destination down)' }],
        rules: [{ label: 'twine.iptables.rule.a', state: 'down', reason: 'container "db" shares no network with app' }],
        hostRoutes: [],
      },
    });
    const text = renderDetail(doc);
    assert.match(text, /^references:$/m);
    assert.match(text, /^ {2}twine\.route\.0\.0\.0\.0\/1 → vpn: up, gateway 172\.20\.0\.2 \(vpn on front\)$/m);
    assert.match(text, /^ {2}twine\.route\.10\.0\.0\.0\/8 → ghost: down, no container named "ghost" \(gateway down\); the route is unreachable$/m);
    assert.match(text, /^ {2}twine\.nat\.forward\.80 → web: down, container "web" is not running \(forward destination down\); not forwarded$/m);
    assert.match(text, /^ {2}twine\.iptables\.rule\.a: down, container "db" shares no network with app; rule left out$/m);
  });

  it('--help documents the exit codes', async () => {
    const r = await cli('healthcheck', '--help');
    assert.match(r.out, /Exit codes:\n {2}0 {2}healthy\n {2}1 {2}unhealthy .*does not answer\n {2}2 {2}usage error/);
    assert.match(r.out, /TWINE_SOCKET/);
  });
});
