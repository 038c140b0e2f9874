// Loads the native addon. It looks in build/Release and build/Debug of the
// package root and, when none loads, says every path it tried and why.

import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../util/package-root.js';
import type { NativeBinding } from './native.js';

const require = createRequire(import.meta.url);
const ADDON = 'twine_native.node';

/** Where an addon built by binding.gyp (e.g. twine_native.node) may be, in order of preference. */
export function addonCandidates(root = packageRoot(), file = ADDON): string[] {
  return [path.join(root, 'build', 'Release', file), path.join(root, 'build', 'Debug', file)];
}

/** The first of the candidates for file that loads; throws an Error naming every path tried when none does. */
export function loadNativeModule<T>(file: string): T {
  const tried: string[] = [];
  for (const candidate of addonCandidates(packageRoot(), file)) {
    if (!existsSync(candidate)) {
      tried.push(`${candidate}: not found`);
      continue;
    }
    try {
      return require(candidate) as T;
    } catch (err) {
      tried.push(`${candidate}: ${(err as Error).message}`);
    }
  }
  throw new Error(
    `twine: cannot load the native addon ${file}; build it with \`node scripts/build-native.mjs\`. Tried:\n` +
      tried.map((t) => `  ${t}`).join('\n'),
  );
}

let cached: NativeBinding | undefined;

/** The binding; throws an Error naming every path tried when none loads. */
export function loadAddon(): NativeBinding {
  cached ??= loadNativeModule<NativeBinding>(ADDON);
  return cached;
}
