// Bad labels: a container whose labels do not validate gets
// nothing at all (no route of Twine's protocol, no `table inet twine`, no
// sysctl), the error is logged naming the container and every bad label, and
// the daemon keeps serving the containers that start after it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  containerIp,
  containerPid,
  createNetwork,
  LABEL_ERROR_MSG,
  runContainer,
  setUpFile,
  startReconciled,
  sysctlIn,
  tearDownFile,
  testPrefix,
  twineCli,
  twineRoutes,
  twineTable,
  waitForLogFrom,
  waitTx,
  type TestDaemon,
} from '../bed/index.js';

const P = testPrefix('el');
const NET = `${P}net`;
const GW = `${P}gw`;
const BAD = `${P}bad`;
const BAD2 = `${P}ba2`;
const GOOD = `${P}ok`;
// A label that is not Twine's may hold a secret: it must never leave the daemon.
const SECRET_KEY = 'com.example.auth.token';
const SECRET = `twt-secret-${process.pid}`;

let daemon: TestDaemon;

before(async () => {
  await setUpFile('el');
  await createNetwork(NET);
  daemon = await startReconciled({ args: ['--resync-interval', '0'] });
  await runContainer({ name: GW, networks: [NET] });
});

after(async () => {
  await tearDownFile(P, { daemons: [daemon], containers: [GW, BAD, BAD2, GOOD], networks: [NET] });
});

test('invalid labels: nothing applied, the error names the container and each label, the daemon serves the next container', async (t) => {
  const mark = daemon.lines.length;
  const [bad, bad2] = await Promise.all([
    runContainer({
    name: BAD,
    networks: [NET],
    // Each label alone is invalid; the good-looking one must not be applied either (all or nothing).
      labels: { 'twine.route.10.0.0.0/33': GW, 'twine.bogus': '1', 'twine.nat.interfaces': 'eth+', [SECRET_KEY]: SECRET },
    }),
    runContainer({ name: BAD2, networks: [NET], labels: { 'twine.iptables.rule.a': 'INPUT -j ACCEPT', 'twine.nat.forward.lo.5353/udp': `${GW}:5353` } }),
  ]);
  const err = await waitForLogFrom(daemon, mark, (l) => l.msg === LABEL_ERROR_MSG && l.container === BAD);
  assert.equal(err.level, 50);
  const text = String(err.err);
  assert.ok(text.includes(BAD), `error does not name the container: ${text}`);
  assert.ok(text.includes('twine.route.10.0.0.0/33'), `error does not name the route label: ${text}`);
  assert.ok(text.includes('twine.bogus'), `error does not name the unknown key: ${text}`);
  const err2 = await waitForLogFrom(daemon, mark, (l) => l.msg === LABEL_ERROR_MSG && l.container === BAD2);
  assert.ok(String(err2.err).includes('twine.iptables.rule.a'), String(err2.err));
  t.diagnostic(`logged: ${text} | ${String(err2.err)}`);

  // A container started after the bad ones is applied.
  const good = await runContainer({ name: GOOD, networks: [NET], labels: { 'twine.route.10.250.0.0/16': GW, 'twine.nat.interfaces': 'eth+', [SECRET_KEY]: SECRET } });
  const tx = await waitTx(daemon, GOOD, mark);
  assert.equal(tx.msg, 'applied');
  assert.ok(daemon.running);
  assert.deepEqual(
    (await twineRoutes({ pid: good.pid })).map((r) => [r.dst, r.gateway]),
    [['10.250.0.0/16', await containerIp(GW, NET)]],
  );
  assert.notEqual(await twineTable({ pid: good.pid }), null);

  // The bad ones got nothing: not even what their valid labels ask for. Sysctls are
  // compared with an unlabelled container's (a new namespace inherits ip_forward from the host).
  const gwPid = await containerPid(GW);
  assert.equal(await sysctlIn({ pid: gwPid }, 'net.ipv4.conf.all.route_localnet'), '0');
  for (const c of [bad, bad2]) {
    assert.deepEqual(await twineRoutes({ pid: c.pid }), [], `${c.name} has Twine routes`);
    assert.equal(await twineTable({ pid: c.pid }), null, `${c.name} has table inet twine`);
    for (const k of ['net.ipv4.ip_forward', 'net.ipv4.conf.all.route_localnet']) {
      assert.equal(await sysctlIn({ pid: c.pid }, k), await sysctlIn({ pid: gwPid }, k), `${c.name}: ${k} changed`);
    }
  }
  // And no transaction was logged as applied for them.
  assert.equal(daemon.lines.slice(mark).filter((l) => (l.container === BAD || l.container === BAD2) && l.msg === 'applied').length, 0);
});

test('labels other than twine.* never leave the daemon: logs (debug included), the API, twine status --json, twine plan', async () => {
  // Runs after the test above: both containers carry SECRET and were logged about (an error, an apply).
  const logged = daemon.lines.map((l) => JSON.stringify(l)).join('\n') + daemon.other.join('\n');
  assert.ok(logged.includes('twine.route.10.250.0.0/16'), 'the twine labels are logged');
  assert.ok(!logged.includes(SECRET) && !logged.includes(SECRET_KEY), 'a foreign label reached the log');

  for (const args of [['status', '--json', '--socket', daemon.socket], ['status', GOOD, '--json', '--socket', daemon.socket], ['status', BAD, '--socket', daemon.socket]]) {
    const r = await twineCli(args);
    assert.equal(r.exitCode, 0, `twine ${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stdout.includes('twine.'), `twine ${args.join(' ')} shows the twine labels`);
    assert.ok(!r.stdout.includes(SECRET) && !r.stdout.includes(SECRET_KEY), `twine ${args.join(' ')} shows a foreign label`);
  }
  for (const args of [['plan', GOOD, '--json'], ['plan', GOOD], ['plan', BAD, '--json'], ['plan', BAD]]) {
    const r = await twineCli(args);
    const out = r.stdout + r.stderr;
    assert.ok(out.includes(args[1] === BAD ? 'twine.bogus' : '10.250.0.0/16'), `twine ${args.join(' ')}: ${out}`);
    assert.ok(!out.includes(SECRET) && !out.includes(SECRET_KEY), `twine ${args.join(' ')} shows a foreign label`);
  }
});
