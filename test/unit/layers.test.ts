// The layers of src/ as ARCHITECTURE.md's table states them: every import
// (type-only ones too) goes to a layer its row names, every name in a row is
// used, and no file imports itself back through others.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const src = path.join(root, 'src');

interface Row {
  layers: string[];
  /** undefined: any row above. */
  imports: string[] | undefined;
}

/** The table of ARCHITECTURE.md's "Layers" section, ground first. */
function readTable(): Row[] {
  const md = readFileSync(path.join(root, 'ARCHITECTURE.md'), 'utf8');
  const section = md.slice(md.indexOf('## 2. Layers'), md.indexOf('\n## 3.'));
  const rows: Row[] = [];
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length !== 5 || !cells[1]?.startsWith('`')) continue;
    const names = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/\/$/, ''));
    rows.push({ layers: names(cells[1]), imports: cells[3] === 'any row above' ? undefined : names(cells[3]!) });
  }
  return rows;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** The src/ files a file imports (relative specifiers; ./x.js is x.ts or x.d.ts). */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  const out: string[] = [];
  for (const { fileName } of info.importedFiles) {
    if (!fileName.startsWith('.')) continue;
    const base = path.resolve(path.dirname(file), fileName).replace(/\.js$/, '');
    const target = [`${base}.ts`, `${base}.d.ts`, path.join(base, 'index.ts')].find((p) => existsSync(p));
    assert.ok(target, `${path.relative(root, file)}: cannot resolve ${fileName}`);
    out.push(target);
  }
  return out;
}

/** errors.ts, or the folder right under src/. */
const layerOf = (file: string): string => path.relative(src, file).split(path.sep)[0]!;

const files = sourceFiles(src);
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const rel = (f: string) => path.relative(root, f);

test('the layers table names every layer of src/ once, each importing only rows above it', () => {
  const rows = readTable();
  assert.ok(rows.length >= 10, `found only ${rows.length} rows in ARCHITECTURE.md's layers table`);
  const rowOf = new Map<string, number>();
  rows.forEach((r, i) => {
    for (const l of r.layers) {
      assert.ok(!rowOf.has(l), `${l} is in two rows of the table`);
      rowOf.set(l, i);
    }
  });
  for (const top of new Set(files.map(layerOf))) assert.ok(rowOf.has(top), `src/${top} is in no row of the layers table`);
  rows.forEach((r, i) => {
    for (const l of r.imports ?? []) {
      const at = rowOf.get(l);
      assert.ok(at !== undefined, `row ${r.layers.join(', ')}: ${l} is no layer`);
      assert.ok(at < i, `row ${r.layers.join(', ')} imports ${l}, which is not in a row above it`);
    }
  });
});

test('every import in src/ goes to a layer its row allows, and every allowed layer is imported', () => {
  const rows = readTable();
  const rowOf = new Map(rows.flatMap((r, i) => r.layers.map((l) => [l, i] as const)));
  const wrong: string[] = [];
  const used = new Map<number, Set<string>>();
  for (const [file, targets] of graph) {
    const from = layerOf(file);
    const row = rowOf.get(from)!;
    for (const t of targets) {
      const to = layerOf(t);
      if (to === from) continue;
      const allowed = rows[row]!.imports;
      const ok = allowed === undefined ? rowOf.get(to)! < row : allowed.includes(to);
      if (!ok) wrong.push(`${rel(file)} imports ${rel(t)} (${from} may not import ${to})`);
      else used.set(row, (used.get(row) ?? new Set()).add(to));
    }
  }
  assert.deepEqual(wrong, []);
  const unused = rows.flatMap((r, i) => (r.imports ?? []).filter((l) => !used.get(i)?.has(l)).map((l) => `${r.layers.join(', ')} → ${l}`));
  assert.deepEqual(unused, [], 'the table allows imports no file makes: take them out of the table');
});

test('no import cycle between the files of src/', () => {
  // Tarjan's strongly connected components; each component of more than one file is a cycle.
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(rel(w));
      } while (w !== v);
      if (scc.length > 1 || graph.get(v)?.includes(v)) cycles.push(scc.sort());
    }
  };
  for (const f of files) if (!index.has(f)) visit(f);
  assert.ok(graph.size > 50, `read only ${graph.size} files`);
  assert.deepEqual(cycles, []);
});
