#!/usr/bin/env node
// `npm test` after the build: removes what a killed earlier run left behind
// (test containers, networks, namespaces, links, daemons), then runs ONE
// `node --test` over every group so a single summary counts them all.
//
//   node scripts/run-tests.mjs                 all groups: unit, kernel, e2e
//   node scripts/run-tests.mjs unit kernel     only these groups
//   node scripts/run-tests.mjs --test-name-pattern=route   extra args go to node --test
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const GROUPS = ['unit', 'kernel', 'e2e'];

const args = process.argv.slice(2);
const groups = args.filter((a) => GROUPS.includes(a));
const forwarded = args.filter((a) => !GROUPS.includes(a));
const dirs = (groups.length > 0 ? groups : GROUPS)
  .map((g) => path.join('dist', 'test', g))
  .filter((d) => existsSync(path.join(root, d)));
if (dirs.length === 0) {
  console.error('run-tests: no compiled tests under dist/test/ (run `npm run build` first)');
  process.exit(1);
}

try {
  const { cleanupLeftovers } = await import(path.join(root, 'dist', 'test', 'bed', 'cleanup.js'));
  const r = await cleanupLeftovers();
  const removed = Object.entries(r).filter(([, v]) => v.length > 0).map(([k, v]) => `${v.length} ${k}`);
  if (removed.length > 0) console.error(`run-tests: removed leftovers of an earlier run: ${removed.join(', ')}`);
} catch (err) {
  console.error(`run-tests: warning: could not remove leftovers: ${err instanceof Error ? err.message : err}`);
}

// One file at a time: every e2e daemon acts on every labelled container on the
// host, so two e2e files running at once would wire each other's containers.
const concurrency = forwarded.some((a) => a.startsWith('--test-concurrency')) ? [] : ['--test-concurrency=1'];
const child = spawn(process.execPath, ['--test', ...concurrency, ...forwarded, ...dirs], { cwd: root, stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
