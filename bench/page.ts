// bench/RESULTS.md: the latest full run's figures, how they were measured,
// the targets met or missed, and where the time goes.

import type { Results } from './report.js';
import { appliedEarly, earlyTable, gatewayTable, latencyTable, memoryTable, reconcileTable, rows, stageTable, syncedTable } from './report.js';
import { fmt, summarize } from './stats.js';
import { ROUTE_CIDR } from './fleet.js';

function targets(r: Results): string[] {
  const out: string[] = [];
  const mark = (ok: boolean): string => (ok ? '✅ met' : '❌ missed');
  for (const t of r.options.transports) {
    const [p50t, p99t] = t === 'lib' ? [3, 15] : [10, 40];
    const all = rows(r).filter((x) => x.transport === t && x.kind === 'all');
    for (const x of all) {
      out.push(`- ${t}, N=${x.n}: observer p50 ${fmt(x.external.p50)} ms (target ≤ ${p50t}: ${mark(x.external.p50 <= p50t)}), p99 ${fmt(x.external.p99)} ms (target ≤ ${p99t}: ${mark(x.external.p99 <= p99t)})`);
    }
    if (all.length >= 2) {
      const lo = all[0]!;
      const hi = all[all.length - 1]!;
      // Within 0.5 ms counts as flat too: a ratio of two figures near 0 says nothing.
      const ratio = hi.external.p50 / lo.external.p50;
      const flat = hi.external.p50 - lo.external.p50 <= 0.5 || ratio <= 1.5;
      out.push(`- ${t}, flat in N: p50 ${fmt(lo.external.p50)} ms at N=${lo.n}, ${fmt(hi.external.p50)} ms at N=${hi.n} (${mark(flat)}, counting ≤ 1.5× or ≤ 0.5 ms more as flat)`);
    }
  }
  for (const t of r.options.transports) {
    const g = r.gateway.filter((x) => x.transport === t);
    if (g.length) {
      const worst = summarize(g.map((x) => x.externalMs)).max;
      out.push(`- ${t}: ${g[0]!.dependents} dependents re-pointed, worst of ${g.length} rounds ${fmt(worst)} ms (target ≤ 50${t === 'lib' ? '' : ', set for lib'}: ${mark(worst <= 50)})`);
    }
  }
  for (const x of r.synced ?? []) {
    const ms = summarize(x.spawnToReconciledMs).p50;
    out.push(`- ${x.transport}: restart with ${x.containers} containers in sync, spawn → reconciled ${fmt(ms)} ms, median of ${x.spawnToReconciledMs.length} (target ≤ 1500${x.transport === 'lib' ? '' : ', set for lib'}: ${mark(ms <= 1500)})`);
  }
  for (const x of r.reconcile) {
    const target = x.transport === 'lib' ? 1000 : 2000;
    out.push(`- ${x.transport}: start-up reconcile of ${x.containers}: ${fmt(x.reconciledMs)} ms by the daemon, ${fmt(x.externalMs)} ms spawn → all applied (target ≤ ${target}: ${mark(x.externalMs <= target)} by the observer's figure)`);
  }
  const most = Math.max(...r.memory.map((m) => m.containers));
  for (const top of r.memory.filter((m) => m.containers === most && m.containers > 0)) {
    out.push(`- RSS with ${top.containers} containers (${top.transport}, ${top.when}): ${fmt(top.rssMb)} MB (target ≤ 80 MB at 1000${top.transport === 'lib' ? '' : ', set for lib'}: ${mark(top.rssMb <= 80)}${top.containers < 1000 ? `; only ${top.containers} were run` : ''})`);
  }
  return out;
}

const STAGE_NAMES: Record<string, string> = {
  eventDelayMs: 'Docker event delivery to the daemon',
  queueMs: 'queue wait',
  inspectMs: 'docker inspect',
  startInfoMs: 'start path: cgroup + /proc/<pid>/net read (instead of docker inspect)',
  planMs: 'plan',
  observeMs: 'observe (route list, sysctl reads, table list)',
  netlinkMs: 'netlink (one batch: sysctls, routes and their read-back; on the start path each sysctl is read right before it is written)',
  verifyMs: 'verify (the routes read back checked against the plan; the read-back itself is the last step of the netlink batch)',
  nftMs: 'nft batch',
};

/** Where the mean apply time goes, per transport at the largest N: stages by share of Twine's own mean. */
function whereTimeGoes(r: Results): string[] {
  const out: string[] = [];
  const n = Math.max(...r.samples.map((s) => s.n));
  for (const t of r.options.transports) {
    const s = r.samples.filter((x) => x.transport === t && x.n === n && Number.isFinite(x.twineMs) && Number.isFinite(x.externalMs) && !appliedEarly(x));
    if (s.length === 0) continue;
    const mean = (f: (x: (typeof s)[number]) => number): number => s.reduce((a, x) => a + f(x), 0) / s.length;
    const total = mean((x) => x.twineMs);
    const parts = Object.keys(STAGE_NAMES)
      .map((k) => ({ k, v: mean((x) => x.stages[k] ?? 0) }))
      .filter((p) => p.v > 0);
    const rest = total - parts.reduce((a, p) => a + p.v, 0);
    parts.sort((a, b) => b.v - a.v);
    const list = parts.map((p) => `${STAGE_NAMES[p.k]} ${fmt(p.v)} ms (${Math.round((100 * p.v) / total)} %)`).join(', ');
    out.push(`- ${t}, N=${n}, ${s.length} applies after the start event: Twine's own mean ${fmt(total)} ms = ${list}, other ${fmt(rest)} ms; the observer adds ${fmt(mean((x) => x.externalMs) - total)} ms on average (mean observer figure ${fmt(mean((x) => x.externalMs))} ms).`);
  }
  return out;
}

/** Runs since the observer watches namespaces record how each figure was taken; earlier runs polled. */
function usesWatch(r: Results): boolean {
  return r.samples.some((s) => s.seenBy !== undefined) || r.gateway.some((g) => g.byCheck !== undefined);
}

/** The observer paragraph, for the method this run's data was taken with. */
function observerMethod(r: Results): string {
  if (!usesWatch(r)) {
    return `- **Observer** (the headline figure): the bench process subscribes to Docker's events itself and polls the container's namespace (pid from its cgroup) every ${r.options.pollMs} ms through the addon: route list (protocol 74, via the expected gateway), then \`list table inet twine\` through libnftables. The latency is Docker's start-event timestamp → the return of the first check that saw both — an upper bound (resolution ≈ poll interval + one check, ~1–2 ms).`;
  }
  const watched = r.samples.filter((s) => s.seenBy !== undefined);
  const byCheck = watched.filter((s) => s.seenBy === 'check').length;
  const sub = summarize(watched.map((s) => s.subscribeMs ?? NaN));
  return [
    `- **Observer** (the headline figure): the bench process subscribes to Docker's events itself, finds the container's new process in its cgroup (read every ${r.options.pollMs} ms) and hands its namespace to the bench-only addon's \`watchNs\` (native/bench/watch.cc; one thread per watch, outside the addon's worker pool). The watch enters the namespace only to open two netlink sockets there, subscribed to its route notifications and to its nftables notifications; then it checks the current state (a route dump, and \`NFT_MSG_GETTABLE\` for \`inet twine\`), then waits in \`poll()\`.`,
    `  The route counts when the \`RTM_NEWROUTE\` for ${ROUTE_CIDR} with protocol 74 via the expected gateway is received; the table when the generation announcement (\`NFT_MSG_NEWGEN\`) closing the batch that created it is received; something already committed when the watch subscribed counts at the return of that check; after a notification overrun (\`ENOBUFS\`) the state is checked again. The latency is Docker's start-event timestamp → the later of the two.`,
    `  Every figure is an upper bound of Twine's commit: the kernel announces a change after committing it, and the time is taken when the watch received the announcement (or when a check that saw the state returned). Resolution (\`node dist/bench/watch-resolution.js\`, another process changing an \`ip netns\` through the addon): the route is stamped a median 0.1 ms before that process has the kernel's acknowledgement back in JavaScript (p99 within ~1 ms after it, on a loaded 2-CPU host); the former 1 ms poll stamped it 1.2 ms after.`,
    `  Process first seen → watch subscribed: median ${fmt(sub.p50)} ms, p99 ${fmt(sub.p99)} ms. In ${byCheck} of ${watched.length} samples Twine had committed the later part before the watch subscribed; for those the figure is the check's return (still an upper bound, only coarser).`,
  ].join('\n');
}

export function resultsPage(r: Results): string {
  const m = r.machine;
  const sel = r.options.transports[0]!;
  return `# Apply latency under churn — results

Latest full run: ${r.startedAt}, ${Math.round(r.durationS / 60)} min. Raw data: [results.json](results.json).

Machine: ${m.nproc} CPUs (\`nproc\`), ${Math.round(m.memTotalMb / 1024)} GB RAM, kernel ${m.kernel}, Docker ${m.docker}, Node ${m.node}, ${m.nft}.

Reproduce (root, Docker running, addon built with libnftables — see README set-up):

\`\`\`
${r.command}
npm run bench -- --quick            # reduced, < 3 min; last line: apply p50_ms=… p99_ms=… n=…
npm run bench -- --quick --nft-transport=lib
npm run bench -- --scenario reconcile-synced --n 1000   # last line: reconcile_synced n=… ms=…
npm run bench -- --scenario repoint --dependents 100    # last line: repoint n=… worst_ms=… median_ms=…
npm run bench -- --scenario memory --n 1000             # last line: rss n=… mb=…
\`\`\`

A scenario run alone uses lib (exec with \`--nft-transport=exec\`), builds its own fleet and removes it; \`--cpu-prof <dir>\` makes its daemons write V8 CPU profiles there.

## How it is measured

- The daemon under test is \`twine start --nft-transport=<lib|exec> --resync-interval=0 --listen=none\` (JSON logs, info level, as deployed) on a private socket; both transports run in the same invocation, one daemon after the other against the same containers.
- Containers: \`twine-test/busybox:latest\` running \`sleep\`, on one \`--internal\` network, named \`twt-bench-*\`; no traffic is sent. Every labelled container has \`twine.route.10.200.0.0/16=<gw>\`, \`twine.nat.forward.8080=<gw>:80\` and \`twine.iptables.rule.a=TWINE_INPUT -p tcp --dport 22 -j ACCEPT\`; half use gateway A, half gateway B. N is the number of labelled containers already running.
- Scenario a, per N and transport: ${r.options.starts} new containers started one at a time (removed afterwards), ${r.options.restarts} restarts of running ones, ${r.options.bursts} burst(s) of ${r.options.burst} started at once.
${observerMethod(r)}
- **Applied before the start event.** Twine applies as soon as Docker has set up a starting container's network (its addresses and default route are in the namespace), which is before Docker's start event and, measured with a probe, 40–55 ms before the container's entrypoint runs (the entrypoint itself runs 3–15 ms before the start event). The observer subscribes to the namespace as soon as the container's process appears in its cgroup, before Docker's network set-up, so it stamps that early commit from the kernel's notification like any other. Such a sample's signed figure is negative; the tables count it as **0 ms** (nothing was left to wait for once Docker announced the start) and keep the signed value in results.json (\`rawExternalMs\`). Two columns count these samples, and how many of them had route and table in place while the container's process was still runc's init, i.e. before the container's own code ran (read from /proc/<pid>/comm right after the observer saw them; unsure counts as not before).
- **Twine's own**: \`latencyMs\` of the start event's transaction (Docker event timestamp → commit); when Twine had applied before the start event, the start event's check of it (\`start: already in place\`) reports 0 and how much earlier it was (\`beforeStartMs\`).
- The last line of a run (\`apply p50_ms=… p99_ms=… n=…\`) is the observer's figure over every scenario-a sample of the **first transport run — lib when the addon has libnftables, else exec**, or the one given with \`--nft-transport\`; n is the number of samples.

## Targets (apply latency and the two transports; re-pointing, restart and memory)

${targets(r).join('\n')}

## a. Apply latency: starts, restarts, bursts

${latencyTable(r)}

![Latency CDF, lib](plots/cdf-lib.svg)

![Latency CDF, exec](plots/cdf-exec.svg)

![p50 and p99 against N](plots/percentiles-vs-n.svg)

### Where the time goes (ms: mean · median · p99 per stage; the means add up to the total), for what was applied after the start event

"bench: event delivery" is how long Docker took to deliver the start event to the bench's own subscription (the daemon pays about the same).
Twine's stages come from the applying transaction's \`stages\`; "unaccounted" is its latencyMs minus the listed stages (event delivery, queueing and inspect when the daemon does not report them separately).
On the start path (a namespace Twine has not written to) there is no observe step and no inspect: "startInfo" reads the container's cgroup and /proc/<pid>/net, "netlink" is one native batch (each sysctl read then written, the routes, their read-back; verify is inside it), and with lib the nft batch is queued right behind it, so the netlink figure also holds the main thread's wait for a CPU while nft runs (measured inside the addon at start events: the batch itself runs in 0.15–0.26 ms, the nft batch in 0.8–1.9 ms).
"observer − twine" is what the observer adds (${usesWatch(r) ? 'notification delivery to the watch, and where Twine committed before the watch subscribed, the wait for the check' : 'poll resolution, the check itself, and for the exec transport nothing else'}).

${stageTable(r)}

Applied before the start event (how much earlier by the observer's stamps, and the mean · median per stage of that transaction; there is no start event to count from, so no event delivery, and "netlink" runs while Docker is still busy starting the container):

${earlyTable(r)}

Summary (means at the largest N):

${whereTimeGoes(r).join('\n')}

## b. Gateway with dependents comes back on a new address

The gateway is stopped, disconnected and reconnected with a new \`--ip\` (while stopped its dependents' routes turn \`unreachable\`), then started. Time from its start event until every dependent's route (as ${usesWatch(r) ? 'seen by the observer\'s watch, one per dependent' : 'polled by the observer'}) points at the new address.

${gatewayTable(r) || '(not run)'}

## c. Start-up reconcile

The fleet runs first; Twine's routes and table are removed from every namespace (so each looks new to Twine), then the daemon starts.

${reconcileTable(r) || '(not run)'}

## d. Resident memory

VmRSS of the daemon process from /proc/<pid>/status, 1 s after the stated point.

${memoryTable(r) || '(not run)'}

## e. Restart with every container in sync

Twine restarted (an upgrade) while all ${r.options.memoryN} containers are as it wants them: one daemon brings them in sync and stops, then each of ${r.options.rounds} daemons is spawned, and the time runs from its spawn to its "reconciled" line (Docker listed, every labelled container's namespace read and diffed, nothing to send). The last column is the daemon's own count (its "reconciled" line) of labelled containers, the fleet and its two gateways, found in sync and changed: a change would mean drift had to be repaired. A restart that finds the inventory as it was takes the plans it saved (plans kept).

${syncedTable(r) || '(not run)'}

## Notes

${r.notes.map((n) => `- ${n}`).join('\n') || '- none'}

Selected transport for the last line: ${sel}.
`;
}
