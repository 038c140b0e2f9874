// The examples as shipped: every compose file is valid for
// Debian's docker-compose 1.29, and the vpn example's wg0.conf step fails
// with a message naming the file when it was skipped, and works when it was
// done. (The twine example is brought up by image.test.ts.) The vpn example's
// images come from a registry, so the override file swaps them for the local
// test image; the bind mount, the step under test, is the example's own.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { toContainerInfo, type ContainerInspect } from '../../src/docker/inventory.js';
import { parseLabels } from '../../src/labels/parse.js';
import { dnsPath, leakWarnings } from '../../src/resolve/leaks.js';
import { cleanupLeftovers, compose, ensureImage, exampleFile, EXAMPLES_DIR, run, tagPrefix, testPrefix, TEST_IMAGE, writeOverride, type ComposeOptions } from '../bed/index.js';

const P = testPrefix('ex');
const DIR = `/tmp/${P}dir`;
const WG_CONF = '/config/wg_confs/wg0.conf';

let vpn: ComposeOptions;

before(async () => {
  await cleanupLeftovers(tagPrefix('ex'));
  await ensureImage();
  mkdirSync(DIR, { recursive: true });
  const override = writeOverride(path.join(DIR, 'override.yml'), {
    vpn: { image: TEST_IMAGE },
    app: { image: TEST_IMAGE, command: ['sleep', '600'] },
  });
  // --project-directory: ./wg0.conf is looked for in DIR, never in the checkout (where a user may have made one).
  vpn = { project: P.replace(/-$/, ''), files: [exampleFile('vpn'), override], projectDirectory: DIR };
});

after(async () => {
  if (vpn) await compose(vpn, ['down', '-v', '-t', '1']);
  rmSync(DIR, { recursive: true, force: true });
  await cleanupLeftovers(P);
});

async function projectContainers(): Promise<string[]> {
  const out = await run('docker', ['ps', '-a', '--filter', `label=com.docker.compose.project=${vpn.project}`, '--format', '{{.Names}}']);
  return out.split('\n').filter((l) => l !== '');
}

test('every example is a valid compose file for docker-compose 1.29', async () => {
  for (const name of ['twine', 'vpn', 'dnsmasq-acme']) {
    const r = await compose({ project: `${P}cfg`, files: [exampleFile(name)] }, ['config', '-q']);
    assert.equal(r.exitCode, 0, `${name}: ${r.stderr}`);
  }
});

test("vpn example without wg0.conf: up fails, naming the file, and starts nothing", async () => {
  const r = await compose(vpn, ['up', '-d', '--no-build']);
  assert.notEqual(r.exitCode, 0, r.stdout + r.stderr);
  assert.match(r.stderr, /bind source path does not exist: \S*wg0\.conf/);
  const running = await run('docker', ['ps', '--filter', `label=com.docker.compose.project=${vpn.project}`, '--format', '{{.Names}}']);
  assert.equal(running.trim(), '', 'containers of the project running after the failed up');
  assert.ok(!(await projectContainers()).some((n) => n.includes('_vpn_')), 'a vpn container was created');
});

test('vpn example after `cp wg0.conf.example wg0.conf`: up starts both, wg0.conf mounted read-only', async () => {
  copyFileSync(path.join(EXAMPLES_DIR, 'vpn', 'wg0.conf.example'), path.join(DIR, 'wg0.conf'));
  const r = await compose(vpn, ['up', '-d', '--no-build']);
  assert.equal(r.exitCode, 0, r.stderr);
  const names = await projectContainers();
  const vpnName = names.find((n) => n.includes('_vpn_'));
  assert.ok(vpnName && names.some((n) => n.includes('_app_')), names.join(', '));
  assert.equal(await run('docker', ['exec', vpnName, 'cat', WG_CONF]), readFileSync(path.join(DIR, 'wg0.conf'), 'utf8'));
  const write = await compose(vpn, ['exec', '-T', 'vpn', 'sh', '-c', `echo x >> ${WG_CONF}`]);
  assert.notEqual(write.exitCode, 0, 'wg0.conf is writable in the container');
});

test('vpn example as shipped leaks nothing on this engine: app has dns: servers of its own, so no dns-leak (and twine.dns=required passes), and no ipv6-bypass', async () => {
  const appName = (await projectContainers()).find((n) => n.includes('_app_'));
  assert.ok(appName, 'the app container');
  const [raw] = JSON.parse(await run('docker', ['inspect', appName])) as ContainerInspect[];
  const info = toContainerInfo(raw!);
  assert.deepEqual(info.dnsServers, ['10.64.0.1']);
  const engine = (await run('docker', ['version', '--format', '{{.Server.Version}}'])).trim();
  const spec = parseLabels(info.name, info.labels);
  assert.equal(spec.dns, 'required');
  assert.equal(dnsPath(info, spec, engine).leak, false);
  assert.deepEqual(leakWarnings(info, spec, engine), []);
  // Without its dns: line the same app would leak on Docker 28+.
  assert.equal(dnsPath({ ...info, dnsServers: [] }, spec, '28.5.2').leak, true);
});
