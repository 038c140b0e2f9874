// The dashboard in a real headless browser (Debian's chromium, driven by
// playwright-core) against a running daemon with real containers: the graph
// shows the containers, a route edge with its prefix, a kill-switched edge and
// a label error; the table and the detail panel follow; a container started
// while the page is open appears; and the page asks nothing of anyone but the
// listener. The screenshot it takes is the README's.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import {
  createNetwork,
  run,
  runContainer,
  setUpFile,
  startReconciled,
  tearDownFile,
  testPrefix,
  type TestDaemon,
} from '../bed/index.js';
import { engineMajor, HOST_FORWARDING_MAJOR } from '../../src/resolve/leaks.js';

const P = testPrefix('db');
const NET = `${P}net`;
const GW = `${P}gw`;
const APP = `${P}app`;
const BAD = `${P}bad`;
const LATE = `${P}late`;
const LEAKY = `${P}leaky`;
const PREFIX_UP = '10.249.0.0/16';
const PREFIX_DOWN = '10.248.0.0/16';
const CHROMIUM = '/usr/bin/chromium';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** Where the screenshot goes: the README's copy with TWINE_UPDATE_SCREENSHOT=1, else beside the build. */
const SHOT = process.env.TWINE_UPDATE_SCREENSHOT === '1' ? path.join(root, 'docs', 'dashboard.png') : path.join(root, 'dist', 'test-out', 'dashboard.png');

let daemon: TestDaemon;
let browser: Browser;
let origin: string;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup-host.sh installs Debian's chromium`);
  await setUpFile('db');
  await createNetwork(NET, { internal: false });
  await runContainer({ name: GW, networks: [NET], labels: { 'twine.nat.interfaces': 'eth+' } });
  await runContainer({
    name: APP,
    networks: [NET],
    labels: {
      [`twine.route.${PREFIX_UP}`]: GW,
      [`twine.route.${PREFIX_DOWN}`]: `${P}nobody`,
      'twine.nat.forward.8080': `${GW}:80`,
      'com.example.secret': 'hunter2',
    },
  });
  await runContainer({ name: BAD, networks: [NET], labels: { 'twine.route.10.0.0.0/33': GW } });
  daemon = await startReconciled({ args: ['--resync-interval', '0'], logLevel: 'debug', env: { TWINE_LISTEN: '127.0.0.1:0' } }, 30_000);
  const listening = await daemon.waitForLog((l) => l.msg === 'status server listening');
  origin = `http://${String(listening.listen)}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await tearDownFile(P, { daemons: [daemon], containers: [APP, BAD, LATE, LEAKY, GW], networks: [NET] });
});

async function openPage(): Promise<{ page: Page; requests: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1500, height: 900 } });
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(`${origin}/`);
  await page.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 });
  return { page, requests };
}

test('the dashboard draws the containers, a route edge with its prefix, a down edge and a label error', async () => {
  const { page, requests } = await openPage();
  try {
    // Graph: a node per container; the gateway stands out; the invalid one is marked, the others are not.
    for (const n of [GW, APP, BAD]) await page.waitForSelector(`svg .node[data-name="${n}"]`, { timeout: 10_000 });
    assert.match((await page.getAttribute(`svg .node[data-name="${GW}"]`, 'class')) ?? '', /\bgateway\b/);
    assert.match((await page.getAttribute(`svg .node[data-name="${BAD}"]`, 'class')) ?? '', /\berror\b/);
    for (const n of [GW, APP]) assert.doesNotMatch((await page.getAttribute(`svg .node[data-name="${n}"]`, 'class')) ?? '', /\berror\b/, `${n} is applied`);
    // The route edge app → gateway, labelled with its prefix; the kill-switched one is marked down.
    const labels = await page.$$eval(`svg g.edge.route[data-from="${APP}"] text`, (ts) => ts.map((t) => t.textContent));
    assert.ok(labels.includes(PREFIX_UP), JSON.stringify(labels));
    assert.ok(labels.includes(`${PREFIX_DOWN} (down)`), JSON.stringify(labels));
    assert.equal(await page.$$eval(`svg g.edge.route.down[data-from="${APP}"] path`, (ps) => ps.length), 1);
    const fwd = await page.$$eval(`svg g.edge.forward[data-from="${APP}"][data-to="${GW}"] text`, (ts) => ts.map((t) => t.textContent));
    assert.deepEqual(fwd, ['tcp/8080 → 80']);
    // Table: every container, the error named with its label.
    const rows = await page.$$eval('#containers tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-name')));
    for (const n of [GW, APP, BAD]) assert.ok(rows.includes(n), JSON.stringify(rows));
    const err = await page.textContent(`#containers tbody tr[data-name="${BAD}"] td.error`);
    assert.match(err ?? '', /twine\.route\.10\.0\.0\.0\/33: .*prefix length/);
    // Search narrows the table.
    await page.fill('#search', 'invalid');
    assert.deepEqual(await page.$$eval('#containers tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-name'))), [BAD]);
    await page.fill('#search', '');
    // Detail: twine.* labels only, and what is applied, with the nft table as text.
    await page.click(`#containers tbody tr[data-name="${APP}"]`);
    await page.waitForSelector('#detail:not([hidden]) pre.table-text');
    const detail = (await page.textContent('#detail')) ?? '';
    assert.match(detail, new RegExp(`twine\\.route\\.${PREFIX_UP.replace(/\./g, '\\.')}=${GW}`));
    assert.doesNotMatch(detail, /hunter2|com\.example/, 'labels other than twine.* stay out of the page');
    assert.match((await page.textContent('#detail pre.table-text')) ?? '', /table inet twine[\s\S]*dnat/);
    assert.match(detail, new RegExp(`${PREFIX_DOWN.replace(/\./g, '\\.')}.*DOWN`));
    mkdirSync(path.dirname(SHOT), { recursive: true });
    await page.screenshot({ path: SHOT, fullPage: true });
    // Nothing but the listener was asked for anything.
    const elsewhere = requests.filter((u) => !u.startsWith(`${origin}/`));
    assert.deepEqual(elsewhere, [], 'requests outside the listener');
    assert.ok(requests.some((u) => u.startsWith(`${origin}/api/containers`)), 'the page reads the API');
  } finally {
    await page.close();
  }
});

test('live: a container started while the page is open appears without a reload', async () => {
  const { page, requests } = await openPage();
  try {
    await page.waitForSelector(`svg .node[data-name="${APP}"]`);
    assert.equal(await page.$(`#containers tbody tr[data-name="${LATE}"]`), null);
    await runContainer({ name: LATE, networks: [NET], labels: { [`twine.route.${PREFIX_UP}`]: GW } });
    await page.waitForSelector(`svg g.edge.route[data-from="${LATE}"][data-to="${GW}"]`, { state: 'attached', timeout: 15_000 });
    await page.waitForSelector(`#containers tbody tr[data-name="${LATE}"]`);
    assert.deepEqual(requests.filter((u) => !u.startsWith(`${origin}/`)), []);
  } finally {
    await page.close();
  }
});

test('a routed container without dns: servers carries a dns-leak badge (table, graph, detail) exactly on engines that forward its lookups from the host', async () => {
  const engine = (await run('docker', ['version', '--format', '{{.Server.Version}}'])).trim();
  const leaks = (engineMajor(engine) ?? 0) >= HOST_FORWARDING_MAJOR;
  // It sends nothing: only its labels and Docker's facts matter here.
  await runContainer({ name: LEAKY, networks: [NET], labels: { 'twine.route.0.0.0.0/0': GW } });
  const { page } = await openPage();
  try {
    await page.waitForSelector(`#containers tbody tr[data-name="${LEAKY}"] .state-applied`, { timeout: 15_000 });
    const badges = await page.$$eval(`#containers tbody tr[data-name="${LEAKY}"] .leak`, (es) => es.map((e) => e.textContent));
    assert.deepEqual(badges, leaks ? ['dns-leak'] : [], `docker ${engine}`);
    assert.equal(await page.$$eval(`#containers tbody tr[data-name="${GW}"] .leak`, (es) => es.length), 0);
    const cls = (await page.getAttribute(`svg .node[data-name="${LEAKY}"]`, 'class')) ?? '';
    if (leaks) assert.match(cls, /\bleak\b/);
    else assert.doesNotMatch(cls, /\bleak\b/);
    await page.click(`#containers tbody tr[data-name="${LEAKY}"]`);
    await page.waitForSelector('#detail:not([hidden])');
    const detail = (await page.textContent('#detail')) ?? '';
    if (leaks) assert.match(detail, /dns-leak: .*give the container dns: servers reachable through its gateway/);
    else assert.doesNotMatch(detail, /dns-leak/);
  } finally {
    await page.close();
  }
});
