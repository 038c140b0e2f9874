// The runtime hook's request on the status server: served on the unix socket
// only, validated, answered with the engine's outcome or a timeout.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, type RunningServer } from '../../src/server/http.js';
import { Metrics } from '../../src/server/metrics.js';
import { parseHookRequest } from '../../src/server/runtime-hook.js';
import type { HookOutcome } from '../../src/engine/engine.js';
import type { DaemonView } from '../../src/server/view.js';

const ID = 'b'.repeat(64);
const view: DaemonView = { containers: () => [], container: () => undefined, reconciled: true, dockerConnected: () => true };
let srv: RunningServer;
let dir: string;
const calls: Array<[string, number]> = [];
let outcome: (id: string) => Promise<HookOutcome> = async () => ({ ok: true, applied: true, name: 'c' });

function post(target: { socketPath: string } | { port: number }, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const req = http.request({ ...target, host: '127.0.0.1', method: 'POST', path: '/runtime/start', headers: { 'content-length': Buffer.byteLength(text), host: '127.0.0.1' } }, (res) => {
      let t = '';
      res.on('data', (c: Buffer) => (t += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(t) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'twt-hooksrv-'));
  srv = await startServer({
    view,
    metrics: new Metrics(),
    listen: '127.0.0.1:0',
    socket: path.join(dir, 's.sock'),
    runtimeHook: (id, pid) => {
      calls.push([id, pid]);
      return outcome(id);
    },
  });
});

after(async () => {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the hook request is answered on the unix socket: 200 when applied, 503 with the reason when not', async () => {
  const sock = { socketPath: srv.socket! };
  const ok = await post(sock, { id: ID, pid: 42, timeoutMs: 5000, mode: 'closed' });
  assert.deepEqual(ok, { status: 200, body: { ok: true, applied: true } });
  assert.deepEqual(calls.at(-1), [ID, 42]);
  outcome = async () => ({ ok: false, error: 'transaction failed: EPERM', name: 'c' });
  const bad = await post(sock, { id: ID, pid: 42, timeoutMs: 5000, mode: 'open' });
  assert.deepEqual(bad, { status: 503, body: { ok: false, error: 'transaction failed: EPERM' } });
});

test('an engine that does not answer in time: 503 before the hook gives up', async () => {
  outcome = () => new Promise(() => undefined);
  const t0 = performance.now();
  const r = await post({ socketPath: srv.socket! }, { id: ID, pid: 42, timeoutMs: 400, mode: 'closed' });
  assert.equal(r.status, 503);
  assert.match(String(r.body.error), /not applied within the hook's timeout \(400 ms\)/);
  assert.ok(performance.now() - t0 < 400, 'answered before the hook\'s own deadline');
});

test('the TCP listener never applies anything', async () => {
  const n = calls.length;
  const r = await post({ port: srv.tcp!.port }, { id: ID, pid: 42, timeoutMs: 5000, mode: 'closed' });
  assert.notEqual(r.status, 200);
  assert.equal(calls.length, n);
});

test('malformed requests are refused with what is wrong, and nothing is applied', async () => {
  const n = calls.length;
  const sock = { socketPath: srv.socket! };
  const r = await post(sock, 'not json');
  assert.deepEqual(r, { status: 400, body: { error: 'bad runtime hook request: body is not JSON' } });
  assert.throws(() => parseHookRequest(JSON.stringify({ id: '../x', pid: 1, timeoutMs: 1, mode: 'closed' })), /id: expected a 64-hex-digit container id/);
  assert.throws(() => parseHookRequest(JSON.stringify({ id: ID, pid: -1, timeoutMs: 1, mode: 'closed' })), /pid: expected a process id/);
  assert.throws(() => parseHookRequest(JSON.stringify({ id: ID, pid: 1, timeoutMs: 1, mode: 'lax' })), /mode: expected closed or open/);
  assert.equal((await post(sock, { id: ID, pid: 1, timeoutMs: 0, mode: 'closed' })).status, 400);
  assert.equal(calls.length, n);
});
