// The runtime's two native executables, run for real against a fake runc and
// a fake daemon socket (no Docker, no root).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { builtDir } from '../../src/runtime/install.js';

let tmp: string;
let dir: string;
const ID = 'a'.repeat(64);
const SETKEY = { path: '/proc/1/exe', args: ['libnetwork-setkey', '-exec-root=/var/run/docker', ID, 'c0ffee'] };

function conf(lines: string): void {
  writeFileSync(path.join(dir, 'twine-runtime.conf'), lines);
}

before(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'twt-rtnat-'));
  dir = path.join(tmp, 'lib');
  mkdirSync(dir);
  for (const n of ['twine-runc', 'twine-hook']) copyFileSync(path.join(builtDir(), n), path.join(dir, n));
  // A runc that records how it was called.
  const fake = path.join(tmp, 'runc');
  writeFileSync(fake, `#!/bin/sh\nprintf '%s\\n' "$@" > ${tmp}/runc-args\n`);
  chmodSync(fake, 0o755);
});

after(() => rmSync(tmp, { recursive: true, force: true }));

async function wrapper(config: unknown, args: (bundle: string) => string[]): Promise<{ config: Record<string, unknown>; text: string; runcArgs: string[]; code: number; stderr: string }> {
  const bundle = mkdtempSync(path.join(tmp, 'bundle-'));
  const text = typeof config === 'string' ? config : JSON.stringify(config);
  writeFileSync(path.join(bundle, 'config.json'), text);
  rmSync(path.join(tmp, 'runc-args'), { force: true });
  const a = args(bundle);
  const r = await execa(path.join(dir, 'twine-runc'), a, { reject: false });
  let runcArgs: string[] = [];
  try {
    runcArgs = readFileSync(path.join(tmp, 'runc-args'), 'utf8').split('\n').slice(0, -1);
  } catch {
    // runc was not run
  }
  const out = readFileSync(path.join(bundle, 'config.json'), 'utf8');
  return { config: JSON.parse(out) as Record<string, unknown>, text: out, runcArgs, code: r.exitCode ?? -1, stderr: String(r.stderr) };
}

const createArgs = (bundle: string): string[] => ['--root', '/var/run/docker/runtime-runc/moby', '--log', '/x/log.json', '--log-format', 'json', 'create', '--bundle', bundle, '--pid-file', '/x/init.pid', ID];

test('twine-runc create: Twine\'s hook goes after Docker\'s setkey hook, then runc runs with the same arguments', async () => {
  conf(`timeout_ms=4000\nrunc=${tmp}/runc\n`);
  const r = await wrapper({ ociVersion: '1.0.2', process: { args: ['sh'] }, hooks: { prestart: [SETKEY] } }, createArgs);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((r.config.hooks as { prestart: unknown[] }).prestart, [SETKEY, { path: `${dir}/twine-hook`, args: ['twine-hook'], timeout: 6 }]);
  assert.deepEqual(r.config.process, { args: ['sh'] });
  assert.equal(r.runcArgs.join(' '), createArgs(r.runcArgs[8]!).join(' '));
});

test('twine-runc: a config without hooks, or without prestart, gets them; other commands leave the bundle alone', async () => {
  conf(`runc=${tmp}/runc\n`);
  const hook = { path: `${dir}/twine-hook`, args: ['twine-hook'], timeout: 12 };
  let r = await wrapper({ ociVersion: '1.0.2' }, createArgs);
  assert.deepEqual(r.config.hooks, { prestart: [hook] });
  r = await wrapper({ ociVersion: '1.0.2', hooks: { poststop: [SETKEY] } }, (b) => ['create', `--bundle=${b}`, ID]);
  assert.deepEqual(r.config.hooks, { prestart: [hook], poststop: [SETKEY] });
  r = await wrapper({ hooks: { prestart: [] } }, (b) => ['run', '-b', b, ID]);
  assert.deepEqual(r.config.hooks, { prestart: [hook] });
  const untouched = '{"hooks": {"prestart": []}}';
  r = await wrapper(untouched, (b) => ['--root', b, 'state', ID]);
  assert.equal(r.text, untouched);
  assert.deepEqual(r.runcArgs.slice(2), ['state', ID]);
});

test('twine-runc: a config it cannot read fails the start, naming Twine, and runc never runs', async () => {
  conf(`runc=${tmp}/runc\n`);
  const r = await wrapper('{"hooks": "x"}', createArgs);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /twine-runc: cannot add Twine's hook to .*config.json: hooks is not an object/);
  assert.deepEqual(r.runcArgs, []);
  conf('mode=maybe\n');
  const bad = await wrapper({}, createArgs);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /twine-runtime.conf:1: mode must be closed or open/);
});

/** A fake daemon on a unix socket; `reply` decides each answer (undefined: never answer). */
async function fakeDaemon(sock: string, reply: (body: Record<string, unknown>) => { status: number; body: unknown } | undefined): Promise<{ bodies: Record<string, unknown>[]; close(): Promise<void> }> {
  const bodies: Record<string, unknown>[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      assert.equal(req.method, 'POST');
      assert.equal(req.url, '/runtime/prestart');
      const body = JSON.parse(text) as Record<string, unknown>;
      bodies.push(body);
      const r = reply(body);
      if (r) {
        const text = JSON.stringify(r.body);
        res.writeHead(r.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  return {
    bodies,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function hook(): Promise<{ code: number; stderr: string; ms: number }> {
  const t0 = performance.now();
  const state = JSON.stringify({ ociVersion: '1.0.2', id: ID, status: 'creating', pid: 4321, bundle: '/x', annotations: { a: '}' } });
  return execa(path.join(dir, 'twine-hook'), [], { input: state, reject: false }).then((r) => ({ code: r.exitCode ?? -1, stderr: String(r.stderr), ms: performance.now() - t0 }));
}

test('twine-hook: exits 0 when the daemon answers 200, having sent the id and pid of the OCI state', async () => {
  const sock = path.join(tmp, 'ok.sock');
  conf(`socket=${sock}\ntimeout_ms=3000\n`);
  const d = await fakeDaemon(sock, () => ({ status: 200, body: { ok: true, applied: true } }));
  try {
    const r = await hook();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(d.bodies.length, 1);
    assert.equal(d.bodies[0]!.id, ID);
    assert.equal(d.bodies[0]!.pid, 4321);
    assert.equal(d.bodies[0]!.mode, 'closed');
    assert.ok((d.bodies[0]!.timeoutMs as number) > 0 && (d.bodies[0]!.timeoutMs as number) <= 3000);
  } finally {
    await d.close();
  }
});

test('twine-hook: the daemon\'s error fails the start with its reason (closed), or is a warning (open)', async () => {
  const sock = path.join(tmp, 'err.sock');
  const d = await fakeDaemon(sock, () => ({ status: 503, body: { ok: false, error: 'labels invalid: twine.route.x: "x" is not a CIDR' } }));
  try {
    conf(`socket=${sock}\ntimeout_ms=3000\n`);
    const closed = await hook();
    assert.equal(closed.code, 1);
    assert.match(closed.stderr, /^twine: container aaaaaaaaaaaa not started \(fail-closed runtime\): labels invalid: twine.route.x: "x" is not a CIDR$/);
    conf(`socket=${sock}\ntimeout_ms=3000\nmode=open\n`);
    const open = await hook();
    assert.equal(open.code, 0);
    assert.match(open.stderr, /warning: container aaaaaaaaaaaa starts without Twine's network set-up \(open mode\): labels invalid/);
    assert.equal(d.bodies[1]!.mode, 'open');
  } finally {
    await d.close();
  }
});

test('twine-hook: no daemon, or one that never answers, fails the start once the timeout has passed', async () => {
  const sock = path.join(tmp, 'none.sock');
  conf(`socket=${sock}\ntimeout_ms=600\n`);
  const none = await hook();
  assert.equal(none.code, 1);
  assert.match(none.stderr, /not started \(fail-closed runtime\): no answer from the daemon within 600 ms \(cannot reach the daemon at .*none.sock: No such file or directory\)/);
  assert.ok(none.ms >= 600, `gave up after ${none.ms} ms`);
  const silent = path.join(tmp, 'silent.sock');
  conf(`socket=${silent}\ntimeout_ms=600\n`);
  const d = await fakeDaemon(silent, () => undefined);
  try {
    const r = await hook();
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no answer from the daemon within 600 ms/);
    assert.equal(d.bodies.length, 1);
  } finally {
    await d.close();
  }
});

test('twine-hook: a daemon that comes up while it waits (a restart) is asked, and the start goes on', async () => {
  const sock = path.join(tmp, 'late.sock');
  conf(`socket=${sock}\ntimeout_ms=5000\n`);
  const running = hook();
  await new Promise((r) => setTimeout(r, 300));
  const d = await fakeDaemon(sock, () => ({ status: 200, body: { ok: true, applied: true } }));
  try {
    const r = await running;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(d.bodies.length, 1);
  } finally {
    await d.close();
  }
});

test('twine-hook: a container whose Docker record has no twine.* label passes without asking anyone; one with, or an unreadable record, asks', async () => {
  const root = path.join(tmp, 'docker-root');
  const record = (labels: string): void => {
    mkdirSync(path.join(root, 'containers', ID), { recursive: true });
    writeFileSync(path.join(root, 'containers', ID, 'config.v2.json'), `{"ID":"${ID}","Config":{"Hostname":"x","Labels":${labels},"Env":["A=}"]},"Name":"/c"}`);
  };
  const sock = path.join(tmp, 'labels.sock');
  conf(`socket=${sock}\ntimeout_ms=400\ndocker_root=${root}\n`);
  for (const labels of ['null', '{}', '{"com.docker.compose.service":"web","x":"twine.route"}']) {
    record(labels);
    const r = await hook();
    assert.equal(r.code, 0, `${labels}: ${r.stderr}`);
  }
  // No daemon: these must fail closed, because they had to ask.
  for (const labels of ['{"a":"b","twine.route.10.0.0.0/8":"gw"}', '{"\\u0074wine.x":"y"}', '{"a":']) {
    record(labels);
    const r = await hook();
    assert.equal(r.code, 1, labels);
    assert.match(r.stderr, /no answer from the daemon/);
  }
  rmSync(path.join(root, 'containers', ID), { recursive: true });
  assert.equal((await hook()).code, 1, 'no record: ask');
});
