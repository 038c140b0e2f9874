// What the engine reads of the host outside Docker's API and the namespace
// backend: container cgroups, /proc/<pid>/net and /proc/<pid>/ns/net, the
// namespace files it opens for a transaction, and the notifications of a
// namespace being set up. One interface, so that unit tests give the engine
// containers that have no process (test/fakes/); the daemon uses `hostView`.

import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import { containerNsPid, netnsInode, pidInodes, processInContainer, type PidClaim } from '../docker/cgroup.js';
import { nsNotify } from '../netns/notify.js';
import { procAddrs, procDefaultGateways, type DefaultGateways } from '../netns/procfs.js';
import type { Addr } from '../netns/types.js';
import { loadAddon } from '../netns/addon.js';
import { hostNamespaceInodes, openByPid, type NsOpener } from './ownership.js';
import type { RootFileReader } from './port-files.js';

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
  /** A small regular file inside process pid's root, `path` relative to it, never leaving that root (absent in fakes: no port files are read). */
  readRootFile?: RootFileReader;
  /** The container's /etc/resolv.conf as its process `pid` sees it; undefined when it cannot be read. */
  resolvConf?(pid: number): string | undefined;
}

/** Docker's resolv.conf is a few hundred bytes: a larger file is not one Docker wrote. */
const MAX_RESOLV_CONF = 64 * 1024;

/** Only a regular file at a real /etc of the container's root: a symlink there could point into the host's tree. */
function readResolvConf(pid: number): string | undefined {
  const root = `/proc/${pid}/root`;
  try {
    if (!lstatSync(`${root}/etc`).isDirectory()) return undefined;
    const fd = openSync(`${root}/etc/resolv.conf`, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || st.size > MAX_RESOLV_CONF) return undefined;
      const buf = Buffer.alloc(MAX_RESOLV_CONF);
      const n = readSync(fd, buf, 0, MAX_RESOLV_CONF, 0);
      return buf.subarray(0, n).toString('utf8');
    } finally {
      closeSync(fd);
    }
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
  readRootFile: (pid, path, maxBytes) => loadAddon().rootFileRead(pid, path, maxBytes),
  resolvConf: readResolvConf,
};
