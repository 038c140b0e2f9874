#!/usr/bin/env node
// Copies what Twine needs at run time out of a built checkout (after `npm ci`,
// which builds the addon and dist/) into one directory: package.json,
// binding.gyp, bin/, dashboard/, dist/src/, the addon and the runtime's
// executables, and the production dependencies as
// package-lock.json lists them (every package not marked "dev"). The
// Dockerfile's build stage uses it to fill the image's /app; the image test
// uses it to make the same /app from this checkout without a registry.
//
//   node scripts/stage-app.mjs <dest>        dest must not exist yet
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dest = process.argv[2];
if (dest === undefined || process.argv.length > 3) {
  console.error('usage: stage-app.mjs <dest>');
  process.exit(2);
}
if (existsSync(dest)) {
  console.error(`stage-app: ${dest} already exists`);
  process.exit(2);
}

// The addon, and the twine runtime's static executables (`twine runtime install` copies them to the host).
const NATIVE = ['twine_native.node', 'twine-runc'].map((f) => `build/Release/${f}`);
const FILES = ['package.json', 'binding.gyp', 'bin', 'dashboard', 'dist/src', ...NATIVE];
for (const f of FILES) {
  if (!existsSync(path.join(root, f))) {
    console.error(`stage-app: ${f} is missing: run \`npm ci\` (it builds the addon and dist/) first`);
    process.exit(1);
  }
}

mkdirSync(dest, { recursive: true });
for (const f of FILES) cpSync(path.join(root, f), path.join(dest, f), { recursive: true });

// Each lockfile entry is copied without its own node_modules/: nested
// dependencies are entries of their own, copied when they are not dev-only.
const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
let copied = 0;
for (const [key, entry] of Object.entries(lock.packages ?? {})) {
  if (key === '' || entry.dev === true || entry.link === true) continue;
  const from = path.join(root, key);
  if (!existsSync(from)) {
    if (entry.optional === true) continue; // an optional dependency not installed on this platform
    console.error(`stage-app: ${key} is in package-lock.json but not installed: run \`npm ci\``);
    process.exit(1);
  }
  cpSync(from, path.join(dest, key), {
    recursive: true,
    filter: (src) => src === from || path.basename(src) !== 'node_modules' || path.dirname(src) !== from,
  });
  copied++;
}
console.error(`stage-app: ${FILES.length} paths and ${copied} packages in ${dest}`);
