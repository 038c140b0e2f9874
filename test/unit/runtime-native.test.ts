// The runtime wrapper, run for real against a fake runc and a fake daemon
// socket (no Docker, no root).

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
const GLOBAL = ['--root', '/var/run/docker/runtime-runc/moby', '--log', '/x/log.json', '--log-format', 'json'];
const START_ARGS = [...GLOBAL, 'start', ID];
/** What a refused start leaves runc to do: remove the created container. */
const DELETE_ARGS = [...GLOBAL, 'delete', '--force', ID];

function conf(lines: string): void {
  writeFileSync(path.join(dir, 'twine-runtime.conf'), lines);
}

before(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'twt-rtnat-'));
  dir = path.join(tmp, 'lib');
  mkdirSync(dir);
  copyFileSync(path.join(builtDir(), 'twine-runc'), path.join(dir, 'twine-runc'));
  // A runc that answers `state` (pid 4321, or $STATE_PID; exit $STATE_EXIT) and records how anything else was called.
  const fake = path.join(tmp, 'runc');
  writeFileSync(
    fake,
    `#!/bin/sh\nfor a; do last=$a; done\ncase " $* " in *" state "*) printf '{"ociVersion":"1.0.2","id":"%s","pid":%s,"status":"created","bundle":"/x"}' "$last" "\${STATE_PID:-4321}"; printf '%s\\n' "$@" > ${tmp}/state-args; exit \${STATE_EXIT:-0};; esac\nprintf '%s\\n' "$@" > ${tmp}/runc-args\n`,
  );
  chmodSync(fake, 0o755);
});

after(() => rmSync(tmp, { recursive: true, force: true }));

function lines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(0, -1);
  } catch {
    return [];
  }
}

async function wrapper(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stderr: string; runcArgs: string[]; stateArgs: string[]; ms: number }> {
  rmSync(path.join(tmp, 'runc-args'), { force: true });
  rmSync(path.join(tmp, 'state-args'), { force: true });
  const t0 = performance.now();
  const r = await execa(path.join(dir, 'twine-runc'), args, { reject: false, env });
  return { code: r.exitCode ?? -1, stderr: String(r.stderr), runcArgs: lines(path.join(tmp, 'runc-args')), stateArgs: lines(path.join(tmp, 'state-args')), ms: performance.now() - t0 };
}

/** `runc start` of container ID through the wrapper, with the fake runc. */
function start(): ReturnType<typeof wrapper> {
  const text = readFileSync(path.join(dir, 'twine-runtime.conf'), 'utf8');
  if (!/^runc=/m.test(text)) conf(`${text}runc=${tmp}/runc\n`);
  return wrapper(START_ARGS);
}

test('twine-runc: create and every command but start go to runc untouched, and the bundle is never changed', async () => {
  conf(`runc=${tmp}/runc\n`);
  const bundle = mkdtempSync(path.join(tmp, 'bundle-'));
  const config = '{"ociVersion":"1.0.2","hooks":{"prestart":[]}}';
  writeFileSync(path.join(bundle, 'config.json'), config);
  for (const args of [[...GLOBAL, 'create', '--bundle', bundle, '--pid-file', '/x/init.pid', ID], ['run', '-b', bundle, ID], [...GLOBAL, 'kill', ID, '9'], [...GLOBAL, 'delete', '--force', ID]]) {
    const r = await wrapper(args);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.runcArgs, args);
    assert.deepEqual(r.stateArgs, [], 'nobody asked runc for a state');
  }
  assert.equal(readFileSync(path.join(bundle, 'config.json'), 'utf8'), config);
});

test('twine-runc start: the pid comes from `runc state` with the same global options; a state it cannot use refuses the start', async () => {
  const sock = path.join(tmp, 'state.sock');
  conf(`socket=${sock}\ntimeout_ms=3000\nrunc=${tmp}/runc\n`);
  const d = await fakeDaemon(sock, () => ({ status: 200, body: { ok: true, applied: true } }));
  try {
    const ok = await wrapper(START_ARGS, { STATE_PID: '777' });
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(ok.stateArgs, [...GLOBAL, 'state', ID]);
    assert.equal(d.bodies[0]!.pid, 777);
    for (const [env, why] of [[{ STATE_EXIT: '1' }, /runc state .* failed/], [{ STATE_PID: '0' }, /no valid pid in runc's state/], [{ STATE_PID: '"x"' }, /no valid pid/]] as const) {
      const r = await wrapper(START_ARGS, env);
      assert.equal(r.code, 1, JSON.stringify(env));
      assert.match(r.stderr, why);
      assert.deepEqual(r.runcArgs, [], 'runc start never ran');
    }
    const odd = await wrapper([...GLOBAL, 'start', ID, 'extra']);
    assert.equal(odd.code, 1);
    assert.match(odd.stderr, /cannot tell which container `runc start` starts; refusing/);
    assert.equal(d.bodies.length, 1, 'only the good start asked the daemon');
  } finally {
    await d.close();
  }
});

test('twine-runc: a settings file it cannot read fails every command, naming the line, and runc never runs', async () => {
  conf('mode=maybe\n');
  const bad = await wrapper([...GLOBAL, 'create', '--bundle', '/x', ID]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /twine-runtime.conf:1: mode must be closed or open/);
  assert.deepEqual(bad.runcArgs, []);
});

/** A fake daemon on a unix socket; `reply` decides each answer (undefined: never answer). */
async function fakeDaemon(sock: string, reply: (body: Record<string, unknown>) => { status: number; body: unknown } | undefined): Promise<{ bodies: Record<string, unknown>[]; close(): Promise<void> }> {
  const bodies: Record<string, unknown>[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      assert.equal(req.method, 'POST');
      assert.equal(req.url, '/runtime/start');
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

test('twine-runc start: the daemon\'s 200 lets runc start run, once asked with the id and the pid `runc state` gives', async () => {
  const sock = path.join(tmp, 'ok.sock');
  conf(`socket=${sock}\ntimeout_ms=3000\n`);
  const d = await fakeDaemon(sock, () => ({ status: 200, body: { ok: true, applied: true } }));
  try {
    const r = await start();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.runcArgs, START_ARGS, 'runc start ran with the same arguments');
    assert.equal(d.bodies.length, 1);
    assert.equal(d.bodies[0]!.id, ID);
    assert.equal(d.bodies[0]!.pid, 4321);
    assert.equal(d.bodies[0]!.mode, 'closed');
    assert.ok((d.bodies[0]!.timeoutMs as number) > 0 && (d.bodies[0]!.timeoutMs as number) <= 3000);
  } finally {
    await d.close();
  }
});

test('twine-runc start: the daemon\'s error fails the start with its reason (closed), or is a warning (open)', async () => {
  const sock = path.join(tmp, 'err.sock');
  const d = await fakeDaemon(sock, () => ({ status: 503, body: { ok: false, error: 'labels invalid: twine.route.x: "x" is not a CIDR' } }));
  try {
    conf(`socket=${sock}\ntimeout_ms=3000\n`);
    const closed = await start();
    assert.equal(closed.code, 1);
    assert.deepEqual(closed.runcArgs, DELETE_ARGS, 'runc start never ran; the created container was deleted');
    assert.match(closed.stderr, /^twine: container aaaaaaaaaaaa not started \(fail-closed runtime\): labels invalid: twine.route.x: "x" is not a CIDR$/);
    conf(`socket=${sock}\ntimeout_ms=3000\nmode=open\n`);
    const open = await start();
    assert.equal(open.code, 0);
    assert.deepEqual(open.runcArgs, START_ARGS);
    assert.match(open.stderr, /warning: container aaaaaaaaaaaa starts without Twine's network set-up \(open mode\): labels invalid/);
    assert.equal(d.bodies[1]!.mode, 'open');
  } finally {
    await d.close();
  }
});

test('twine-runc start: no daemon, or one that never answers, fails the start once the timeout has passed', async () => {
  const sock = path.join(tmp, 'none.sock');
  conf(`socket=${sock}\ntimeout_ms=600\n`);
  const none = await start();
  assert.equal(none.code, 1);
  assert.deepEqual(none.runcArgs, DELETE_ARGS);
  assert.match(none.stderr, /not started \(fail-closed runtime\): no answer from the daemon within 600 ms \(cannot reach the daemon at .*none.sock: No such file or directory\)/);
  assert.ok(none.ms >= 600, `gave up after ${none.ms} ms`);
  const silent = path.join(tmp, 'silent.sock');
  conf(`socket=${silent}\ntimeout_ms=600\n`);
  const d = await fakeDaemon(silent, () => undefined);
  try {
    const r = await start();
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no answer from the daemon within 600 ms/);
    assert.equal(d.bodies.length, 1);
  } finally {
    await d.close();
  }
});

test('twine-runc start: a daemon that comes up while it waits (a restart) is asked, and the start goes on', async () => {
  const sock = path.join(tmp, 'late.sock');
  conf(`socket=${sock}\ntimeout_ms=5000\n`);
  const running = start();
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

test('twine-runc start: a container whose Docker record has no twine.* label passes without asking anyone; one with, or an unreadable record, asks', async () => {
  const root = path.join(tmp, 'docker-root');
  const record = (labels: string): void => {
    mkdirSync(path.join(root, 'containers', ID), { recursive: true });
    writeFileSync(path.join(root, 'containers', ID, 'config.v2.json'), `{"ID":"${ID}","Config":{"Hostname":"x","Labels":${labels},"Env":["A=}"]},"Name":"/c"}`);
  };
  const sock = path.join(tmp, 'labels.sock');
  conf(`socket=${sock}\ntimeout_ms=400\ndocker_root=${root}\n`);
  for (const labels of ['null', '{}', '{"com.docker.compose.service":"web","x":"twine.route"}']) {
    record(labels);
    const r = await start();
    assert.equal(r.code, 0, `${labels}: ${r.stderr}`);
    assert.deepEqual(r.runcArgs, START_ARGS, labels);
  }
  // No daemon: these must fail closed, because they had to ask.
  for (const labels of ['{"a":"b","twine.route.10.0.0.0/8":"gw"}', '{"\\u0074wine.x":"y"}', '{"a":']) {
    record(labels);
    const r = await start();
    assert.equal(r.code, 1, labels);
    assert.match(r.stderr, /no answer from the daemon/);
  }
  rmSync(path.join(root, 'containers', ID), { recursive: true });
  assert.equal((await start()).code, 1, 'no record: ask');
});
