// The version printed by --version and logged at start: package.json's.

import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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

/**
 * This build of Twine: the version, and the size and modification time of the
 * file this code runs from (the daemon's bundle, which holds all of it; when
 * run unbundled, this module's). What Twine saved for a later start of the same
 * build (engine/plan-memo.ts) is not taken by another.
 */
export function buildIdentity(): string {
  let file: string;
  try {
    const st = statSync(fileURLToPath(import.meta.url));
    file = `${st.size}:${st.mtimeMs}`;
  } catch {
    file = String(Math.random());
  }
  return `${readVersion()} ${file}`;
}
