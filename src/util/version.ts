// The version printed by --version and logged at start: package.json's.

import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function readVersion(): string {
  if (cached === undefined) {
    // Compiled to dist/src/util/version.js; package.json is three levels up (also from src/util/).
    const candidates = [new URL('../../../package.json', import.meta.url), new URL('../../package.json', import.meta.url)];
    for (const u of candidates) {
      try {
        const pkg = JSON.parse(readFileSync(u, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'twine' && pkg.version) {
          cached = pkg.version;
          break;
        }
      } catch {
        // try the next place
      }
    }
    cached ??= 'unknown';
  }
  return cached;
}
