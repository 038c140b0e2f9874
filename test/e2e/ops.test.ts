// Operability against a real `twine start` and real Docker: /healthz turns
// healthy, `twine status` and the API show every labelled container and the
// bad one's label error, the apply-latency histogram grows by one per
// committed transaction, and the socket guard allows one daemon per socket
// (a second refuses with exit 3; a SIGKILLed one's socket is taken over).
//
// Each daemon here uses a socket of its own and an ephemeral TCP port, so it
// never collides with a real Twine or another test's daemon.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  cleanupLeftovers,
  createNetwork,
  ensureImage,
  removeContainer,
  removeNetwork,
  runAllowFail,
  runContainer,
  startDaemon,
  tagPrefix,
  testPrefix,
  TWINE_BIN,
  type LogLine,
  type TestDaemon,
} from '../bed/index.js';

const TAG = 'ops';
const P = testPrefix(TAG);
const NET = `${P}net`;
const GW = `${P}gw`;
const BAD = `${P}bad`;
const LATE = `${P}late`;
const dir = mkdtempSync(path.join(tmpdir(), 'twt-ops-'));
const SOCK = path.join(dir, 'run', 'twine.sock');
const daemons: TestDaemon[] = [];

function daemonArgs(socket: string): string[] {
  return ['--socket', socket, '--listen', '127.0.0.1:0', '--resync-interval', '0'];
}

function twine(...args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  return runAllowFail(process.execPath, [TWINE_BIN, ...args], { timeoutMs: 15_000 });
}

function get(port: number, p: string, method = 'GET'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} not in /metrics`);
  return Number(line.slice(name.length + 1));
}

/** A log line of a transaction that committed and was caused by a Docker event (what the histogram observes). */
/** A line that carries a latency sample: a transaction, or the start event's check of one applied before it. */
function isTimedCommit(l: LogLine): boolean {
  return (l.msg === 'applied' || l.msg === 'in sync, nothing sent' || l.msg === 'start: already in place') && typeof l.latencyMs === 'number';
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('operability against a running daemon', { timeout: 90_000 }, () => {
  let daemon: TestDaemon;
  let port: number;

  before(async () => {
    await cleanupLeftovers(tagPrefix(TAG));
    await ensureImage();
    await createNetwork(NET);
    await runContainer({ name: GW, networks: [{ name: NET, aliases: ['gw'] }], labels: { 'twine.nat.interfaces': 'wg+' } });
    await runContainer({ name: BAD, networks: [NET], labels: { 'twine.rout.10.0.0.0/8': 'gw' } });
    daemon = startDaemon({ args: daemonArgs(SOCK), logLevel: 'info' });
    daemons.push(daemon);
    const l = await daemon.waitForLog((x) => x.msg === 'twine starting');
    port = Number(String(l.listen).split(':').pop());
    assert.ok(port > 0, `listen ${String(l.listen)}`);
  });

  after(async () => {
    for (const d of daemons) if (d.running) await d.stop('SIGKILL');
    for (const c of [GW, BAD, LATE]) await removeContainer(c);
    await removeNetwork(NET);
    await cleanupLeftovers(P);
    rmSync(dir, { recursive: true, force: true });
  });

  it('becomes healthy: /healthz 200 and `twine healthcheck` exits 0 over the socket', async () => {
    assert.equal(statSync(SOCK).mode & 0o777, 0o660);
    const h = await until('healthy', async () => {
      const r = await get(port, '/healthz');
      return r.status === 200 ? (JSON.parse(r.text) as { ok: boolean; dockerConnected: boolean; reconciled: boolean }) : undefined;
    });
    assert.deepEqual([h.ok, h.dockerConnected, h.reconciled], [true, true, true]);
    const r = await twine('healthcheck', '--socket', SOCK);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /^healthy: docker connected/);
    const viaUrl = await twine('healthcheck', '--url', `http://127.0.0.1:${port}`, '-q');
    assert.equal(viaUrl.exitCode, 0, viaUrl.stderr);
  });

  it('`twine status` and the API show every labelled container and the bad one\'s label error', async () => {
    await until('both containers reported', async () => {
      const r = await get(port, '/api/containers');
      const docs = JSON.parse(r.text) as { name: string }[];
      return docs.some((d) => d.name === GW) && docs.some((d) => d.name === BAD) ? true : undefined;
    });
    const st = await twine('status', '--socket', SOCK);
    assert.equal(st.exitCode, 0, st.stderr);
    const lines = st.stdout.split('\n');
    assert.match(lines[0]!, /^CONTAINER\s+STATE\s+ROUTES\s+FORWARDS\s+RULES\s+LATENCY\s+ERROR$/);
    const gwLine = lines.find((l) => l.startsWith(`${GW} `));
    const badLine = lines.find((l) => l.startsWith(`${BAD} `));
    assert.match(gwLine ?? '', /^\S+\s+applied\s/, st.stdout);
    assert.match(badLine ?? '', /^\S+\s+invalid\s.*twine\.rout\.10\.0\.0\.0\/8: /, st.stdout);

    const bad = await get(port, `/api/containers/${BAD}`);
    assert.equal(bad.status, 200);
    const doc = JSON.parse(bad.text) as { status: string; labelErrors: { key: string; reason: string }[]; applied?: unknown; lastError?: string };
    assert.equal(doc.status, 'invalid');
    assert.deepEqual(doc.labelErrors.map((i) => i.key), ['twine.rout.10.0.0.0/8']);
    assert.equal(doc.applied, undefined, 'nothing applied for invalid labels');
    assert.match(doc.lastError ?? '', new RegExp(`container ${BAD}`));

    const gw = JSON.parse((await get(port, `/api/containers/${GW}`)).text) as {
      status: string;
      natInterfaces: string[];
      lastApplyAt?: string;
      applied?: { sysctls: { key: string; value: string }[] };
    };
    assert.equal(gw.status, 'applied');
    assert.deepEqual(gw.natInterfaces, ['wg+']);
    assert.ok(gw.lastApplyAt && Date.parse(gw.lastApplyAt) > 0);
    assert.ok(gw.applied?.sysctls.some((s) => s.key === 'net.ipv4.ip_forward' && s.value === '1'), JSON.stringify(gw.applied));

    const detail = await twine('status', '--socket', SOCK, BAD);
    assert.equal(detail.exitCode, 0);
    assert.match(detail.stdout, /label errors \(nothing applied, last good state kept\):\n {2}twine\.rout\.10\.0\.0\.0\/8="gw": /);
    assert.equal((await get(port, `/api/containers/${P}nope`)).status, 404);
    assert.equal((await get(port, '/api/containers', 'POST')).status, 405);
  });

  it('the apply latency histogram grows by one per committed transaction', async (t) => {
    const before = sample((await get(port, '/metrics')).text, 'twine_apply_latency_seconds_count');
    await runContainer({ name: LATE, networks: [NET], labels: { 'twine.route.10.99.0.0/16': 'gw' } });
    const committed = await daemon.waitForLog((l) => l.container === LATE && isTimedCommit(l));
    assert.ok((committed.latencyMs as number) >= 0);
    t.diagnostic(`${LATE}: docker start event → commit ${String(committed.latencyMs)} ms`);
    // Other test files may run daemons and containers at the same time, so compare
    // totals: every timed commit this daemon logged is one histogram sample, no more.
    const text = await until('histogram matches the log', async () => {
      const t = (await get(port, '/metrics')).text;
      return sample(t, 'twine_apply_latency_seconds_count') === daemon.lines.filter(isTimedCommit).length ? t : undefined;
    });
    const after = sample(text, 'twine_apply_latency_seconds_count');
    assert.ok(after >= before + 1, `count ${before} → ${after}`);
    // Applied before the start event counts as 0 (see isTimedCommit); the sum is the log's, in seconds.
    const logged = daemon.lines.filter(isTimedCommit).reduce((sum, l) => sum + Math.max(0, l.latencyMs as number), 0) / 1000;
    assert.ok(Math.abs(sample(text, 'twine_apply_latency_seconds_sum') - logged) < 1e-6, `sum ${sample(text, 'twine_apply_latency_seconds_sum')} vs log ${logged}`);
    assert.equal(sample(text, 'twine_apply_latency_seconds_bucket{le="+Inf"}'), after);
    assert.ok(sample(text, 'twine_transactions_total{result="invalid"}') >= 1);
    assert.ok(sample(text, 'twine_containers_managed') >= 3);
    assert.ok(sample(text, 'twine_label_errors') >= 1);
    assert.match(text, /^process_resident_memory_bytes \d/m);
  });

  it('one daemon per socket: a second refuses with exit 3; after a SIGKILL the next one takes the socket over', async () => {
    const second = startDaemon({ args: daemonArgs(SOCK), logLevel: 'info' });
    daemons.push(second);
    const exit = await second.exited;
    assert.equal(exit.code, 3, second.other.join(''));
    assert.match(second.other.join(''), /another twine is already running \(socket .*twine\.sock/);

    const killed = await daemon.stop('SIGKILL');
    assert.equal(killed.signal, 'SIGKILL');
    assert.ok(statSync(SOCK).isSocket(), 'the killed daemon left its socket behind');
    const down = await twine('healthcheck', '--socket', SOCK);
    assert.equal(down.exitCode, 1);

    const third = startDaemon({ args: daemonArgs(SOCK), logLevel: 'info' });
    daemons.push(third);
    await third.waitForLog((l) => l.msg === 'removed the stale socket of a twine that did not stop cleanly');
    await until('third daemon healthy', async () => ((await twine('healthcheck', '--socket', SOCK, '-q')).exitCode === 0 ? true : undefined));
    const stop = await third.stop('SIGTERM');
    assert.equal(stop.code, 0);
    assert.throws(() => statSync(SOCK), /ENOENT/, 'a clean stop removes the socket');
  });
});
