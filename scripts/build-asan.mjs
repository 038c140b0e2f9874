#!/usr/bin/env node
// Builds a test copy of the native addon with AddressSanitizer into
// build-asan/, leaving the production addon in build/ alone: the twine_native
// target of binding.gyp and the targets it depends on (twine_core), their
// sources re-rooted, compiled with -fsanitize=address, plus
// native/test_exports.cc and TWINE_TEST_EXPORTS (entry points only tests use).
// Nothing is rebuilt when the addon is newer than every source. Prints the
// addon's path on the last line of stdout.
//
// Load it into a node started with LD_PRELOAD=$(g++ -print-file-name=libasan.so)
// (node itself is not instrumented, so the runtime must come first).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, 'build-asan');
const addon = path.join(dir, 'build', 'Release', 'twine_native.node');
const require = createRequire(import.meta.url);

const gyp = JSON.parse(readFileSync(path.join(root, 'binding.gyp'), 'utf8'));
const byName = new Map(gyp.targets.map((t) => [t.target_name, t]));
/** twine_native and every target it depends on, dependencies first. */
function withDependencies(name, out = []) {
  const t = byName.get(name);
  if (!t) throw new Error(`build-asan: binding.gyp has no ${name} target`);
  for (const d of t.dependencies ?? []) withDependencies(d, out);
  if (!out.includes(t)) out.push(t);
  return out;
}

/** Every "sources" list, at any depth (conditions included), relative to build-asan/. */
function reroot(node) {
  if (Array.isArray(node)) return node.map(reroot);
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) out[k] = k === 'sources' ? v.map((s) => path.posix.join('..', s)) : reroot(v);
  return out;
}

const targets = withDependencies('twine_native').map((t) => {
  const asan = reroot(t);
  if (asan.target_name === 'twine_native') asan.sources = [...asan.sources, '../native/test_exports.cc'];
  asan.defines = [...(asan.defines ?? []), 'TWINE_TEST_EXPORTS=1'];
  asan.cflags_cc = [...(asan.cflags_cc ?? []), '-fsanitize=address', '-fno-omit-frame-pointer', '-g', '-O1'];
  asan.ldflags = [...(asan.ldflags ?? []), '-fsanitize=address'];
  return asan;
});
const text = JSON.stringify({ targets }, null, 2) + '\n';

/** Modification times of every file under dir. */
function mtimes(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? mtimes(p) : [statSync(p).mtimeMs];
  });
}
const newest = Math.max(
  ...mtimes(path.join(root, 'native')),
  statSync(path.join(root, 'binding.gyp')).mtimeMs,
  statSync(fileURLToPath(import.meta.url)).mtimeMs,
);
const gypFile = path.join(dir, 'binding.gyp');
const same = existsSync(gypFile) && readFileSync(gypFile, 'utf8') === text;
if (same && existsSync(addon) && statSync(addon).mtimeMs > newest) {
  console.log(addon);
  process.exit(0);
}

mkdirSync(dir, { recursive: true });
writeFileSync(gypFile, text);
const args = [require.resolve('node-gyp/bin/node-gyp.js'), 'rebuild', `--directory=${dir}`, '--jobs=2'];
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(path.join(prefix, 'include', 'node', 'node.h'))) args.push(`--nodedir=${prefix}`);
const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'], cwd: dir });
if (r.status !== 0) {
  console.error('build-asan: node-gyp failed (see above)');
  process.exit(r.status ?? 1);
}
console.log(addon);
