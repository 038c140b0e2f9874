// `twine plan` against live containers: it resolves references from Docker's
// inventory and the container's namespace, prints the exact plan, changes
// nothing, and exits 1 naming every bad label.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { TWINE_REPLY_TABLE } from '../../src/netns/types.js';
import {
  cleanupLeftovers,
  containerIp,
  createNetwork,
  ensureImage,
  inNs,
  removeContainer,
  removeNetwork,
  run,
  runContainer,
  tagPrefix,
  testPrefix,
  TWINE_BIN,
  type TestContainer,
} from '../bed/index.js';

const P = testPrefix('pl');
const NET = `${P}net`;
let gw: TestContainer;
let app: TestContainer;
let bad: TestContainer;

before(async () => {
  await cleanupLeftovers(tagPrefix('pl'));
  await ensureImage();
  // Not internal: Docker gives no gateway (so no default route) and publishes no port on an internal network.
  await createNetwork(NET, { internal: false });
  gw = await runContainer({ name: `${P}gw`, networks: [NET], labels: { 'twine.nat.interfaces': 'eth+' } });
  [app, bad] = await Promise.all([
    runContainer({
      name: `${P}app`,
      networks: [{ name: NET, aliases: ['frontend'] }],
      labels: { 'twine.route.10.66.0.0/16': `${P}gw`, 'twine.nat.forward.8080': `${P}gw:80` },
      // A published port (on the host's loopback, a port Docker picks): the reply path below is for it.
      extraArgs: ['-p', '127.0.0.1::9090'],
    }),
    runContainer({ name: `${P}bad`, networks: [NET], labels: { 'twine.route.10.0.0.0/33': `${P}gw`, 'twine.rout.10.1.0.0/16': 'x' } }),
  ]);
});

after(async () => {
  await Promise.all([removeContainer(`${P}gw`), removeContainer(`${P}app`), removeContainer(`${P}bad`)]);
  await removeNetwork(NET);
});

const plan = (...args: string[]) => execa(process.execPath, [TWINE_BIN, 'plan', ...args], { reject: false });

test('twine plan --json resolves the gateway to its address and interface and changes nothing', async () => {
  const routesBefore = await inNs(app.pid, 'ip', ['route']);
  const r = await plan(app.name, '--json');
  assert.equal(r.exitCode, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { plan: { routes: Array<{ dst: string; gateway?: string; dev?: string; protocol?: number; table?: number }>; table: { chains: Array<{ name: string; rules: unknown[] }> } } };
  const gwIp = await containerIp(gw.name, NET);
  const dockerGw = (await run('docker', ['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Gateway}}', NET])).trim();
  // The route via the gateway in the main table, and (because the app routes a prefix via a
  // gateway and publishes a port) the reply path for published ports: a default via Docker's gateway in Twine's own table.
  assert.deepEqual(
    doc.plan.routes.map((x) => [x.dst, x.gateway, x.dev, x.protocol, x.table ?? 254]),
    [
      ['10.66.0.0/16', gwIp, 'eth0', 74, 254],
      ['0.0.0.0/0', dockerGw, 'eth0', 74, TWINE_REPLY_TABLE],
    ],
  );
  // Marked: only what comes from the bridge's MAC to the published port.
  const mark = JSON.stringify(doc.plan.table.chains.find((c) => c.name === 'REPLY_MARK')?.rules ?? []);
  assert.match(mark, /"protocol":"ether","field":"saddr"\}\},"right":"([0-9a-f]{2}:){5}[0-9a-f]{2}"/, mark);
  assert.match(mark, /"protocol":"tcp","field":"dport"\}\},"right":9090/, mark);
  const pre = doc.plan.table.chains.find((c) => c.name === 'PREROUTING');
  assert.ok(pre && JSON.stringify(pre.rules).includes(gwIp), 'the forward DNATs to the gateway address');
  assert.equal(await inNs(app.pid, 'ip', ['route']), routesBefore, 'plan changed nothing');
  // Next to the model, the exact batch Twine would send to the namespace.
  const batch = (JSON.parse(r.stdout) as { nft?: { nftables: Record<string, unknown>[] } }).nft;
  assert.deepEqual(batch?.nftables[0], { create: { table: { family: 'inet', name: 'twine' } } });
  assert.ok(batch.nftables.some((c) => JSON.stringify(c).includes(gwIp)), 'the DNAT is in the batch');
  const nft = await execa('nsenter', ['-t', String(app.pid), '-n', 'nft', 'list', 'table', 'inet', 'twine'], { reject: false });
  assert.notEqual(nft.exitCode, 0, 'no table was created');
});

test('twine plan prints text with the nft table and the route operations', async () => {
  const r = await plan(app.name);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /10\.66\.0\.0\/16 via \S+ dev eth0 proto 74/);
  assert.match(r.stdout, /table inet twine/);
});

test('twine plan exits 1 naming the container and every bad label', async () => {
  const r = await plan(bad.name);
  assert.equal(r.exitCode, 1);
  assert.match(r.stderr, new RegExp(`container ${bad.name}: 2 invalid labels`));
  assert.match(r.stderr, /twine\.route\.10\.0\.0\.0\/33/);
  assert.match(r.stderr, /twine\.rout\.10\.1\.0\.0\/16.*unknown twine label/);
});

test('twine plan of an unknown container exits 1', async () => {
  const r = await plan(`${P}nobody`);
  assert.equal(r.exitCode, 1);
  assert.match(r.stderr, /no running container/);
});
