// A second Docker engine on this machine, for two-node swarm tests: dockerd in
// an `ip netns` namespace of its own, joined to the host by a veth pair, with
// its own data root, exec root (so its own containerd), containerd namespace,
// socket, pidfile and an empty config file. It is started with nsenter, not
// `ip netns exec`: the latter remounts /sys and loses the cgroup mounts
// (dockerd then fails with "Devices cgroup isn't mounted"). Its bridge and
// iptables rules live in its namespace, which has no default route, so nothing
// its containers send leaves the machine.

import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { runAllowFail } from './exec.js';
import { netnsAdd, netnsDel, vethPair } from './netns.js';
import { forgetOwner, inUse, recordedOwner, recordOwner, PREFIX } from './owner.js';

/** Where second engines keep their data root, exec root, pidfile, config and log: <ENGINES_DIR>/<netns>/. */
export const ENGINES_DIR = '/var/lib/twine-test/engines';

export interface SecondEngine {
  /** The `ip netns` name (also the containerd namespace and the directory's name). */
  netns: string;
  /** /var/run/netns/<netns>, for nsenter --net=. */
  netnsPath: string;
  /** unix:///run/<netns>.sock: give it to `docker -H` or Twine's --docker-socket. */
  host: string;
  dir: string;
  /** The host's end of the veth pair and its address (the first engine's swarm address). */
  hostLink: string;
  hostAddr: string;
  /** The address of the namespace's end (eth0): this engine's swarm address. */
  nodeAddr: string;
  /** dockerd's pid. */
  pid: number;
}

export interface SecondEngineOptions {
  /** A twt- prefix: the namespace is <prefix>n2, the host's veth end <prefix>h (at most 15 characters). */
  prefix: string;
  /** The first three octets of an unused /24 (unusedPrefixes24); the link takes .1 (host) and .2 (namespace) of a /30. */
  linkBase: string;
  /** How long dockerd may take to answer (default 30 s). */
  timeoutMs?: number;
}

function paths(netns: string) {
  const dir = path.join(ENGINES_DIR, netns);
  return {
    dir,
    data: path.join(dir, 'data'),
    exec: path.join(dir, 'exec'),
    pidfile: path.join(dir, 'dockerd.pid'),
    config: path.join(dir, 'daemon.json'),
    log: path.join(dir, 'dockerd.log'),
    socket: `/run/${netns}.sock`,
  };
}

/**
 * Starts the second engine and waits until it answers. On any failure what
 * was made is removed again before the error is thrown.
 */
export async function startSecondEngine(opts: SecondEngineOptions): Promise<SecondEngine> {
  const netns = `${opts.prefix}n2`;
  const hostLink = `${opts.prefix}h`;
  if (!netns.startsWith(PREFIX) || hostLink.length > 15) throw new Error(`second engine prefix ${JSON.stringify(opts.prefix)}: must start with ${PREFIX}, at most 14 characters`);
  const p = paths(netns);
  const e: SecondEngine = {
    netns,
    netnsPath: `/var/run/netns/${netns}`,
    host: `unix://${p.socket}`,
    dir: p.dir,
    hostLink,
    hostAddr: `${opts.linkBase}.1`,
    nodeAddr: `${opts.linkBase}.2`,
    pid: 0,
  };
  try {
    recordOwner('engine', netns);
    await stopEngineIn(netns);
    await netnsAdd(netns);
    recordOwner('link', hostLink);
    await vethPair(hostLink, { ns: 'root', name: hostLink, addresses: [`${e.hostAddr}/30`] }, { ns: { netns }, name: 'eth0', addresses: [`${e.nodeAddr}/30`] });
    for (const d of [p.data, p.exec]) mkdirSync(d, { recursive: true });
    writeFileSync(p.config, '{}\n');
    const log = openSync(p.log, 'a');
    const child = spawn(
      'nsenter',
      [
        `--net=${e.netnsPath}`,
        'dockerd',
        '--config-file', p.config,
        '--data-root', p.data,
        '--exec-root', p.exec,
        '--pidfile', p.pidfile,
        '-H', e.host,
        '--containerd-namespace', netns,
        '--containerd-plugins-namespace', `${netns}p`,
      ],
      { detached: true, stdio: ['ignore', log, log] },
    );
    closeSync(log);
    child.unref();
    if (child.pid === undefined) throw new Error('nsenter dockerd: no pid');
    e.pid = child.pid;
    await waitForEngine(e, opts.timeoutMs ?? 30_000);
    return e;
  } catch (err) {
    const tail = existsSync(p.log) ? readFileSync(p.log, 'utf8').split('\n').slice(-15).join('\n') : '';
    await stopSecondEngine(e);
    throw new Error(`second engine ${netns}: ${err instanceof Error ? err.message : String(err)}${tail ? `\n--- dockerd log:\n${tail}` : ''}`, { cause: err });
  }
}

/** `docker save <image> | docker -H <engine> load`: there is no registry to pull from. */
export async function copyImage(e: SecondEngine, image: string): Promise<void> {
  const r = await execa('docker', ['save', image], { reject: false, timeout: 120_000 }).pipe('docker', ['-H', e.host, 'load'], { reject: false, timeout: 120_000 });
  if (r.exitCode !== 0) throw new Error(`docker save ${image} | docker -H ${e.host} load: ${String(r.stderr).trim()}`);
}

async function waitForEngine(e: SecondEngine, timeoutMs: number): Promise<void> {
  const t0 = performance.now();
  for (;;) {
    const r = await runAllowFail('docker', ['-H', e.host, 'version', '--format', '{{.Server.Version}}'], { timeoutMs: 5000 });
    if (r.exitCode === 0) return;
    if (!alive(e.pid)) throw new Error('dockerd exited');
    if (performance.now() - t0 > timeoutMs) throw new Error(`dockerd did not answer on ${e.host} within ${timeoutMs} ms: ${r.stderr.trim()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function alive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    // A zombie (exited, not yet reaped by this process) counts as gone.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function waitGone(pids: number[], timeoutMs: number): Promise<boolean> {
  const t0 = performance.now();
  while (pids.some(alive)) {
    if (performance.now() - t0 > timeoutMs) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/** Processes whose command line mentions dir (dockerd, its containerd, the shims), with their command names. */
function processesUsing(dir: string): Array<{ pid: number; comm: string }> {
  const out: Array<{ pid: number; comm: string }> = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').some((a) => a.startsWith(dir))) {
        out.push({ pid: Number(d), comm: readFileSync(`/proc/${d}/comm`, 'utf8').trim() });
      }
    } catch {
      // gone
    }
  }
  return out;
}

/** Processes of the engine's containers (by their cgroups), for when the engine could not stop them. */
function containerProcesses(dataRoot: string): number[] {
  let ids: string[];
  try {
    ids = readdirSync(path.join(dataRoot, 'containers'));
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const id of ids) {
    for (const f of [`/sys/fs/cgroup/pids/docker/${id}/cgroup.procs`, `/sys/fs/cgroup/docker/${id}/cgroup.procs`]) {
      try {
        out.push(...readFileSync(f, 'utf8').split('\n').filter((l) => l !== '').map(Number));
      } catch {
        // not this layout, or gone
      }
    }
  }
  return out;
}

function kill(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone
    }
  }
}

/** Mount points under dir, deepest first. */
function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (mp !== undefined && (mp === dir || mp.startsWith(`${dir}/`))) out.push(mp.replace(/\\040/g, ' '));
  }
  return out.sort((a, b) => b.length - a.length);
}

/**
 * Stops the engine whose namespace is netns and removes everything it had:
 * dockerd gets SIGTERM (it stops its containers and its containerd), then
 * whatever still runs from its directories is killed, mounts under its
 * directory are unmounted, the directory, socket, namespace and host link
 * removed. Safe to call on a half-made or already removed engine.
 */
async function stopEngineIn(netns: string): Promise<void> {
  const p = paths(netns);
  let pid = 0;
  try {
    pid = Number(readFileSync(p.pidfile, 'utf8').trim());
  } catch {
    // not started, or already stopped
  }
  const dockerd = alive(pid) ? [pid] : processesUsing(p.dir).filter((x) => x.comm === 'dockerd').map((x) => x.pid);
  // On SIGTERM dockerd stops its containers and its containerd; what survives a dockerd that would not stop is killed.
  kill(dockerd, 'SIGTERM');
  if (!(await waitGone(dockerd, 20_000))) kill(dockerd, 'SIGKILL');
  const rest = [...processesUsing(p.dir).map((x) => x.pid), ...containerProcesses(p.data)];
  kill(rest, 'SIGKILL');
  await waitGone(rest, 5000);
  for (const mp of mountsUnder(p.dir)) await runAllowFail('umount', ['-l', mp]);
  rmSync(p.dir, { recursive: true, force: true });
  rmSync(p.socket, { force: true });
  await netnsDel(netns);
  forgetOwner('engine', netns);
}

export async function stopSecondEngine(e: SecondEngine): Promise<void> {
  if (e.pid > 0 && alive(e.pid)) {
    // The pidfile may not be written yet when start-up failed early.
    kill([e.pid], 'SIGTERM');
    if (!(await waitGone([e.pid], 20_000))) kill([e.pid], 'SIGKILL');
  }
  await stopEngineIn(e.netns);
  await runAllowFail('ip', ['link', 'del', e.hostLink]);
  forgetOwner('link', e.hostLink);
}

/** Second engines whose test process is gone (name starting with prefix): stopped and removed. */
export async function cleanupStaleEngines(prefix: string = PREFIX): Promise<string[]> {
  let names: string[];
  try {
    names = readdirSync(ENGINES_DIR);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names) {
    if (!n.startsWith(prefix) || inUse(n, recordedOwner('engine', n))) continue;
    await stopEngineIn(n);
    forgetOwner('link', n.replace(/n2$/, 'h'));
    out.push(n);
  }
  return out;
}
