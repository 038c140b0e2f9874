// The status server against a fake DaemonView: every endpoint, 404/405,
// /healthz 503 → 200, the histogram count per transaction, over TCP and the unix socket.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Metrics } from '../../src/server/metrics.js';
import { startServer, parseListen, type RunningServer } from '../../src/server/http.js';
import { getJson } from '../../src/server/client.js';
import type { ContainerDoc, HealthDoc } from '../../src/server/api.js';
import type { ContainerState } from '../../src/engine/state.js';
import type { DaemonView } from '../../src/server/view.js';

class FakeDaemon implements DaemonView {
  reconciled = false;
  connected = false;
  connects = 0;
  readonly states: ContainerState[] = [];

  containers(): ContainerState[] {
    return [...this.states].sort((a, b) => a.name.localeCompare(b.name));
  }

  container(x: string): ContainerState | undefined {
    return this.states.find((s) => s.id === x || s.name === x || (x.length >= 4 && s.id.startsWith(x)));
  }

  dockerConnected(): boolean {
    return this.connected;
  }

  dockerConnects(): number {
    return this.connects;
  }
}

function goodContainer(): ContainerState {
  return {
    id: 'a1b2c3d4e5f60000000000000000000000000000000000000000000000000001',
    name: 'app',
    running: true,
    labels: { 'twine.route.0.0.0.0/1': 'vpn', 'twine.route.128.0.0.0/1': 'vpn', 'com.example': 'x' },
    desired: {
      container: { id: 'a1b2', name: 'app', pid: 42 },
      natInterfaces: [],
      ipv6: false,
      routes: [
        { label: 'twine.route.0.0.0.0/1', family: 4, dst: '0.0.0.0/1', dest: 'vpn', state: 'up', gateway: '172.20.0.2' },
        { label: 'twine.route.128.0.0.0/1', family: 4, dst: '128.0.0.0/1', dest: 'vpn', state: 'down', reason: 'vpn is stopped' },
      ],
      forwards: [],
      rules: [],
      hostRoutes: [],
      dockerDefaults: [],
      warnings: [],
    },
    dependencies: { refs: ['vpn'], ids: ['f00d'] },
    labelErrors: [],
    warnings: [],
    lastApplyAt: '2024-01-01T00:00:00.000Z',
    lastLatencyMs: 4.25,
    applied: {
      container: { id: 'a1b2', name: 'app', pid: 42 },
      ns: { pid: 42 },
      sysctls: [],
      routes: [],
      defaultRoutes: [],
      table: { chains: [] },
      hostRoutes: [],
    },
  };
}

function badContainer(): ContainerState {
  return {
    id: 'bad0000000000000000000000000000000000000000000000000000000000002',
    name: 'broken',
    running: true,
    labels: { 'twine.rout.10.0.0.0/8': 'vpn' },
    labelErrors: [{ container: 'broken', key: 'twine.rout.10.0.0.0/8', value: 'vpn', reason: 'unknown twine label' }],
    lastError: 'container broken: 1 invalid label:\n  twine.rout.10.0.0.0/8="vpn": unknown twine label',
    warnings: [],
  };
}

function request(port: number, method: string, p: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The value of one sample line of the Prometheus text format. */
function sample(text: string, name: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `)) return Number(line.slice(name.length + 1));
  }
  return undefined;
}

describe('status server', () => {
  const fake = new FakeDaemon();
  const metrics = new Metrics();
  const dir = mkdtempSync(path.join(tmpdir(), 'twt-server-'));
  const socket = path.join(dir, 'sub', 'twine.sock');
  let srv: RunningServer;
  let port: number;

  before(async () => {
    fake.states.push(goodContainer(), badContainer());
    srv = await startServer({ view: fake, metrics, listen: '127.0.0.1:0', socket });
    port = srv.tcp!.port;
  });
  after(async () => {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the socket 0660 in a 0755 directory', () => {
    assert.equal(statSync(socket).mode & 0o777, 0o660);
    assert.equal(statSync(path.dirname(socket)).mode & 0o777, 0o755);
    assert.ok(statSync(socket).isSocket());
  });

  it('/healthz is 503 with a reason until docker is connected and the first reconcile finished', async () => {
    let r = await request(port, 'GET', '/healthz');
    assert.equal(r.status, 503);
    let h = JSON.parse(r.text) as HealthDoc;
    assert.equal(h.ok, false);
    assert.equal(h.reason, 'docker event stream not connected');
    fake.connected = true;
    r = await request(port, 'GET', '/healthz');
    h = JSON.parse(r.text) as HealthDoc;
    assert.equal(r.status, 503);
    assert.equal(h.reason, 'first reconcile not finished');
    fake.reconciled = true;
    r = await request(port, 'GET', '/healthz');
    h = JSON.parse(r.text) as HealthDoc;
    assert.equal(r.status, 200);
    assert.equal(h.ok, true);
    assert.equal(h.reason, undefined);
    assert.equal(h.containers, 2);
    assert.equal(h.errors, 1);
    assert.match(r.headers['content-type'] ?? '', /^application\/json/);
  });

  it('/api/containers lists every container with its summary', async () => {
    const r = await request(port, 'GET', '/api/containers');
    assert.equal(r.status, 200);
    const docs = JSON.parse(r.text) as ContainerDoc[];
    assert.deepEqual(docs.map((d) => [d.name, d.status]), [['app', 'applied'], ['broken', 'invalid']]);
    const app = docs[0]!;
    assert.deepEqual(app.routes, { up: 1, down: 1 });
    assert.deepEqual(app.forwards, { up: 0, down: 0 });
    assert.deepEqual(app.dependencies, { refs: ['vpn'], ids: ['f00d'] });
    assert.equal(app.lastLatencyMs, 4.25);
    assert.equal(app.lastApplyAt, '2024-01-01T00:00:00.000Z');
    assert.equal(app.labels['twine.route.0.0.0.0/1'], 'vpn');
    assert.ok(app.applied, 'the applied plan is included');
    const bad = docs[1]!;
    assert.equal(bad.labelErrors[0]!.key, 'twine.rout.10.0.0.0/8');
    assert.match(bad.lastError ?? '', /invalid label/);
    assert.equal(bad.applied, undefined);
  });

  it('/api/containers/<name|id|id-prefix> returns one; unknown is a JSON 404', async () => {
    for (const key of ['app', goodContainer().id, 'a1b2c3d4']) {
      const r = await request(port, 'GET', `/api/containers/${key}`);
      assert.equal(r.status, 200, key);
      assert.equal((JSON.parse(r.text) as ContainerDoc).name, 'app');
    }
    const r = await request(port, 'GET', '/api/containers/nope');
    assert.equal(r.status, 404);
    assert.match((JSON.parse(r.text) as { error: string }).error, /no container "nope"/);
  });

  it('unknown paths are 404 and non-GET methods 405, both JSON', async () => {
    const nf = await request(port, 'GET', '/api/nothing');
    assert.equal(nf.status, 404);
    assert.ok((JSON.parse(nf.text) as { endpoints: string[] }).endpoints.includes('/metrics'));
    for (const m of ['POST', 'PUT', 'DELETE']) {
      const r = await request(port, m, '/api/containers');
      assert.equal(r.status, 405, m);
      assert.equal(r.headers.allow, 'GET, HEAD');
      assert.match((JSON.parse(r.text) as { error: string }).error, /read-only/);
    }
    const head = await request(port, 'HEAD', '/healthz');
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
  });

  it('/metrics: every twine metric, process metrics, and one histogram sample per transaction', async () => {
    fake.connects = 3;
    let r = await request(port, 'GET', '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'] ?? '', /^text\/plain/);
    for (const name of [
      'twine_apply_latency_seconds',
      'twine_transactions_total',
      'twine_containers_managed',
      'twine_label_errors',
      'twine_docker_reconnects_total',
      'twine_drift_repairs_total',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
    ]) {
      assert.match(r.text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    assert.equal(sample(r.text, 'twine_containers_managed'), 2);
    assert.equal(sample(r.text, 'twine_label_errors'), 1);
    assert.equal(sample(r.text, 'twine_docker_reconnects_total'), 2);
    const before = sample(r.text, 'twine_apply_latency_seconds_count') ?? 0;
    const base = { container: 'app', id: 'a1b2', eventMs: Date.now() - 3, reasons: ['start'] };
    metrics.onTransaction({ ...base, txId: 't1', result: 'applied', latencyMs: 3 });
    r = await request(port, 'GET', '/metrics');
    assert.equal(sample(r.text, 'twine_apply_latency_seconds_count'), before + 1);
    assert.equal(sample(r.text, 'twine_apply_latency_seconds_sum'), 0.003);
    assert.equal(sample(r.text, 'twine_transactions_total{result="applied"}'), 1);
    metrics.onTransaction({ ...base, txId: 't2', result: 'invalid', latencyMs: undefined });
    r = await request(port, 'GET', '/metrics');
    assert.equal(sample(r.text, 'twine_apply_latency_seconds_count'), before + 1, 'invalid transactions commit nothing');
    assert.equal(sample(r.text, 'twine_transactions_total{result="invalid"}'), 1);
    assert.equal(sample(r.text, 'twine_apply_latency_seconds_bucket{le="0.005"}'), 1);
    assert.equal(sample(r.text, 'twine_apply_latency_seconds_bucket{le="0.002"}'), 0);
    // Reconnects are counted from the connect count, not double-counted across scrapes.
    r = await request(port, 'GET', '/metrics');
    assert.equal(sample(r.text, 'twine_docker_reconnects_total'), 2);
  });

  it('answers over the unix socket too (what twine status uses)', async () => {
    const r = await getJson<ContainerDoc[]>({ socket }, '/api/containers');
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 2);
  });
});

describe('parseListen', () => {
  it('accepts host:port, [v6]:port, :port and none', () => {
    assert.deepEqual(parseListen('127.0.0.1:9117'), { host: '127.0.0.1', port: 9117 });
    assert.deepEqual(parseListen('[::1]:9117'), { host: '::1', port: 9117 });
    assert.deepEqual(parseListen(':9117'), { host: '0.0.0.0', port: 9117 });
    assert.equal(parseListen('none'), undefined);
    assert.equal(parseListen(''), undefined);
  });
  it('rejects malformed values', () => {
    assert.throws(() => parseListen('9117'), /expected host:port/);
    assert.throws(() => parseListen('localhost:99999'), /out of range/);
  });
});
