// Re-renders bench/RESULTS.md and the plots from bench/results.json, without
// re-running the benchmark: node dist/bench/render.js [bench dir].

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resultsPage } from './page.js';
import { writeResults, type Results } from './report.js';

const dir = process.argv[2] ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench');
const r = JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8'), (_k, v: unknown) => (v === null ? NaN : v === 'Infinity' ? Infinity : v === 'NaN' || v === '-Infinity' ? Number(v) : v)) as Results;
writeResults(r, dir, resultsPage(r));
console.log(`rendered ${path.join(dir, 'RESULTS.md')}`);
