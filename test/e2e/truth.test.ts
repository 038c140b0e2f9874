// What Twine says is what it did, against a real `twine start` and
// real Docker: a host route the kernel refuses makes its container `failed`
// and is retried with backoff until it applies, with no Docker event to help;
// so is a rolled-back transaction; `twine cleanup` refuses while the daemon
// answers; `twine status <name>` names each reference and why it is down;
// containers removed while Docker starts them count as `gone`, not `failed`;
// an invalid container is logged once; a refused start logs no "starting";
// `twine status` against a daemon without Docker says so and exits 1.
// "The host" for host routes is an `ip netns` namespace of this test.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  cleanupLeftovers,
  createNetworkWithSubnet,
  ensureImage,
  fakeHost,
  ip,
  inNs,
  LABEL_ERROR_MSG,
  netnsDel,
  OWNER_LABEL,
  parallel,
  reasonsOf,
  removeContainer,
  removeNetwork,
  run,
  runAllowFail,
  runContainer,
  startDaemon,
  tagPrefix,
  TEST_IMAGE,
  TEST_LABEL,
  testPrefix,
  TWINE_BIN,
  twineRoutes,
  twineTable,
  waitForLogFrom,
  waitUntil,
  type AutoNetwork,
  type LogLine,
  type TestDaemon,
} from '../bed/index.js';

const TAG = 'tr';
const P = testPrefix(TAG);
const NET = `${P}net`;
const HOST = `${P}h`;
const HOST_NS = { netns: HOST };
const daemons: TestDaemon[] = [];
/** Churn cycles: containers created, started and removed at once. */
const CYCLES = 40;

function twine(...args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  return runAllowFail(process.execPath, [TWINE_BIN, ...args], { timeoutMs: 30_000 });
}

function metrics(socket: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath: socket, path: '/metrics', headers: { host: 'twine' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
}

function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} not in /metrics`);
  return Number(line.slice(name.length + 1));
}

/** A transaction counter's value; NaN when the daemon does not have it. */
function counter(text: string, result: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`twine_transactions_total{result="${result}"} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

async function statusDoc(socket: string, name: string): Promise<{ status: string; lastError?: string; hostRoutesError?: string }> {
  const r = await twine('status', '--socket', socket, '--json', name);
  assert.equal(r.exitCode, 0, r.stderr);
  return JSON.parse(r.stdout) as { status: string; lastError?: string };
}

describe('what status, the API and metrics say is what Twine did', { timeout: 240_000 }, () => {
  let net: AutoNetwork;
  let daemon: TestDaemon;

  before(async () => {
    await cleanupLeftovers(tagPrefix(TAG));
    await ensureImage();
    net = await createNetworkWithSubnet(NET);
    // "The host", at first without an address on the containers' subnet: their addresses are not on-link there.
    await fakeHost(HOST, `${P}v`, net);
    await ip(HOST_NS, ['addr', 'flush', 'dev', 'h0']);
    daemon = startDaemon({ args: ['--allow-host-routes', '--host-netns', `/run/netns/${HOST}`, '--resync-interval', '0'] });
    daemons.push(daemon);
    await daemon.waitForLog((l) => l.msg === 'reconciled', 30_000);
  });

  after(async () => {
    for (const d of daemons) if (d.running) await d.stop('SIGKILL');
    await cleanupLeftovers(P);
    await netnsDel(HOST);
    await removeNetwork(NET);
  });

  it('a host route the kernel refuses: the container is failed with the error, retried with backoff until it applies', async () => {
    const name = `${P}hr`;
    const from = daemon.lines.length;
    await runContainer({ name, networks: [{ name: NET, ipv4: `${net.base}.20` }], labels: { 'twine.host.routes': '10.77.0.0/16' } });
    const failed = await waitForLogFrom(daemon, from, (l) => l.msg === 'host routes failed');
    assert.equal(failed.level, 50, 'an error, not info');
    assert.ok(Number(failed.retryInMs) <= 2000, `first retry in ${String(failed.retryInMs)} ms`);
    const doc = await waitUntil('status failed', async () => {
      const d = await statusDoc(daemon.socket, name);
      return d.status === 'failed' ? d : undefined;
    });
    assert.match(doc.lastError ?? '', /host route 10\.77\.0\.0\/16 via 10\.\d+\.\d+\.20/);
    assert.ok(sample(await metrics(daemon.socket), 'twine_transactions_total{result="failed"}') >= 1);
    const table = await twine('status', '--socket', daemon.socket);
    assert.match(table.stdout.split('\n').find((l) => l.startsWith(`${name} `)) ?? '', /^\S+\s+failed\s.*host route 10\.77\.0\.0\/16/);

    // Fix the host, not Docker: only the retry can notice.
    const mark = daemon.lines.length;
    await ip(HOST_NS, ['addr', 'add', `${net.base}.250/24`, 'dev', 'h0']);
    await waitForLogFrom(daemon, mark, (l) => l.msg === 'host routes' && JSON.stringify(l.replaced).includes('10.77.0.0/16'), 40_000);
    assert.ok((await twineRoutes(HOST_NS)).some((r) => r.dst === '10.77.0.0/16' && r.gateway === `${net.base}.20`));
    const fixed = await statusDoc(daemon.socket, name);
    assert.equal(fixed.status, 'applied');
    assert.equal(fixed.lastError, undefined);
    await removeContainer(name);
  });

  it('a rolled-back transaction is retried with backoff, and applies once what it lacked is there', async () => {
    const name = `${P}rt`;
    const from = daemon.lines.length;
    // 10.202.9.1 is on no network of the container: the kernel refuses the route.
    const c = await runContainer({ name, networks: [NET], labels: { 'twine.route.10.201.0.0/16': '10.202.9.1' } });
    const failed = await waitForLogFrom(daemon, from, (l) => l.container === name && l.msg === 'transaction failed, rolled back');
    assert.ok(Number(failed.retryInMs) <= 2000, `first retry in ${String(failed.retryInMs)} ms`);
    assert.equal((await statusDoc(daemon.socket, name)).status, 'failed');
    await waitForLogFrom(daemon, from, (l) => l.container === name && l.msg === 'transaction failed, rolled back' && JSON.stringify(l.reasons).includes('retry'), 10_000);
    await inNs(c.pid, 'ip', ['addr', 'add', '10.202.9.2/24', 'dev', 'eth0']);
    await waitForLogFrom(daemon, from, (l) => l.container === name && l.msg === 'applied', 40_000);
    assert.deepEqual((await twineRoutes({ pid: c.pid })).map((r) => [r.dst, r.gateway]), [['10.201.0.0/16', '10.202.9.1']]);
    assert.equal((await statusDoc(daemon.socket, name)).status, 'applied');
    await removeContainer(name);
  });

  it('twine cleanup refuses while the daemon answers (exit 3, nothing removed); --force removes', async () => {
    const name = `${P}cl`;
    const from = daemon.lines.length;
    const c = await runContainer({ name, networks: [NET], labels: { 'twine.nat.interfaces': 'eth+' } });
    await waitForLogFrom(daemon, from, (l) => l.container === name && (l.msg === 'applied' || l.msg === 'start: already in place'));
    assert.notEqual(await twineTable({ pid: c.pid }), null);
    const refused = await twine('cleanup', '--socket', daemon.socket, name);
    assert.equal(refused.exitCode, 3, refused.stderr);
    assert.match(refused.stderr, /a twine daemon is running .*stop it first/);
    assert.notEqual(await twineTable({ pid: c.pid }), null, 'nothing removed');
    const forced = await twine('cleanup', '--socket', daemon.socket, '--force', name);
    assert.equal(forced.exitCode, 0, forced.stderr);
    assert.equal(await twineTable({ pid: c.pid }), null);
    await removeContainer(name);
  });

  it('twine status <name> shows each reference and why it is down, in the words of its label', async () => {
    const name = `${P}st`;
    await runContainer({ name: `${P}off`, networks: [NET], createOnly: true });
    const from = daemon.lines.length;
    await runContainer({ name, networks: [NET], labels: { 'twine.nat.forward.8080': `${P}off:80`, 'twine.route.10.203.0.0/16': `${P}off` } });
    await waitForLogFrom(daemon, from, (l) => l.container === name && (l.msg === 'applied' || l.msg === 'start: already in place'));
    const r = await twine('status', '--socket', daemon.socket, name);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^ {2}twine\\.nat\\.forward\\.8080 → ${P}off: down, container "${P}off" is not running \\(forward destination down\\); not forwarded$`, 'm'));
    assert.match(r.stdout, new RegExp(`^ {2}twine\\.route\\.10\\.203\\.0\\.0/16 → ${P}off: down, container "${P}off" is not running \\(gateway down\\); the route is unreachable$`, 'm'));
    await removeContainer(name);
    await removeContainer(`${P}off`);
  });

  it('an invalid container is logged once, not again at its start event', async () => {
    const name = `${P}bad`;
    const from = daemon.lines.length;
    await runContainer({ name, networks: [NET], labels: { 'twine.rout.10.0.0.0/8': 'x' }, oneShot: true });
    const mine = (l: LogLine): boolean => l.container === name && l.msg === LABEL_ERROR_MSG;
    // The start event's transaction finds the same labels (a positive sign it had its chance), or a second error is logged.
    let seen = 0;
    await waitForLogFrom(daemon, from, (l) => mine(l) && (reasonsOf(l).includes('start') || (l.level >= 50 && ++seen >= 2)));
    const errors = daemon.lines.slice(from).filter((l) => mine(l) && l.level >= 50);
    assert.equal(errors.length, 1, JSON.stringify(daemon.lines.slice(from).filter(mine)));
    await removeContainer(name);
  });

  it(`${CYCLES} containers removed while Docker starts them: gone, not failed; the failed count stays`, async (t) => {
    const before = await metrics(daemon.socket);
    const from = daemon.lines.length;
    const names = Array.from({ length: CYCLES }, (_, i) => `${P}ch${i}`);
    await parallel(names, 4, async (n) => {
      await run('docker', ['run', '-d', '--name', n, '--label', `${TEST_LABEL}=1`, '--label', `${OWNER_LABEL}=${process.pid}`, '--label', 'twine.nat.interfaces=eth+', '--network', NET, TEST_IMAGE]);
      await run('docker', ['rm', '-f', n]);
    });
    // Every container's destroy event has been handled (a positive signal, not a sleep).
    await waitUntil('every destroy seen', async () => names.every((n) => daemon.lines.some((l) => l.msg === 'container destroy' && l.container === n)), 30_000, 100);
    const after = await metrics(daemon.socket);
    const lines = daemon.lines.slice(from).filter((l) => names.includes(String(l.container)));
    const failedLines = lines.filter((l) => l.level >= 50);
    const goneLines = lines.filter((l) => l.msg === 'namespace gone: the container stopped during the transaction');
    const delta = (r: string): number => counter(after, r) - counter(before, r);
    t.diagnostic(`${CYCLES} cycles: failed ${delta('failed')}, gone ${delta('gone')}, applied ${delta('applied')}; error lines for them ${failedLines.length}`);
    assert.deepEqual(failedLines.map((l) => `${String(l.container)}: ${l.msg}: ${String(l.err)}`), []);
    assert.ok(goneLines.length === 0 || sample(after, 'twine_transactions_total{result="gone"}') >= goneLines.length);
    assert.equal(delta('failed'), daemon.lines.slice(from).filter((l) => l.msg === 'transaction failed, rolled back').length, 'failed counts only real failures');
    assert.equal(delta('gone'), goneLines.length);
    for (const l of goneLines) assert.ok(l.level <= 30, 'gone is info, not an error');
  });
});

describe('the daemon without Docker, and a refused start', { timeout: 60_000 }, () => {
  it('twine status says since when and why Docker is not connected, and exits 1', async () => {
    const d = startDaemon({ args: ['--docker-socket', `/tmp/${P}no-docker.sock`, '--resync-interval', '0'] });
    daemons.push(d);
    try {
      await d.waitForLog((l) => l.msg === 'docker unreachable; retrying');
      const r = await twine('status', '--socket', d.socket);
      assert.equal(r.exitCode, 1, r.stdout);
      assert.match(r.stderr, new RegExp(`^docker: not connected since \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ \\(events: GET /events: connect ENOENT /tmp/${P}no-docker\\.sock\\)`));
      // Still retrying: a later failure is logged again.
      const n = d.lines.filter((l) => l.msg === 'docker unreachable; retrying').length;
      await d.waitForLog((l) => l.msg === 'docker unreachable; retrying' && d.lines.indexOf(l) >= n);

      // A second daemon on the same socket: refused, and it never said it was starting.
      const second = startDaemon({ env: { TWINE_SOCKET: d.socket }, args: ['--docker-socket', `/tmp/${P}no-docker.sock`] });
      daemons.push(second);
      const exit = await second.exited;
      assert.equal(exit.code, 3);
      assert.deepEqual(second.lines.map((l) => l.msg), [], 'no log line at all from a refused start');
      assert.match(second.other.join(''), /another twine is already running/);
      assert.equal(d.lines.filter((l) => l.msg === 'twine starting').length, 1);
    } finally {
      await d.stop('SIGKILL');
    }
  });
});
