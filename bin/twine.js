#!/usr/bin/env -S node --max-semi-space-size=2 --interrupt-budget=270336
// --max-semi-space-size=2: V8's young generation otherwise grows to 2 x 16 MB
// under the daemon's allocation rate; measured with 200 containers restarted
// twice, RSS 101 MB with it and 130 MB without.
// --interrupt-budget (4 x V8's default): a function is optimised after four
// times as much work. A restart with 1000 containers in sync otherwise spends
// ~0.3 s of CPU in V8's optimising compiler threads for code that runs for
// ~1 s, on the CPU the namespace workers need (bench/PROFILE.md, session 8).
// Only start-up flags work (v8.setFlagsFromString has no effect on them later),
// hence the shebang; tests and the bench read the flags from this line so they
// run what is deployed.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { URL } from 'node:url';

// The daemon loads its native addon before any other module: the addon's init
// caps glibc's malloc arenas, which binds only threads that have not allocated
// yet, and loading modules already runs on libuv's threads. A failure here is
// left to the regular loader (src/netns/addon.ts), which says what it tried.
if (process.argv[2] === 'start') {
  try {
    createRequire(import.meta.url)('../build/Release/twine_native.node');
  } catch {
    // reported when the daemon loads the addon
  }
}

// The CLI as one file (scripts/bundle.mjs: a third less CPU to load), else as compiled.
const bundle = new URL('../dist/src/cli/main.bundle.js', import.meta.url);
const { main } = await import(existsSync(bundle) ? bundle.href : '../dist/src/cli/main.js');
main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err instanceof Error ? err.message : err); process.exitCode = 2; },
);
