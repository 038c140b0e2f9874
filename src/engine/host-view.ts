// What the engine reads of the host outside Docker's API and the namespace
// backend: container cgroups, /proc/<pid>/net and /proc/<pid>/ns/net, the
// namespace files it opens for a transaction, and the notifications of a
// namespace being set up. One interface, so that unit tests give the engine
// containers that have no process (test/fakes/); the daemon uses `hostView`.

import { readFileSync } from 'node:fs';
import { containerNsPid, netnsInode, pidInodes, processInContainer, type PidClaim } from '../docker/cgroup.js';
import { nsNotify } from '../netns/notify.js';
import { procAddrs, procDefaultGateways, type DefaultGateways } from '../netns/procfs.js';
import type { Addr } from '../netns/types.js';
import { hostNamespaceInodes, openByPid, type NsOpener } from './ownership.js';

export interface HostView {
  /** A process of container `id` in a namespace not in `notIn`, with that namespace's inode (its cgroup). */
  containerNsPid(id: string, notIn: ReadonlySet<number>, skip?: ReadonlySet<number>): { pid: number; ino: number } | undefined;
  /** The inode of /proc/<pid>/ns/net; undefined when the process is gone. */
  netnsInode(pid: number): number | undefined;
  /** Whether process `pid` is in container `id`'s cgroup. */
  processInContainer(pid: number, id: string): boolean;
  /**
   * For each claim, processInContainer then netnsInode: the inode when the pid
   * is the container's, else undefined. The daemon reads all of them at once
   * off the main thread; docker/cgroup.ts pidInodesOneByOne is the same from
   * the two methods above.
   */
  pidInodes(claims: readonly PidClaim[]): Promise<(number | undefined)[]>;
  /** Addresses from /proc/<pid>/net; undefined when that cannot be read. */
  addrs(pid: number): Addr[] | undefined;
  /** Default routes' gateways from /proc/<pid>/net; undefined when the process is gone. */
  defaultGateways(pid: number): DefaultGateways | undefined;
  /** Inodes of the host's namespace (the daemon's, PID 1's, `hostNetns`'s). */
  hostInodes(hostNetns: string): Set<number>;
  /** Opens the namespace handle of one transaction. */
  open: NsOpener;
  /** Subscribes to a namespace's link, address and route notifications. */
  notify: typeof nsNotify;
  /** The container's /etc/resolv.conf as its process `pid` sees it; undefined when it cannot be read. */
  resolvConf?(pid: number): string | undefined;
}

/** Docker's resolv.conf is a few hundred bytes: a larger file is not one Docker wrote. */
const MAX_RESOLV_CONF = 64 * 1024;

function readResolvConf(pid: number): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/root/etc/resolv.conf`, 'utf8');
    return text.length <= MAX_RESOLV_CONF ? text : undefined;
  } catch {
    return undefined;
  }
}

export const hostView: HostView = {
  containerNsPid,
  netnsInode: (pid) => netnsInode(pid),
  processInContainer,
  pidInodes,
  addrs: procAddrs,
  defaultGateways: procDefaultGateways,
  hostInodes: hostNamespaceInodes,
  open: openByPid,
  notify: nsNotify,
  resolvConf: readResolvConf,
};
