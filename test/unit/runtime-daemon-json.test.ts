import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { addRuntime, dropRuntimesKey, hasRuntime, removeRuntime } from '../../src/runtime/daemon-json.js';
import { finishUninstall, install, uninstall } from '../../src/runtime/install.js';

const P = '/usr/local/lib/twine/twine-runc';

/** install, then uninstall and (after dockerd's reload) the key install added. */
function roundTrip(original: string): { installed: string; after: string | undefined } {
  const a = addRuntime(original, P);
  const removed = removeRuntime(a.text);
  const after = a.added === 'none' ? removed : dropRuntimesKey(removed, a.added);
  return { installed: a.text, after };
}

const cases: Record<string, string> = {
  'pretty, other keys': '{\n  "log-level": "warn",\n  "storage-driver": "overlay2"\n}\n',
  compact: '{"log-level":"warn","default-address-pools":[{"base":"10.10.0.0/16","size":24}]}',
  'runtimes with others': '{\n    "runtimes": {\n        "nvidia": {\n            "path": "nvidia-container-runtime",\n            "runtimeArgs": []\n        }\n    },\n    "debug": true\n}\n',
  'empty runtimes': '{"runtimes": {}, "debug": false}\n',
  'empty object': '{}\n',
  'tabs and CRLF': '{\r\n\t"features": {"buildkit": true},\r\n\t"runtimes": {\r\n\t\t"crun": {"path": "/usr/bin/crun"}\r\n\t}\r\n}\r\n',
  'strings with braces and escapes': '{"labels": ["a}b", "c\\"{d"], "x": "\\\\"}',
};

for (const [name, original] of Object.entries(cases)) {
  test(`daemon.json ${name}: install adds only the twine entry, uninstall gives the same bytes back`, () => {
    const { installed, after } = roundTrip(original);
    const parsed = JSON.parse(installed) as { runtimes: Record<string, unknown> };
    assert.deepEqual(parsed.runtimes.twine, { path: P });
    const before = JSON.parse(original) as Record<string, unknown>;
    const { twine: _t, ...otherRuntimes } = parsed.runtimes;
    assert.deepEqual(otherRuntimes, (before.runtimes as object | undefined) ?? {});
    assert.ok(hasRuntime(installed));
    assert.equal(after, original);
  });
}

test('daemon.json missing or empty: install writes the runtime; uninstall leaves "runtimes": {} until the reload, then nothing', () => {
  const a = addRuntime('', P);
  assert.equal(a.added, 'file');
  assert.deepEqual(JSON.parse(a.text), { runtimes: { twine: { path: P } } });
  const removed = removeRuntime(a.text);
  assert.deepEqual(JSON.parse(removed), { runtimes: {} }, 'the key stays: SIGHUP reloads runtimes only when it is present');
  assert.equal(dropRuntimesKey(removed, 'file'), undefined, 'the file goes');
});

test('installing twice replaces the path and keeps one entry', () => {
  const once = addRuntime('{"debug": true}', P).text;
  const twice = addRuntime(once, '/opt/twine/twine-runc');
  assert.equal(twice.added, 'none');
  assert.deepEqual(JSON.parse(twice.text), { runtimes: { twine: { path: '/opt/twine/twine-runc' } }, debug: true });
});

test('what the user added after install stays: a runtime next to twine keeps the key, another key keeps the file', () => {
  const a = addRuntime('', P);
  const withCrun = a.text.replace('"twine"', '"crun": {"path": "/usr/bin/crun"}, "twine"');
  assert.deepEqual(JSON.parse(dropRuntimesKey(removeRuntime(withCrun), 'file')!), { runtimes: { crun: { path: '/usr/bin/crun' } } });
  const withDebug = a.text.replace('{\n', '{\n  "debug": true,\n');
  assert.deepEqual(JSON.parse(dropRuntimesKey(removeRuntime(withDebug), 'file')!), { debug: true });
});

test('a daemon.json that is not a JSON object is refused with its name, changing nothing', () => {
  assert.throws(() => addRuntime('{"debug": tru', P, '/etc/docker/daemon.json'), /\/etc\/docker\/daemon.json is not valid JSON/);
  assert.throws(() => addRuntime('[1]', P), /expected a JSON object/);
  assert.throws(() => addRuntime('{"runtimes": []}', P), /"runtimes" is not an object/);
});

test('install and uninstall on files: executables, settings, daemon.json as found', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'twt-rtjson-'));
  try {
    const from = path.join(tmp, 'build');
    mkdirSync(from);
    writeFileSync(path.join(from, 'twine-runc'), 'wrapper');
    const dir = path.join(tmp, 'lib', 'twine');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'twine-hook'), 'an earlier version\'s hook');
    const dj = path.join(tmp, 'etc', 'daemon.json');
    mkdirSync(path.dirname(dj));
    const original = '{\n  "debug": true\n}\n';
    writeFileSync(dj, original, { mode: 0o600 });
    const settings = { socket: '/run/twine/twine.sock', timeoutMs: 2500, mode: 'open' as const, runc: '', dockerRoot: '' };
    install({ dir, daemonJson: dj, settings, from });
    install({ dir, daemonJson: dj, settings, from });
    assert.ok(!existsSync(path.join(dir, 'twine-hook')), 'the hook of earlier versions is gone');
    assert.equal(readFileSync(path.join(dir, 'twine-runc'), 'utf8'), 'wrapper');
    assert.match(readFileSync(path.join(dir, 'twine-runtime.conf'), 'utf8'), /^socket=\/run\/twine\/twine.sock\ntimeout_ms=2500\nmode=open\nrunc=\ndocker_root=\n$/m);
    assert.deepEqual(JSON.parse(readFileSync(dj, 'utf8')), { runtimes: { twine: { path: `${dir}/twine-runc` } }, debug: true });
    const r = uninstall({ dir, daemonJson: dj });
    assert.equal(r.pendingKey, 'key', 'the second install remembered what the first one added');
    finishUninstall(dj, r.pendingKey!);
    assert.equal(readFileSync(dj, 'utf8'), original);
    assert.ok(!existsSync(dir));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
