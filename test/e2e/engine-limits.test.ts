// Limits: a container whose labels expand to 20,743 firewall rules
// (80 forwards of 256 ports each, shifted to other port numbers) is refused
// with an error naming the container, a label and the limit; nothing reaches
// its namespace, and the daemon stays healthy meanwhile: every /healthz probe
// answers (a health check's timeout), through the first apply and the
// re-syncs that re-plan the container, and the next container is served.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { getJson } from '../../src/server/client.js';
import type { ContainerDoc, HealthDoc } from '../../src/server/api.js';
import {
  createNetwork,
  LABEL_ERROR_MSG,
  runContainer,
  setUpFile,
  startReconciled,
  tearDownFile,
  testPrefix,
  twineTable,
  waitForLogFrom,
  waitTx,
  type TestDaemon,
} from '../bed/index.js';

const P = testPrefix('lm');
const NET = `${P}net`;
const HOSTILE = `${P}hostile`;
const NEXT = `${P}next`;
/** What a health check waits at most: a probe that times out gets the daemon restarted, over and over. */
const PROBE_TIMEOUT_MS = 5000;

let daemon: TestDaemon;

before(async () => {
  await setUpFile('lm');
  await createNetwork(NET);
  daemon = await startReconciled({ args: ['--resync-interval', '1'] });
});

after(async () => {
  await tearDownFile(P, { daemons: [daemon], containers: [HOSTILE, NEXT], networks: [NET] });
});

test('80 forwards × 256 shifted ports: refused naming the container, a label and --max-rules; healthz answers throughout', async (t) => {
  const probes: { ok: boolean; ms: number; error?: string }[] = [];
  let probing = true;
  const prober = (async () => {
    while (probing) {
      const t0 = performance.now();
      try {
        const r = await getJson<HealthDoc>({ socket: daemon.socket }, '/healthz', PROBE_TIMEOUT_MS);
        probes.push({ ok: r.status === 200 && r.body.ok, ms: performance.now() - t0 });
      } catch (err) {
        probes.push({ ok: false, ms: performance.now() - t0, error: String(err) });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  try {
    await hostileSet(probes);
  } finally {
    probing = false;
    await prober;
  }
  const failed = probes.filter((p) => !p.ok);
  t.diagnostic(`${probes.length} healthz probes, slowest ${Math.round(Math.max(...probes.map((p) => p.ms)))} ms`);
  assert.ok(probes.length >= 10, `only ${probes.length} probes`);
  assert.deepEqual(failed, [], 'every healthz probe answered healthy');
  assert.ok(daemon.running);
});

async function hostileSet(probes: unknown[]): Promise<void> {
  const labels: Record<string, string> = {};
  for (let k = 0; k < 80; k++) labels[`twine.nat.forward.e${k}.1000-1255`] = '10.0.0.9:2000';
  const mark = daemon.lines.length;
  const c = await runContainer({ name: HOSTILE, networks: [NET], labels });
  const err = await waitForLogFrom(daemon, mark, (l) => l.msg === LABEL_ERROR_MSG && l.container === HOSTILE, 30_000);
  const text = String(err.err);
  assert.ok(text.includes(`container ${HOSTILE}`), `the error names the container: ${text}`);
  assert.match(text, /twine\.nat\.forward\.e\d+\.1000-1255/, 'the error names a label');
  assert.match(text, /more than 4096 firewall rules/, 'the error names the limit');
  assert.match(text, /--max-rules or TWINE_MAX_RULES/, 'the error says how to raise it');

  // Two re-syncs after the refusal: each re-plans the container.
  const afterErr = daemon.lines.indexOf(err);
  const first = await waitForLogFrom(daemon, afterErr, (l) => l.msg === 'drift check done', 30_000);
  await waitForLogFrom(daemon, daemon.lines.indexOf(first) + 1, (l) => l.msg === 'drift check done', 30_000);

  const doc = await getJson<ContainerDoc>({ socket: daemon.socket }, `/api/containers/${HOSTILE}`, PROBE_TIMEOUT_MS);
  assert.equal(doc.body.status, 'invalid');
  assert.match(String(doc.body.lastError), /more than 4096 firewall rules/);
  assert.equal(await twineTable({ pid: c.pid }), null, 'nothing written to the refused container');

  // The next container is served.
  const next = await runContainer({ name: NEXT, networks: [NET], labels: { 'twine.nat.forward.8080': '10.0.0.9:80' } });
  const tx = await waitTx(daemon, NEXT, afterErr, () => true, 30_000);
  assert.equal(tx.msg, 'applied');
  assert.notEqual(await twineTable({ pid: next.pid }), null);
  assert.ok(probes.length > 0);
}
