#!/usr/bin/env node
// Bundles the compiled CLI (dist/src/cli/main.js, its modules and prom-client)
// into one file, dist/src/cli/main.bundle.js, which bin/twine.js runs. Why:
// Node's ES module loader resolves, reads and compiles each of the ~120 files
// of dist/src and the ~100 of prom-client and @opentelemetry/api one by one;
// measured here, the daemon used 470 ms of CPU before its first Docker request
// unbundled and 310 ms bundled (bench/PROFILE.md, "Memory and start-up").
//
// The bundle sits beside main.js so that what finds files relative to its own
// module (the package root, package.json, build/Release) finds the same ones.
// Kept out: pino and pino-pretty (pino's transports start worker threads from
// files resolved in its own package), execa (loaded only by the exec
// transport) and the native addon (loaded by path at run time).
//
//   node scripts/bundle.mjs        after tsc (npm run build runs both)
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

await build({
  entryPoints: [path.join(root, 'dist/src/cli/main.js')],
  outfile: path.join(root, 'dist/src/cli/main.bundle.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['pino', 'pino-pretty', 'execa', '*.node'],
  // CommonJS packages inside an ES module bundle call require() for Node's
  // built-in modules; esbuild's shim uses a `require` in scope when there is one.
  banner: { js: "import { createRequire as __twineCreateRequire } from 'node:module';\nconst require = __twineCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
