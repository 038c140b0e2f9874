// `node dist/bench/cpuprofile.js <file.cpuprofile>`: where a daemon's main
// thread spent its time (bench/PROFILE.md), by the first of Twine's layers (or
// Node's loader, pino, prom-client) found on each sample's stack, leaf first.
// V8's profiler samples wall time: a thread without a CPU is charged to the
// frame it stopped in.

import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const CATEGORIES: [string, (url: string) => boolean][] = [
  ['start-up: loading modules', (u) => u.startsWith('node:internal/modules') || u.includes('bootstrap/realm')],
  ['Docker API and each container read (inspect, /proc/<pid>/net)', (u) => /\/src\/docker\/(api|inventory)\.js$/.test(u) || u.includes('/src/netns/procfs.js') || u.startsWith('node:_http') || u === 'node:net' || u === 'node:http'],
  ['plan: labels, resolve, compile', (u) => u.includes('/src/engine/planner.js')],
  ['ownership check', (u) => u.includes('/src/engine/ownership.js')],
  ['handing batches to the addon', (u) => u.includes('/src/netns/backend.js')],
  ['transaction: observe, diff', (u) => u.includes('/src/engine/transaction.js') || u.includes('/src/firewall/')],
  ['logging (pino)', (u) => u.includes('node_modules/pino') || u.includes('sonic-boom')],
  ['metrics (prom-client)', (u) => u.includes('prom-client')],
  ['engine: queue, state, status', (u) => u.includes('/src/engine/')],
];

function categorize(p: Profile): Map<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const out = new Map<string, number>();
  p.samples.forEach((leafId, i) => {
    const ms = (p.timeDeltas[i] ?? 0) / 1000;
    const leaf = byId.get(leafId)!.callFrame.functionName;
    let cat: string | undefined;
    if (leaf === '(idle)') cat = 'idle (waiting for Docker, the workers, a CPU)';
    else if (leaf === '(garbage collector)') cat = 'garbage collection';
    else {
      const urls: string[] = [];
      for (let id: number | undefined = leafId; id !== undefined; id = parent.get(id)) urls.push(byId.get(id)!.callFrame.url);
      cat = CATEGORIES.find(([, test]) => urls.some(test))?.[0] ?? 'other';
    }
    out.set(cat, (out.get(cat) ?? 0) + ms);
  });
  return out;
}

for (const file of process.argv.slice(2)) {
  const cats = categorize(JSON.parse(readFileSync(file, 'utf8')) as Profile);
  const total = [...cats.values()].reduce((a, b) => a + b, 0);
  console.log(`${file}\n\n| where | ms | share |\n|---|---:|---:|`);
  for (const [k, v] of [...cats].sort((a, b) => b[1] - a[1])) console.log(`| ${k} | ${v.toFixed(0)} | ${((100 * v) / total).toFixed(0)} % |`);
  console.log(`| **total** | ${total.toFixed(0)} | |\n`);
}
