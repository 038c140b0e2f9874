import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { parseOptions, UsageError, type OptionSpec } from '../../src/cli/options.js';
import type { CliIO } from '../../src/cli/command.js';

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
  assert.match(r.out, /Exit codes:[\s\S]*\b0\b[\s\S]*\b1\b[\s\S]*\b2\s+usage error/);
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
