// Twine writes only into a container's own network namespace: a
// labelled container with `--network host` and one with `--network
// container:<victim>` are refused. The host's namespace is only read (no
// `table inet twine` there, its routes unchanged), the victim keeps its table
// and routes exactly as they were, and the refusal shows in `twine status`,
// the API and the log; `twine cleanup` leaves both alone too.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import {
  createNetwork,
  removeContainer,
  runContainer,
  setUpFile,
  startReconciled,
  tearDownFile,
  testPrefix,
  twineCli,
  twineRoutes,
  twineTable,
  waitForLogFrom,
  waitTx,
  type TestDaemon,
} from '../bed/index.js';

const P = testPrefix('own');
const NET = `${P}net`;
const GW = `${P}gw`;
const VICTIM = `${P}vic`;
const HOSTC = `${P}host`;
const JOINER = `${P}join`;
const REFUSED_MSG = 'namespace refused: nothing written';
const OWN_ONLY = "Twine writes only into a container's own network namespace";

let daemon: TestDaemon;
let hostHadTable = false;

/**
 * What the host's namespace (this test's own) shows that Twine could have written: its
 * tables, and every route in every table but the kernel's own (interface routes of
 * Docker's veths come and go with containers, link-local ones a little later).
 */
async function hostView(): Promise<{ twineTable: boolean; routes: string[] }> {
  const tables = (await execa('nft', ['list', 'tables'])).stdout;
  const routes: string[] = [];
  for (const family of ['-4', '-6']) {
    const out = (await execa('ip', [family, '-d', 'route', 'show', 'table', 'all'])).stdout;
    routes.push(...out.split('\n').filter((l) => l !== '' && !/\bproto kernel\b/.test(l)));
  }
  return { twineTable: /table inet twine\b/.test(tables), routes };
}

before(async () => {
  await setUpFile('own');
  await createNetwork(NET);
  hostHadTable = (await hostView()).twineTable;
  daemon = await startReconciled({ args: ['--resync-interval', '0'] });
  await runContainer({ name: GW, networks: [NET] });
});

after(async () => {
  if (daemon?.running) await daemon.stop('SIGKILL');
  // One at a time, the joiner first: it shares the victim's namespace.
  for (const c of [JOINER, HOSTC, VICTIM, GW]) await removeContainer(c);
  // Only if this run put it there (a regression): the host must not keep it.
  if (!hostHadTable && (await hostView()).twineTable) await execa('nft', ['delete', 'table', 'inet', 'twine'], { reject: false });
  await tearDownFile(P, { networks: [NET] });
});

test('network_mode host and container:<victim> are refused: host and victim unchanged, refusal in status, API and log', async (t) => {
  assert.equal(hostHadTable, false, "the host's namespace had a table inet twine before this test");
  let mark = daemon.lines.length;
  const victim = await runContainer({ name: VICTIM, networks: [NET], labels: { 'twine.route.10.251.0.0/16': GW, 'twine.nat.interfaces': 'eth+' } });
  assert.equal((await waitTx(daemon, VICTIM, mark)).msg, 'applied');
  const victimRoutes = await twineRoutes({ pid: victim.pid });
  const victimTable = await twineTable({ pid: victim.pid });
  assert.equal(victimRoutes.length, 1);
  assert.notEqual(victimTable, null);
  const hostBefore = await hostView();

  mark = daemon.lines.length;
  const hostile = {
    'twine.route.10.252.0.0/16': GW,
    'twine.nat.interfaces': 'eth+',
    'twine.iptables.rule.a': 'TWINE_INPUT -p tcp --dport 1 -j ACCEPT',
  };
  await runContainer({ name: HOSTC, labels: hostile, extraArgs: ['--network', 'host'] });
  await runContainer({ name: JOINER, labels: { ...hostile, 'twine.route.10.252.0.0/16': 'unreachable' }, extraArgs: ['--network', `container:${VICTIM}`] });

  // The log: an error naming each container and why.
  const hostErr = await waitForLogFrom(daemon, mark, (l) => l.msg === REFUSED_MSG && l.container === HOSTC);
  const joinErr = await waitForLogFrom(daemon, mark, (l) => l.msg === REFUSED_MSG && l.container === JOINER);
  assert.equal(hostErr.level, 50);
  assert.equal(hostErr.err, `network_mode host: ${OWN_ONLY}`);
  assert.match(String(joinErr.err), new RegExp(`^(network_mode container:${VICTIM}|network namespace shared with container ${VICTIM}).*: ${OWN_ONLY}$`));
  t.diagnostic(`logged: ${String(hostErr.err)} | ${String(joinErr.err)}`);

  // The API (twine status --json reads /api/containers) and the table.
  const json = await twineCli(['status', '--socket', daemon.socket, '--json']);
  assert.equal(json.exitCode, 0, json.stderr);
  const docs = JSON.parse(json.stdout) as Array<{ name: string; status: string; lastError?: string; refusal?: { reason: string } }>;
  const doc = (n: string) => docs.find((d) => d.name === n);
  assert.equal(doc(HOSTC)?.status, 'refused');
  assert.equal(doc(HOSTC)?.refusal?.reason, 'network_mode');
  assert.equal(doc(HOSTC)?.lastError, `network_mode host: ${OWN_ONLY}`);
  assert.equal(doc(JOINER)?.status, 'refused');
  assert.equal(doc(VICTIM)?.status, 'applied');
  const table = await twineCli(['status', '--socket', daemon.socket]);
  const hostLine = table.stdout.split('\n').find((l) => l.startsWith(HOSTC));
  assert.match(hostLine ?? '', new RegExp(`refused .*network_mode host: ${OWN_ONLY}`));
  const detail = await twineCli(['status', '--socket', daemon.socket, JOINER]);
  assert.match(detail.stdout, /refused \(nothing written\):/);

  // Nothing was written: the host's namespace (read only) and the victim's.
  assert.deepEqual(await hostView(), hostBefore);
  assert.deepEqual(await twineRoutes({ pid: victim.pid }), victimRoutes);
  assert.deepEqual(await twineTable({ pid: victim.pid }), victimTable);
  assert.equal(daemon.lines.slice(mark).filter((l) => (l.container === HOSTC || l.container === JOINER) && l.msg === 'applied').length, 0);

  // twine cleanup leaves them alone as well (it would otherwise empty the host's and the victim's).
  const cleaned = await twineCli(['cleanup', HOSTC, JOINER]);
  assert.equal(cleaned.exitCode, 0, cleaned.stderr);
  assert.match(cleaned.stdout, /not touched \(not in a network namespace of their own\): /);
  assert.deepEqual(await hostView(), hostBefore);
  assert.deepEqual(await twineRoutes({ pid: victim.pid }), victimRoutes);
  assert.deepEqual(await twineTable({ pid: victim.pid }), victimTable);
});
