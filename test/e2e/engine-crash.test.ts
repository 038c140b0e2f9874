// `kill -9` of Twine during churn, then start again: while
// labelled containers are starting, the daemon is killed; while it is down,
// containers with host routes stop or go away; a new daemon starts while a
// second wave of containers starts. It must converge: every labelled
// container has its routes and exactly one copy of each rule (same rules as a
// container applied cleanly), and "the host" (a test namespace) holds exactly
// the host routes of running containers — none of the stopped ones. And drift
// made while Twine is down (a route deleted, a rule deleted, a foreign rule
// added) is repaired by the next start; a start with nothing drifted sends
// nothing.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import {
  containerIp,
  createNetworkWithSubnet,
  duplicateRules,
  execIn,
  fakeHost,
  isTx,
  parallel,
  removeContainer,
  run,
  runContainer,
  setUpFile,
  startDaemon,
  tearDownFile,
  testPrefix,
  twineRoutes,
  twineTable,
  waitUntil,
  type AutoNetwork,
  type LogLine,
  type NftRule,
  type TestDaemon,
} from '../bed/index.js';

const P = testPrefix('ek');
const NET = `${P}net`;
const HOST = `${P}h`;
const GW = `${P}gw`;
const HOST_NS = { netns: HOST };
const WAVE1 = 10;
const WAVE2 = 4;

const daemons: TestDaemon[] = [];
let net: AutoNetwork;
const names: string[] = [];

function labels(i: number): Record<string, string> {
  const l: Record<string, string> = {
    'twine.route.10.250.0.0/16': GW,
    'twine.nat.interfaces': 'eth+',
    'twine.nat.forward.8080': `${GW}:80`,
    'twine.iptables.rule.a': 'TWINE_INPUT -p tcp --dport 22 -j DROP',
  };
  // Every other container also asks for a host route.
  if (i % 2 === 0) l['twine.host.routes'] = `10.70.${i}.0/24`;
  return l;
}

/** The inspect cache the drift test's daemons share (the others get one beside their own socket each). */
const CACHE = `/tmp/${P}${process.pid}.inspects.json`;

function start(inspectCache?: string): TestDaemon {
  const d = startDaemon({ args: ['--allow-host-routes', '--host-netns', `/run/netns/${HOST}`, '--resync-interval', '0', ...(inspectCache ? ['--inspect-cache', inspectCache] : [])] });
  daemons.push(d);
  return d;
}

function runLabelled(i: number) {
  const name = `${P}c${i}`;
  names.push(name);
  return runContainer({ name, networks: [NET], labels: labels(i) });
}

function shape(rules: NftRule[]): string[] {
  return rules.map((r) => `${r.chain} ${r.comment ?? ''}`).sort();
}

before(async () => {
  await setUpFile('ek');
  net = await createNetworkWithSubnet(NET);
  await fakeHost(HOST, `${P}v`, net);
  await runContainer({ name: GW, networks: [NET] });
});

after(async () => {
  await tearDownFile(P, { daemons, containers: [GW, ...names], netns: [HOST], networks: [NET] });
  rmSync(CACHE, { force: true });
  rmSync(CACHE.replace(/\.inspects\.json$/, '.plans.json'), { force: true });
});

test('kill -9 during churn, restart: converges with no duplicate rules and no stale host routes', async (t) => {
  const d1 = start();
  await d1.waitForLog((l) => l.msg === 'reconciled');
  const wave1 = parallel(Array.from({ length: WAVE1 }, (_, i) => i), 4, runLabelled);
  // Kill it in the middle of the churn: once it applied a few containers and wrote a host route.
  const mine = (l: LogLine): boolean => isTx(l) && String(l.container).startsWith(`${P}c`);
  await d1.waitForLog((l) => l.container === '@host' && l.msg === 'host routes' && d1.lines.filter(mine).length >= 3, 20_000);
  d1.child.kill('SIGKILL');
  const killedAfter = new Set(d1.lines.filter(mine).map((l) => l.container)).size;
  const exit = await d1.exited;
  assert.equal(exit.signal, 'SIGKILL');
  const started1 = await wave1;
  t.diagnostic(`killed after ${killedAfter} of ${WAVE1} containers were applied`);

  // While Twine is down, the containers whose host routes it wrote go away: one is
  // removed, the others stop. Their host routes are now stale.
  const ipOf = new Map<string, string>();
  for (const c of started1) ipOf.set(await containerIp(c.name, NET), c.name);
  const staleRoutes = await twineRoutes(HOST_NS);
  const gone = staleRoutes.map((r) => ipOf.get(r.gateway ?? '')).filter((n): n is string => n !== undefined);
  assert.ok(gone.length >= 1, `no host route written before the kill: ${JSON.stringify(staleRoutes)}`);
  await removeContainer(gone[0]!);
  if (gone.length > 1) await run('docker', ['stop', '-t', '5', ...gone.slice(1)]);
  t.diagnostic(`stale host routes while Twine was down: ${staleRoutes.map((r) => r.dst).join(', ')}`);

  // Start again while a second wave starts.
  const d2 = start();
  const wave2 = parallel(Array.from({ length: WAVE2 }, (_, i) => WAVE1 + i), 4, runLabelled);
  await d2.waitForLog((l) => l.msg === 'reconciled', 20_000);
  const started2 = await wave2;
  const running = [...started1.filter((c) => !gone.includes(c.name)), ...started2];
  const gwIp = await containerIp(GW, NET);

  // Every running labelled container converges to its routes and one copy of each rule.
  const reference = started2[0]!;
  const refTable = await waitUntil(`${reference.name}'s table`, async () => (await twineTable({ pid: reference.pid })) ?? undefined, 10_000);
  assert.ok(refTable.rules.length > 0);
  for (const c of running) {
    await waitUntil(`${c.name} converged`, async () => {
      const r = await twineRoutes({ pid: c.pid });
      const tb = await twineTable({ pid: c.pid });
      return r.length === 1 && tb !== null && tb.rules.length === refTable.rules.length;
    }, 10_000).catch(async (err: unknown) => {
      const tb = await twineTable({ pid: c.pid });
      const log = d2.lines.filter((l) => l.container === c.name || l.id === c.id.slice(0, 12)).map((l) => JSON.stringify(l));
      throw new Error(`${String(err)}\nroutes ${JSON.stringify(await twineRoutes({ pid: c.pid }))}\nrules ${tb?.rules.length} vs ${refTable.rules.length}: ${JSON.stringify(tb && shape(tb.rules))}\nlog:\n${log.join('\n')}`);
    });
    assert.deepEqual((await twineRoutes({ pid: c.pid })).map((r) => [r.dst, r.gateway]), [['10.250.0.0/16', gwIp]], c.name);
    const tb = (await twineTable({ pid: c.pid }))!;
    assert.deepEqual(duplicateRules(tb.rules), [], `${c.name}: duplicate rules`);
    assert.deepEqual(shape(tb.rules), shape(refTable.rules), `${c.name}: rules differ from a cleanly applied container`);
  }

  // The host holds exactly the running containers' host routes.
  const want: string[] = [];
  for (const c of running) {
    const i = Number(c.name.slice(`${P}c`.length));
    if (i % 2 === 0) want.push(`10.70.${i}.0/24 via ${await containerIp(c.name, NET)}`);
  }
  want.sort();
  const hostNow = async (): Promise<string[]> => (await twineRoutes(HOST_NS)).map((r) => `${r.dst} via ${r.gateway}`).sort();
  await waitUntil('host routes converged', async () => JSON.stringify(await hostNow()) === JSON.stringify(want), 10_000).catch(async (err: unknown) => {
    throw new Error(`${String(err)}: want ${JSON.stringify(want)}, have ${JSON.stringify(await hostNow())}\n${d2.lines.filter((l) => l.container === '@host').map((l) => JSON.stringify(l)).join('\n')}`);
  });
  assert.deepEqual(await hostNow(), want);
  for (const r of staleRoutes) assert.ok(!(await hostNow()).some((x) => x.startsWith(`${r.dst} `)), `stale ${r.dst} still there`);
  t.diagnostic(`${running.length} containers converged, ${want.length} host routes, 0 duplicates`);
});

test('two Twines at once (each with its own socket) still write each rule exactly once', async (t) => {
  for (const d of daemons) if (d.running) await d.stop('SIGKILL');
  const a = start();
  const b = start();
  await Promise.all([a, b].map((d) => d.waitForLog((l) => l.msg === 'reconciled', 20_000)));
  // Odd indices: no host routes, only the namespace's own state is raced for.
  const started = await parallel([21, 23, 25, 27, 29, 31], 6, runLabelled);
  for (const c of started) {
    await Promise.all([a, b].map((d) => d.waitForLog((l) => isTx(l, c.name), 20_000)));
    const tb = await twineTable({ pid: c.pid });
    assert.ok(tb && tb.rules.length > 0, `${c.name}: no table`);
    assert.deepEqual(duplicateRules(tb.rules), [], `${c.name}: duplicate rules`);
  }
  const [first, ...rest] = await Promise.all(started.map(async (c) => shape((await twineTable({ pid: c.pid }))!.rules)));
  for (const r of rest) assert.deepEqual(r, first);
  t.diagnostic(`${started.length} containers applied by two daemons, ${first!.length} rules each, 0 duplicates`);
});

test('drift while Twine is down is repaired at the next start; a start with nothing drifted sends nothing (both from saved inspects)', async () => {
  // A reference by network alias (from inspect only: Docker's list has no aliases), and a container restarted while Twine is down.
  const ga = `${P}ga`;
  const alias = `${P}alias`;
  names.push(ga);
  await runContainer({ name: ga, networks: [{ name: NET, aliases: [alias] }] });
  const byAlias = `${P}a`;
  names.push(byAlias);
  const d1 = start(CACHE);
  await d1.waitForLog((l) => l.msg === 'reconciled');
  const c = await runLabelled(100);
  const r = await runLabelled(101);
  let a = await runContainer({ name: byAlias, networks: [NET], labels: { 'twine.route.10.251.0.0/16': alias } });
  const clean = await waitUntil(`${c.name} applied`, async () => {
    const tb = await twineTable({ pid: c.pid });
    return (await twineRoutes({ pid: c.pid })).length === 1 && tb && tb.rules.length > 0 ? tb : undefined;
  }, 10_000);
  const gaIp = await containerIp(ga, NET);
  const viaAlias = async (): Promise<string[][]> => (await twineRoutes({ pid: a.pid })).map((x) => [x.dst, x.gateway ?? '']);
  await waitUntil(`${byAlias} routed via the alias`, async () => JSON.stringify(await viaAlias()) === JSON.stringify([['10.251.0.0/16', gaIp]]), 10_000);
  await waitUntil(`${r.name} applied`, async () => (await twineRoutes({ pid: r.pid })).length === 1, 10_000);
  const routesBefore = (await twineRoutes({ pid: c.pid })).map((x) => [x.dst, x.gateway]);
  await d1.stop('SIGTERM');

  // While it is down: its route goes, one of its rules goes (by handle), a rule of someone else's appears.
  await execIn({ pid: c.pid }, 'ip', ['route', 'del', '10.250.0.0/16']);
  const listed = JSON.parse(await execIn({ pid: c.pid }, 'nft', ['-a', '-j', 'list', 'chain', 'inet', 'twine', 'TWINE_INPUT'])) as { nftables: { rule?: { handle: number } }[] };
  const handle = listed.nftables.find((i) => i.rule)?.rule?.handle;
  assert.ok(handle !== undefined, 'the custom rule is in TWINE_INPUT');
  await execIn({ pid: c.pid }, 'nft', ['delete', 'rule', 'inet', 'twine', 'TWINE_INPUT', 'handle', String(handle)]);
  await execIn({ pid: c.pid }, 'nft', ['add', 'rule', 'inet', 'twine', 'TWINE_OUTPUT', 'udp', 'dport', '9', 'accept']);
  assert.equal((await twineRoutes({ pid: c.pid })).length, 0);
  // r restarts: a new process and new endpoints, so its saved inspect must not be taken.
  await run('docker', ['restart', '-t', '1', r.name]);
  const rPid = Number((await run('docker', ['inspect', '-f', '{{.State.Pid}}', r.name])).trim());
  assert.notEqual(rPid, r.pid);

  const d2 = start(CACHE);
  const rec2 = await d2.waitForLog((l) => l.msg === 'reconciled', 20_000);
  // c, r, ga, a and the gateway were inspected by d1; all but r are taken from the saved inspects.
  assert.ok(Number(rec2.reused) >= 4 && Number(rec2.inspected) >= 1, `reused and inspected: ${JSON.stringify(rec2)}`);
  const line = d2.lines.find((l) => isTx(l) && l.container === c.name);
  assert.equal(line?.msg, 'applied', `the start's transaction repaired it: ${JSON.stringify(line)}`);
  assert.deepEqual((await twineRoutes({ pid: c.pid })).map((x) => [x.dst, x.gateway]), routesBefore);
  const repaired = (await twineTable({ pid: c.pid }))!;
  assert.deepEqual(shape(repaired.rules), shape(clean.rules), 'the deleted rule is back, the foreign one gone');
  assert.deepEqual(duplicateRules(repaired.rules), []);
  assert.equal((await twineRoutes({ pid: rPid })).length, 1, `${r.name} applied in its new namespace`);
  assert.deepEqual(shape((await twineTable({ pid: rPid }))!.rules), shape(clean.rules));
  assert.deepEqual(await viaAlias(), [['10.251.0.0/16', gaIp]], 'the alias still resolves from the saved inspect');
  assert.equal(d2.lines.find((l) => isTx(l) && l.container === byAlias)?.msg, 'in sync, nothing sent');
  await d2.stop('SIGTERM');

  // Not saved across a restart of a: it moves to a new endpoint and is inspected again.
  await run('docker', ['restart', '-t', '1', byAlias]);
  a = { ...a, pid: Number((await run('docker', ['inspect', '-f', '{{.State.Pid}}', byAlias])).trim()) };
  const d3 = start(CACHE);
  const rec3 = await d3.waitForLog((l) => l.msg === 'reconciled', 20_000);
  assert.ok(Number(rec3.reused) >= 4 && Number(rec3.inspected) >= 1, `reused and inspected: ${JSON.stringify(rec3)}`);
  assert.equal(d3.lines.find((l) => isTx(l) && l.container === c.name)?.msg, 'in sync, nothing sent');
  assert.deepEqual(shape((await twineTable({ pid: c.pid }))!.rules), shape(clean.rules));
  assert.deepEqual(await viaAlias(), [['10.251.0.0/16', gaIp]]);
  await d3.stop('SIGTERM');

  // Nothing changed in Docker since d3 planned: d4 takes d3's saved plans (not for host routes), and still finds the kernel's drift.
  await execIn({ pid: rPid }, 'ip', ['route', 'del', '10.250.0.0/16']);
  const d4 = start(CACHE);
  const rec4 = await d4.waitForLog((l) => l.msg === 'reconciled', 20_000);
  assert.ok(Number(rec4.plansReused) >= 2, `saved plans taken: ${JSON.stringify(rec4)}`);
  assert.equal(d4.lines.find((l) => isTx(l) && l.container === r.name)?.msg, 'applied', 'the deleted route is found against the saved plan');
  assert.deepEqual((await twineRoutes({ pid: rPid })).map((x) => [x.dst, x.gateway]), routesBefore);
  assert.equal(d4.lines.find((l) => isTx(l) && l.container === byAlias)?.msg, 'in sync, nothing sent');
  assert.deepEqual(await viaAlias(), [['10.251.0.0/16', gaIp]]);
});
