import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { parseOptions, type OptionSpec } from '../../src/util/options.js';
import type { CliIO } from '../../src/cli/command.js';
import { UsageError } from '../../src/errors.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

async function runMain(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Partial<CliIO> = { stdout: (t) => void (out += t), stderr: (t) => void (err += t), env };
  const code = await main(argv, io);
  return { code, out, err };
}

test('--help lists the commands, the environment rule and the exit codes', async () => {
  const r = await runMain(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.out, /Usage: twine <command>/);
  assert.match(r.out, /^\s+start\s+\S/m);
  assert.match(r.out, /Exit codes[^\n]*:[\s\S]*\b0\b[\s\S]*\b1\b[\s\S]*\b2\s+usage error/);
});

test('start --help names every option with its environment variable', async () => {
  const r = await runMain(['start', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.out, /--docker-socket <path\|url>.*env TWINE_DOCKER_SOCKET/);
  assert.match(r.out, /--log-level <level>.*env TWINE_LOG_LEVEL/);
});

test('--version prints package.json version', async () => {
  const r = await runMain(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.out, `${pkg.version}\n`);
});

test('unknown option and unknown command exit 2 with a clear message', async () => {
  const a = await runMain(['start', '--no-such-flag']);
  assert.equal(a.code, 2);
  assert.match(a.err, /Unknown option '--no-such-flag'/);
  const b = await runMain(['--bogus']);
  assert.equal(b.code, 2);
  assert.match(b.err, /unknown option --bogus/);
  const c = await runMain(['frobnicate']);
  assert.equal(c.code, 2);
  assert.match(c.err, /unknown command "frobnicate"/);
  const d = await runMain(['start', 'extra']);
  assert.equal(d.code, 2);
});

test('--nice and --apply-before-start refuse values out of their range', async () => {
  for (const v of ['25', '-21', '1.5', 'high']) {
    const r = await runMain(['start', `--nice=${v}`]);
    assert.equal(r.code, 2, v);
    assert.match(r.err, /--nice=".*": expected an integer from -20 to 19/);
  }
  const a = await runMain(['start', '--apply-before-start', 'maybe']);
  assert.equal(a.code, 2);
  assert.match(a.err, /on, off/);
});

test('an invalid value from the environment is a usage error naming the variable', async () => {
  const r = await runMain(['start'], { TWINE_LOG_LEVEL: 'loud' });
  assert.equal(r.code, 2);
  assert.match(r.err, /TWINE_LOG_LEVEL="loud": expected one of trace, debug/);
  const s = await runMain(['start', '--log-level', 'nope']);
  assert.equal(s.code, 2);
  assert.match(s.err, /--log-level="nope"/);
  const t = await runMain(['start'], { TWINE_DOCKER_SOCKET: 'ftp://x' });
  assert.equal(t.code, 2);
  assert.match(t.err, /ftp:\/\/x/);
});

const SPECS: OptionSpec[] = [
  { name: 'docker-socket', type: 'string', env: 'TWINE_DOCKER_SOCKET', description: 'x' },
  { name: 'log-level', type: 'string', env: 'TWINE_LOG_LEVEL', default: 'info', description: 'x' },
  { name: 'allow-x', type: 'boolean', env: 'TWINE_ALLOW_X', default: false, description: 'x' },
];

test('options come from the environment; flags win; defaults fill the rest', () => {
  const env = { TWINE_DOCKER_SOCKET: '/env.sock', TWINE_LOG_LEVEL: 'debug', TWINE_ALLOW_X: 'yes' };
  const fromEnv = parseOptions(SPECS, [], env).values;
  assert.deepEqual(fromEnv, { 'docker-socket': '/env.sock', 'log-level': 'debug', 'allow-x': true });
  const flags = parseOptions(SPECS, ['--docker-socket', '/flag.sock', '--log-level=warn'], env).values;
  assert.equal(flags['docker-socket'], '/flag.sock');
  assert.equal(flags['log-level'], 'warn');
  const none = parseOptions(SPECS, [], {}).values;
  assert.deepEqual(none, { 'docker-socket': undefined, 'log-level': 'info', 'allow-x': false });
  assert.equal(parseOptions(SPECS, [], { TWINE_ALLOW_X: '0' }).values['allow-x'], false);
  assert.throws(() => parseOptions(SPECS, [], { TWINE_ALLOW_X: 'maybe' }), UsageError);
});

test('bin/twine.js: --version and an unknown option as a real process', () => {
  const bin = fileURLToPath(new URL('../../../bin/twine.js', import.meta.url));
  const v = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
  assert.equal(v.status, 0);
  assert.equal(v.stdout.trim(), pkg.version);
  const u = spawnSync(process.execPath, [bin, 'start', '--wat'], { encoding: 'utf8' });
  assert.equal(u.status, 2);
  assert.match(u.stderr, /--wat/);
});

test("each command's --help lists its own exit codes, and only those", async () => {
  const codes = async (cmd: string): Promise<Map<number, string>> => {
    const r = await runMain([cmd, '--help']);
    assert.equal(r.code, 0);
    const block = r.out.split('Exit codes:\n')[1] ?? '';
    return new Map([...block.matchAll(/^ {2}(\d) {2}(.*)$/gm)].map((m) => [Number(m[1]), m[2]!]));
  };
  const cleanup = await codes('cleanup');
  assert.deepEqual([...cleanup.keys()], [0, 1, 2, 3]);
  assert.doesNotMatch([...cleanup.values()].join('\n'), /SIGINT|another twine/);
  assert.match(cleanup.get(3) ?? '', /daemon answers on --socket.*--force/);
  const start = await codes('start');
  assert.match(start.get(0) ?? '', /SIGINT or SIGTERM/);
  assert.match(start.get(3) ?? '', /another twine already holds --socket/);
  for (const cmd of ['plan', 'status', 'healthcheck']) {
    const c = await codes(cmd);
    assert.deepEqual([...c.keys()], [0, 1, 2], cmd);
    assert.doesNotMatch([...c.values()].join('\n'), /SIGINT|another twine/, cmd);
  }
  assert.match((await codes('status')).get(1) ?? '', /not connected to Docker/);
});

test('an invalid number from the environment names the variable, not the flag', async () => {
  const cases: [string, string, RegExp][] = [
    ['TWINE_RESYNC_INTERVAL', 'abc', /expected a number from 0 to 86400/],
    ['TWINE_CONCURRENCY', '0', /expected a number from 1 to 256/],
    ['TWINE_NICE', 'high', /expected an integer from -20 to 19/],
    ['TWINE_LISTEN', 'nowhere', /expected host:port/],
  ];
  for (const [name, value, why] of cases) {
    const r = await runMain(['start'], { [name]: value });
    assert.equal(r.code, 2, name);
    assert.match(r.err, new RegExp(`${name}="${value}": `), name);
    assert.match(r.err, why, name);
    assert.doesNotMatch(r.err, /twine start: --/, name);
  }
  const flag = await runMain(['start', '--resync-interval', 'abc']);
  assert.equal(flag.code, 2);
  assert.match(flag.err, /--resync-interval="abc": expected a number/);
  const timeout = await runMain(['status'], { TWINE_TIMEOUT: '-1' });
  assert.equal(timeout.code, 2);
  assert.match(timeout.err, /TWINE_TIMEOUT="-1": expected a positive number of seconds/);
  const dockerHost = await runMain(['plan', 'x'], { DOCKER_HOST: 'ftp://x' });
  assert.match(dockerHost.err, /DOCKER_HOST="ftp:\/\/x": /);
  const socketVar = await runMain(['start'], { TWINE_DOCKER_SOCKET: 'ftp://x' });
  assert.equal(socketVar.code, 2);
  assert.match(socketVar.err, /TWINE_DOCKER_SOCKET="ftp:\/\/x": expected an absolute socket path/);
});

test('cleanup refuses with exit 3 while a daemon answers on --socket; --force goes on', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'twt-cleanup-'));
  const sock = path.join(dir, 'twine.sock');
  const daemon = net.createServer((c) => c.end());
  await new Promise<void>((resolve) => daemon.listen(sock, resolve));
  // A Docker that is not there: past the check, cleanup fails on it (exit 1), which shows it went on.
  const env = { TWINE_DOCKER_SOCKET: path.join(dir, 'no-docker.sock') };
  try {
    const r = await runMain(['cleanup', '--socket', sock], env);
    assert.equal(r.code, 3, r.err);
    assert.match(r.err, new RegExp(`a twine daemon is running \\(socket ${sock} answers\\); stop it first`));
    assert.match(r.err, /--force/);
    const viaEnv = await runMain(['cleanup'], { ...env, TWINE_SOCKET: sock });
    assert.equal(viaEnv.code, 3);
    const forced = await runMain(['cleanup', '--socket', sock, '--force'], env);
    assert.equal(forced.code, 1, forced.err);
    assert.match(forced.err, /no-docker\.sock/);
  } finally {
    await new Promise<void>((resolve) => daemon.close(() => resolve()));
  }
  // No daemon (the socket is gone): no refusal.
  const free = await runMain(['cleanup', '--socket', sock], env);
  assert.equal(free.code, 1, free.err);
  assert.doesNotMatch(free.err, /daemon is running/);
  rmSync(dir, { recursive: true, force: true });
});
