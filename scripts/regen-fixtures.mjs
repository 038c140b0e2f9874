#!/usr/bin/env node
// Regenerate the golden plans under test/fixtures/<scenario>/expected.json from
// their input.json, on purpose, after a deliberate change to the parser,
// resolver or compiler. Review the git diff: it is what Twine would apply differently.
//   npm run build && node scripts/regen-fixtures.mjs [scenario...]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const lib = await import(pathToFileURL(join(fileURLToPath(import.meta.url), '..', '..', 'dist', 'test', 'fixtures', 'scenarios.js')).href);
const wanted = process.argv.slice(2);
const names = wanted.length ? wanted : lib.scenarioNames();
for (const name of names) {
  const text = lib.renderExpected(lib.runScenario(lib.loadInput(name)));
  writeFileSync(join(lib.fixturesDir(), name, 'expected.json'), text);
  console.log(`wrote test/fixtures/${name}/expected.json`);
}
