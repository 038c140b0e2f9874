// A running container's processes from its cgroup, without asking Docker.
// Docker puts each container in a cgroup named after its id; where that is
// depends on the cgroup version and driver. A Twine in a container sees these
// only when its /sys/fs/cgroup shows the host's hierarchy (on cgroup v2: the
// host's cgroup namespace, --cgroupns=host); otherwise nothing is found and
// callers fall back to `docker inspect`.

import { readFileSync, statSync } from 'node:fs';
import { loadAddon } from '../netns/addon.js';

/** cgroup.procs of container `id` under each layout Docker uses, most common first. */
export function cgroupProcsFiles(id: string): string[] {
  return [
    `/sys/fs/cgroup/system.slice/docker-${id}.scope/cgroup.procs`, // v2, systemd driver
    `/sys/fs/cgroup/docker/${id}/cgroup.procs`, // v2, cgroupfs driver
    `/sys/fs/cgroup/pids/docker/${id}/cgroup.procs`, // v1, cgroupfs driver
    `/sys/fs/cgroup/pids/system.slice/docker-${id}.scope/cgroup.procs`, // v1, systemd driver
    `/sys/fs/cgroup/memory/docker/${id}/cgroup.procs`, // v1 without the pids controller
  ];
}

let lastLayout = 0;

/** The container's processes now; empty when it is not running or its cgroup is not visible. */
export function containerPids(id: string): number[] {
  const files = cgroupProcsFiles(id);
  // The layout that worked last time is tried first: one read in the common case.
  for (let k = 0; k < files.length; k++) {
    const i = (lastLayout + k) % files.length;
    let text: string;
    try {
      text = readFileSync(files[i]!, 'utf8');
    } catch {
      continue;
    }
    lastLayout = i;
    return text.split('\n').filter((l) => l !== '').map(Number);
  }
  return [];
}

export function netnsInode(pid: number | 'self'): number | undefined {
  try {
    return statSync(`/proc/${pid}/ns/net`).ino;
  } catch {
    return undefined;
  }
}

/**
 * A process of container `id` that lives in a network namespace other than
 * `notIn` (an inode: the host's, where runc's set-up processes still are right
 * after a start), with that namespace's inode. Pids in `skip` (a previous run's)
 * are passed over.
 */
export function containerNsPid(id: string, notIn: ReadonlySet<number>, skip: ReadonlySet<number> = new Set()): { pid: number; ino: number } | undefined {
  for (const pid of containerPids(id)) {
    if (skip.has(pid)) continue;
    const ino = netnsInode(pid);
    if (ino !== undefined && !notIn.has(ino)) return { pid, ino };
  }
  return undefined;
}

/** Whether process `pid` belongs to container `id` (its cgroup path names the id, in every layout above). */
export function processInContainer(pid: number, id: string): boolean {
  if (!/^[0-9a-f]{12,64}$/.test(id)) return false;
  try {
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(id);
  } catch {
    return false;
  }
}

/** A pid that should be a process of container `id` (a cached inspect's). */
export interface PidClaim {
  pid: number;
  id: string;
}

/** What one pid check needs: processInContainer and netnsInode, as functions of the host. */
export interface PidReads {
  processInContainer(pid: number, id: string): boolean;
  netnsInode(pid: number): number | undefined;
}

/**
 * Per claim: the inode of the process's network namespace when its cgroup
 * names the container (processInContainer, then netnsInode); undefined when
 * it does not, the id is not a container id, or the process is gone. All
 * claims are read in one job on the addon's worker pool, off the main thread.
 * Unlike processInContainer, only the first 64 KiB of /proc/<pid>/cgroup are
 * read (native/pid_check.cc); an id beyond them is not found.
 */
export async function pidInodes(claims: readonly PidClaim[]): Promise<(number | undefined)[]> {
  if (claims.length === 0) return [];
  const answers = await loadAddon().pidCheck(
    claims.map((c) => c.pid),
    claims.map((c) => c.id),
  );
  return Array.from(answers, (v) => (v > 0 ? v : undefined));
}

/** The answers of pidInodes read one by one on the calling thread, through `host`. */
export function pidInodesOneByOne(host: PidReads, claims: readonly PidClaim[]): (number | undefined)[] {
  return claims.map((c) => (host.processInContainer(c.pid, c.id) ? host.netnsInode(c.pid) : undefined));
}
