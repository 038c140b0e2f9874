// Builds the native addon with node-gyp and explains what is missing when it cannot.
//
//   node scripts/build-native.mjs [--verbose] [--no-bench]
//
// Builds every target of binding.gyp: the daemon's addon (twine_native), the
// runtime's executables and the bench-only addon (twine_bench: the namespace
// watch the benchmarks and test/kernel/watch.test.ts use). --no-bench leaves
// twine_bench out (the Dockerfile's production image: the daemon never loads it).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

const missing = ['make', 'g++', 'python3'].filter((c) => !have(c));
if (missing.length > 0) {
  console.error(`twine: cannot build the native addon: missing ${missing.join(', ')}.\n` +
    'Install them, e.g. on Debian: apt-get install -y build-essential python3');
  process.exit(1);
}

let gyp;
try {
  gyp = require.resolve('node-gyp/bin/node-gyp.js');
} catch {
  console.error('twine: node-gyp is not installed; run `npm ci` (it is a devDependency) or `npm install -g node-gyp`.');
  process.exit(1);
}

// Build against the headers of the Node.js that runs us, so nothing is downloaded.
const bench = !process.argv.includes('--no-bench');
// An unknown node-gyp option becomes a gyp variable (build/config.gypi).
const args = [gyp, 'rebuild', `--twine_bench=${bench ? 1 : 0}`];
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(path.join(prefix, 'include', 'node', 'node.h'))) {
  args.push(`--nodedir=${prefix}`);
}
// Quiet unless asked (`npm ci --verbose`, `node scripts/build-native.mjs --verbose` or
// TWINE_BUILD_VERBOSE=1): node-gyp's ~50 lines are shown only when the build fails.
const verbose = process.argv.includes('--verbose') || ['verbose', 'silly'].includes(process.env.npm_config_loglevel ?? '') ||
  /^(1|true|yes|on)$/i.test(process.env.TWINE_BUILD_VERBOSE ?? '');
const r = spawnSync(process.execPath, args, verbose ? { stdio: 'inherit' } : { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
if (r.status !== 0) {
  if (!verbose) process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`);
  console.error('twine: node-gyp failed to build the addon (see above). It needs g++, make, python3 and the Node.js headers ' +
    '(node-gyp downloads none here: the machine must have them, e.g. the nodejs-dev / libnode-dev package or a Node.js install with include/node).');
  process.exit(r.status ?? 1);
}
if (!verbose) console.log(`twine: native addon built (build/Release/twine_native.node${bench ? ', twine_bench.node' : ''})`);
