#!/usr/bin/env node
// Builds a test copy of the native addon with AddressSanitizer into
// build-asan/, leaving the production addon in build/ alone: the twine_native
// target of binding.gyp, its sources re-rooted, compiled with
// -fsanitize=address and TWINE_TEST_EXPORTS (entry points only tests use).
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
const target = gyp.targets.find((t) => t.target_name === 'twine_native');
if (!target) throw new Error('build-asan: binding.gyp has no twine_native target');

/** Every "sources" list, at any depth (conditions included), relative to build-asan/. */
function reroot(node) {
  if (Array.isArray(node)) return node.map(reroot);
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) out[k] = k === 'sources' ? v.map((s) => path.posix.join('..', s)) : reroot(v);
  return out;
}

const asan = reroot(target);
asan.defines = [...(asan.defines ?? []), 'TWINE_TEST_EXPORTS=1'];
asan.cflags_cc = [...(asan.cflags_cc ?? []), '-fsanitize=address', '-fno-omit-frame-pointer', '-g', '-O1'];
asan.ldflags = [...(asan.ldflags ?? []), '-fsanitize=address'];
const text = JSON.stringify({ targets: [asan] }, null, 2) + '\n';

const newest = Math.max(
  ...readdirSync(path.join(root, 'native')).map((f) => statSync(path.join(root, 'native', f)).mtimeMs),
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
