// Where Twine's own files are at run time: the package root holds package.json
// and binding.gyp, with src/ (tsx) or dist/src/ (compiled) somewhere below it.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The nearest directory at or above this file that holds package.json and binding.gyp. */
export function packageRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  let dir = here;
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'binding.gyp'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(here, '..', '..');
    dir = up;
  }
}
