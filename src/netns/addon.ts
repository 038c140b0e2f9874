// Loads the native addon. It looks in build/Release and build/Debug of the
// package root and, when none loads, says every path it tried and why.

import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../util/package-root.js';
import type { NativeBinding } from './native.js';

const require = createRequire(import.meta.url);
const ADDON = 'twine_native.node';


/** Where the addon may be, in order of preference. */
export function addonCandidates(root = packageRoot()): string[] {
  return [path.join(root, 'build', 'Release', ADDON), path.join(root, 'build', 'Debug', ADDON)];
}

let cached: NativeBinding | undefined;

/** The binding; throws an Error naming every path tried when none loads. */
export function loadAddon(): NativeBinding {
  if (cached) return cached;
  const tried: string[] = [];
  for (const file of addonCandidates()) {
    if (!existsSync(file)) {
      tried.push(`${file}: not found`);
      continue;
    }
    try {
      cached = require(file) as NativeBinding;
      return cached;
    } catch (err) {
      tried.push(`${file}: ${(err as Error).message}`);
    }
  }
  throw new Error(
    `twine: cannot load the native addon ${ADDON}; build it with \`node scripts/build-native.mjs\`. Tried:\n` +
      tried.map((t) => `  ${t}`).join('\n'),
  );
}
