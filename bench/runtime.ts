// `npm run bench:runtime [-- --quick] [-- --nft-transport=lib|exec] [-- --starts=N --bursts=N --burst=N --overhead=N] [-- --no-write]`:
// the twine runtime against the real Docker engine. Installs the runtime
// (`twine runtime install` in-process, dockerd reloaded), then at each fleet
// size N starts labelled containers with `--runtime twine`, one at a time and
// in bursts, and counts those whose route and table the external observer saw
// while the container's process was still runc's init (before its entrypoint
// ran). It also times `docker start` (the API call) with and without the
// runtime, for unlabelled and labelled containers: what the wrapper and the
// hook add. The table goes into bench/RESULTS.md between the runtime markers
// (the main bench keeps that section) and bench/runtime-results.json.
// daemon.json is restored byte for byte at the end, also when the run fails.

import { existsSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDockerClient } from '../src/docker/client.js';
import { resolveDockerEndpoint } from '../src/docker/endpoint.js';
import { libTransportAvailable } from '../src/firewall/transport-lib.js';
import { DEFAULT_DAEMON_JSON, DEFAULT_PIDFILE, finishUninstall, install, reloadDockerd, uninstall } from '../src/runtime/install.js';
import { BENCH_PREFIX, cleanup, createContainer, createGateway, createNetwork, docker, fixedIp, fleetLabels, removeContainers, startContainer } from './fleet.js';
import { BENCH_SOCKET, killDaemons } from './daemon.js';
import { StartEvents } from './events.js';
import { createMembers, growFleet, measure, startTwine, stopTwine, waitReconciled, type Ctx, type Sample } from './scenarios.js';
import { parseOptions, type Transport } from './options.js';
import { RUNTIME_BEGIN, RUNTIME_END } from './report.js';
import { fmt, nowMs, sleep, summarize } from './stats.js';

const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench');
const RT_DIR = `/tmp/${BENCH_PREFIX}runtime-${process.pid}`;

interface Variant {
  runtime: 'runc' | 'twine';
  labelled: boolean;
}

const VARIANTS: Variant[] = [
  { runtime: 'runc', labelled: false },
  { runtime: 'twine', labelled: false },
  { runtime: 'runc', labelled: true },
  { runtime: 'twine', labelled: true },
];

interface OverheadRow extends Variant {
  transport: Transport;
  n: number;
  /** `docker start` API call durations (ms). */
  startMs: number[];
}

interface RuntimeResults {
  startedAt: string;
  durationS: number;
  command: string;
  samples: Sample[];
  overhead: OverheadRow[];
  notes: string[];
}

function variantName(v: Variant): string {
  return `${v.labelled ? 'labelled' : 'unlabelled'}, ${v.runtime === 'twine' ? '--runtime twine' : 'runc (Docker\'s default)'}`;
}

/** Times `docker start` of fresh containers, the variants interleaved so that the machine's load falls on each alike. */
async function overhead(c: Ctx, transport: Transport, n: number, count: number, out: OverheadRow[]): Promise<void> {
  const rows = VARIANTS.map((v): OverheadRow => ({ ...v, transport, n, startMs: [] }));
  const ids: string[] = [];
  try {
    for (let i = 0; i < count; i++) {
      for (const row of rows) {
        const name = `${BENCH_PREFIX}oh-${row.runtime}-${row.labelled ? 'l' : 'u'}-${transport}-${n}-${i}`;
        const id = await createContainer(c.d, { name, ...(row.labelled ? { labels: fleetLabels(c.gws[0].name) } : {}), ...(row.runtime === 'twine' ? { runtime: 'twine' } : {}) });
        ids.push(id);
        const t0 = nowMs();
        await startContainer(c.d, id);
        row.startMs.push(nowMs() - t0);
      }
    }
  } finally {
    await removeContainers(c.d, ids);
  }
  out.push(...rows);
}

export function runtimeTable(r: RuntimeResults): string {
  const lines = [
    '| N | transport | samples (one at a time + bursts) | before the process ran | start event → observer saw it, p50 / max (ms; negative: before the event) |',
    '|---:|---|---:|---:|---|',
  ];
  const keys = [...new Set(r.samples.map((s) => `${s.n}|${s.transport}`))];
  for (const k of keys) {
    const [n, t] = k.split('|');
    const s = r.samples.filter((x) => `${x.n}|${x.transport}` === k);
    const one = s.filter((x) => x.kind === 'start').length;
    const raw = summarize(s.map((x) => (x.timedOut ? Infinity : (x.rawExternalMs ?? NaN))));
    lines.push(`| ${n} | ${t} | ${s.length} (${one} + ${s.length - one}) | ${s.filter((x) => x.beforeExec === true).length} of ${s.length} | ${fmt(raw.p50)} / ${fmt(raw.max)} |`);
  }
  return lines.join('\n');
}

export function overheadTable(r: RuntimeResults): string {
  const lines = ['| container | N | transport | starts | `docker start` p50 (ms) | p90 (ms) | added to the start, p50 (ms) |', '|---|---:|---|---:|---:|---:|---:|'];
  for (const row of r.overhead) {
    const s = summarize(row.startMs);
    const p90 = [...row.startMs].sort((a, b) => a - b)[Math.floor(0.9 * (row.startMs.length - 1))] ?? NaN;
    const base = r.overhead.find((x) => x.runtime === 'runc' && x.labelled === row.labelled && x.n === row.n && x.transport === row.transport);
    const added = row.runtime === 'twine' && base ? s.p50 - summarize(base.startMs).p50 : NaN;
    lines.push(`| ${variantName(row)} | ${row.n} | ${row.transport} | ${s.n} | ${fmt(s.p50)} | ${fmt(p90)} | ${row.runtime === 'twine' ? fmt(added) : '–'} |`);
  }
  return lines.join('\n');
}

function section(r: RuntimeResults, machineNote: string): string {
  return `${RUNTIME_BEGIN}
## The twine runtime: in place before the process runs, and what it adds to a start

\`npm run bench:runtime\` (${r.command}), ${r.startedAt}, ${fmt(r.durationS)} s. ${machineNote}
The runtime was installed with \`twine runtime install --reload\` (hook timeout 10 s, closed mode);
the bench's fleet of N labelled containers runs with Docker's runc, the measured containers with
\`--runtime twine\`. "Before the process ran": the external observer saw Twine's route and table in
the container's namespace while its process was still runc's init, before the entrypoint ran.

${runtimeTable(r)}

What the wrapper and the hook add to \`docker start\` (the API call, from request to answer; fresh
containers, the four kinds interleaved):

${overheadTable(r)}
${r.notes.length ? `\nNotes:\n${r.notes.map((n) => `- ${n}`).join('\n')}\n` : ''}${RUNTIME_END}
`;
}

/** Replaces the runtime section of RESULTS.md (or appends it). */
function writeSection(file: string, text: string): void {
  const page = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const a = page.indexOf(RUNTIME_BEGIN);
  const b = page.indexOf(RUNTIME_END);
  const out = a >= 0 && b > a ? page.slice(0, a) + text + page.slice(b + RUNTIME_END.length + 1) : `${page.trimEnd()}\n\n${text}`;
  writeFileSync(file, out);
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const o = parseOptions(argv, BENCH_DIR);
  const quick = o.quick;
  const sizes = argv.some((a) => a.startsWith('--sizes')) ? o.sizes : quick ? [10] : [10, 50, 200];
  const given = (name: string): boolean => argv.some((x) => x === `--${name}` || x.startsWith(`--${name}=`));
  const starts = given('starts') ? o.starts : quick ? 5 : 20;
  const bursts = given('bursts') ? o.bursts : quick ? 1 : 2;
  const burst = o.burst;
  const overheadArg = argv.find((x) => x.startsWith('--overhead='));
  const count = overheadArg ? Number(overheadArg.slice('--overhead='.length)) : quick ? 8 : 25;
  const t0 = nowMs();
  const log = (msg: string): void => console.log(`[${((nowMs() - t0) / 1000).toFixed(0).padStart(4)} s] ${msg}`);
  const r: RuntimeResults = { startedAt: new Date().toISOString(), durationS: 0, command: `npm run bench:runtime${argv.length ? ` -- ${argv.join(' ')}` : ''}`, samples: [], overhead: [], notes: [] };
  if (!libTransportAvailable()) r.notes.push('libnftables not built in: exec transport only');
  const d = docker();
  const client = createDockerClient(resolveDockerEndpoint(undefined, process.env));
  const original = existsSync(DEFAULT_DAEMON_JSON) ? readFileSync(DEFAULT_DAEMON_JSON, 'utf8') : undefined;
  await cleanup();
  const events = new StartEvents();
  await events.open(d);
  install({ dir: RT_DIR, daemonJson: DEFAULT_DAEMON_JSON, settings: { socket: BENCH_SOCKET, timeoutMs: 10_000, mode: 'closed', runc: '', dockerRoot: ((await d.info()) as { DockerRootDir: string }).DockerRootDir } });
  try {
    await reloadDockerd(client, DEFAULT_PIDFILE, true);
    log(`runtime installed in ${RT_DIR}; transports ${o.transports.join(', ')}; sizes ${sizes.join(', ')}`);
    await createNetwork(d);
    const gws = [await createGateway(d, `${BENCH_PREFIX}gwa`, fixedIp(2)), await createGateway(d, `${BENCH_PREFIX}gwb`, fixedIp(3))] as Ctx['gws'];
    const c: Ctx = { d, o, events, gws, fleet: [], samples: r.samples, log };
    for (const n of sizes) {
      await growFleet(c, n);
      for (const t of o.transports) {
        const b = startTwine(t);
        await waitReconciled(b);
        const one = await createMembers(c, `r${t}`, starts, 0, 'twine');
        for (const m of one) await measure(c, b, m, 'start', n);
        await removeContainers(d, one.map((m) => m.id));
        for (let k = 0; k < bursts; k++) {
          const many = await createMembers(c, `rb${t}`, burst, 0, 'twine');
          await Promise.all(many.map((m) => measure(c, b, m, 'burst', n)));
          await removeContainers(d, many.map((m) => m.id));
          await sleep(300);
        }
        if (n === sizes[0]) await overhead(c, t, n, count, r.overhead);
        const mine = r.samples.filter((s) => s.n === n && s.transport === t);
        log(`n=${n} ${t}: before the process ran ${mine.filter((s) => s.beforeExec).length} of ${mine.length}`);
        await stopTwine(b);
      }
    }
  } finally {
    events.close();
    log('cleaning up');
    await cleanup();
    const u = uninstall({ dir: RT_DIR, daemonJson: DEFAULT_DAEMON_JSON });
    await reloadDockerd(client, DEFAULT_PIDFILE, false).catch((err: unknown) => console.error(`bench: reload after uninstall: ${(err as Error).message}`));
    if (u.pendingKey) finishUninstall(DEFAULT_DAEMON_JSON, u.pendingKey);
    const now = existsSync(DEFAULT_DAEMON_JSON) ? readFileSync(DEFAULT_DAEMON_JSON, 'utf8') : undefined;
    if (now !== original) {
      console.error(`bench: ${DEFAULT_DAEMON_JSON} differed after uninstall; restored it`);
      if (original === undefined) unlinkSync(DEFAULT_DAEMON_JSON);
      else writeFileSync(DEFAULT_DAEMON_JSON, original);
    }
    rmSync(RT_DIR, { recursive: true, force: true });
  }
  r.durationS = (nowMs() - t0) / 1000;
  console.log(`\n${runtimeTable(r)}\n\n${overheadTable(r)}\n`);
  if (o.write) {
    const note = 'Measured while other work (other helpers\' tests and benches) was loading the same 2-CPU machine.';
    writeSection(path.join(o.outDir, 'RESULTS.md'), section(r, note));
    writeFileSync(path.join(o.outDir, 'runtime-results.json'), `${JSON.stringify(r, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 1)}\n`);
    log(`wrote the runtime section of ${path.join(o.outDir, 'RESULTS.md')} and runtime-results.json`);
  }
  const all = r.samples;
  console.log(`runtime: before the container's process ran ${all.filter((s) => s.beforeExec).length} of ${all.length}`);
  return 0;
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error(`bench: ${sig}; stopping (the runtime is uninstalled and daemon.json restored on the way out)`);
    killDaemons();
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
