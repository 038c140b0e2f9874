#!/usr/bin/env -S node --max-semi-space-size=2
// --max-semi-space-size=2: V8's young generation otherwise grows to 2 x 16 MB
// under the daemon's allocation rate; measured with 200 containers restarted
// twice, RSS 101 MB with it and 130 MB without. Only a start-up flag works
// (v8.setFlagsFromString has no effect on it later), hence the shebang; tests
// and the bench read the flags from this line so they run what is deployed.
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err instanceof Error ? err.message : err); process.exitCode = 2; },
);
