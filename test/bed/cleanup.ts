// Removes what a killed test run left behind: containers and networks
// labelled twine-test=1 or named twt-*, `ip netns` named twt-*, links named
// twt-* in the root namespace, test daemons whose test process is gone, second
// Docker engines (second-engine.ts) and a swarm a test made on the machine's engine (swarm.ts).
// Resources whose recorded owner (a test process) is still alive are kept, so
// a cleanup never pulls the floor from under a concurrently running test
// (owners: the bed's records, or a name ending in -<pid> of a live node process).

import { readdirSync, readFileSync } from 'node:fs';
import { runAllowFail, parseJson } from './exec.js';
import { OWNER_ENV, OWNER_LABEL, ownerAlive, inUse, PREFIX, recordedOwner, TEST_LABEL, forgetOwner } from './owner.js';
import { netnsList } from './netns.js';
import { cleanupStaleEngines } from './second-engine.js';
import { cleanupStaleBlackholes } from './prefix.js';
import { cleanupStaleSwarm } from './swarm.js';

export interface CleanupReport {
  containers: string[];
  networks: string[];
  netns: string[];
  links: string[];
  daemons: number[];
  /** Second engines stopped and removed. */
  engines: string[];
  /** 'swarm' when the machine's engine left a killed run's swarm. */
  swarms: string[];
  /** The test bed's host blackhole routes of killed runs. */
  blackholes: string[];
}

async function dockerLines(args: string[]): Promise<string[]> {
  const r = await runAllowFail('docker', args);
  if (r.exitCode !== 0) return [];
  return r.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

/** Docker objects (`ps -a` or `network ls`) that match by label or prefix and have no live owner. */
async function staleDocker(kind: 'container' | 'network', prefix: string): Promise<string[]> {
  const list = kind === 'container' ? ['ps', '-a'] : ['network', 'ls'];
  const fmt = `{{.Names}}{{.Name}}\t{{.Label "${OWNER_LABEL}"}}\t{{.Label "${TEST_LABEL}"}}`;
  // Go templates: containers have .Names, networks .Name; the other one fails, so ask twice.
  const tmpl = kind === 'container' ? fmt.replace('{{.Name}}', '') : fmt.replace('{{.Names}}', '');
  const lines = await dockerLines([...list, '--format', tmpl]);
  const out: string[] = [];
  for (const l of lines) {
    const [name = '', owner = '', test = ''] = l.split('\t');
    if (!name.startsWith(prefix) && !(prefix === PREFIX && test === '1')) continue;
    if (inUse(name, owner === '' ? undefined : Number(owner))) continue;
    out.push(name);
  }
  return out;
}

function staleDaemons(): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    if (pid === process.pid) continue;
    let env: string;
    try {
      env = readFileSync(`/proc/${d}/environ`, 'utf8');
    } catch {
      continue;
    }
    const m = env.split('\0').find((e) => e.startsWith(`${OWNER_ENV}=`));
    if (m === undefined) continue;
    const owner = Number(m.slice(OWNER_ENV.length + 1));
    if (!ownerAlive(owner)) out.push(pid);
  }
  return out;
}

/** Removes leftovers whose name starts with prefix (default twt-: everything of the test bed). */
export async function cleanupLeftovers(prefix: string = PREFIX): Promise<CleanupReport> {
  const report: CleanupReport = { containers: [], networks: [], netns: [], links: [], daemons: [], engines: [], swarms: [], blackholes: [] };
  if (prefix === PREFIX) {
    for (const pid of staleDaemons()) {
      try {
        process.kill(pid, 'SIGKILL');
        report.daemons.push(pid);
      } catch {
        // already gone
      }
    }
  }
  // Before containers, namespaces and links: an engine holds its namespace, a swarm restarts its tasks.
  report.engines = await cleanupStaleEngines(prefix);
  if (prefix === PREFIX && (await cleanupStaleSwarm())) report.swarms.push('swarm');
  if (prefix === PREFIX) report.blackholes = await cleanupStaleBlackholes();
  const containers = await staleDocker('container', prefix);
  if (containers.length > 0) {
    await runAllowFail('docker', ['rm', '-f', '-v', ...containers]);
    report.containers = containers;
  }
  for (const n of await staleDocker('network', prefix)) {
    const r = await runAllowFail('docker', ['network', 'rm', n]);
    if (r.exitCode === 0) report.networks.push(n);
  }
  for (const n of await netnsList()) {
    if (!n.startsWith(prefix) || inUse(n, recordedOwner('netns', n))) continue;
    await runAllowFail('ip', ['netns', 'del', n]);
    forgetOwner('netns', n);
    report.netns.push(n);
  }
  const links = await runAllowFail('ip', ['-j', 'link', 'show']);
  if (links.exitCode === 0) {
    for (const l of parseJson<Array<{ ifname: string }>>(links.stdout)) {
      const name = l.ifname;
      if (!name.startsWith(prefix) || inUse(name, recordedOwner('link', name))) continue;
      const r = await runAllowFail('ip', ['link', 'del', name]);
      forgetOwner('link', name);
      if (r.exitCode === 0) report.links.push(name);
    }
  }
  return report;
}
