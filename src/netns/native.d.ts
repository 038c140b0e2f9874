// The binding exported by build/Release/twine_native.node (native/addon.cc
// registers the exports declared in native/exports.h).
// Every operation checks its arguments synchronously (throwing a TypeError with
// code EINVAL, stage "arguments") and then runs on a dedicated worker thread
// inside the target namespace; the promise rejects with a NativeError.

import type { Addr, Link, NsStep, Route, RouteFilter } from './types.js';

/** { pid } → /proc/<pid>/ns/net; { path } → a namespace file such as /var/run/netns/x; { fd } → that open namespace file, entered as it is. */
export type NativeTarget = { pid: number } | { path: string } | { fd: number; name?: string };

/** What the addon's rejections carry (see MakeError in native/job.cc). */
export interface NativeError extends Error {
  /** "ENOENT", "EEXIST", "ESRCH", "ENODEV", "ENETUNREACH", "EINVAL"..., or "ENFT" for an nft refusal. */
  code: string;
  errno: number;
  op: string;
  /** The target: "pid 42" or the namespace path. */
  ns: string;
  /** Where it failed: "arguments", "open", "setns", "netlink", "sysctl", "nft". */
  stage: string;
  /** The kernel's extended-ack text, when it sent one. */
  kernelMessage?: string;
  /** nft's error output (code ENFT). */
  nftMessage?: string;
}

export interface NativeStats {
  /** Worker threads (TWINE_NETNS_THREADS, default 4). */
  threads: number;
  /** Workers retired because they could not return to the daemon's namespace. */
  retired: number;
  /** Inode of the namespace the workers must return to. */
  homeInode: number;
  /** Sysctl values read over rtnetlink's netconf instead of /proc/sys (native/sysctl.h SysctlRead). */
  sysctlNetconfReads: number;
  /**
   * libnftables contexts waiting to be freed (built with libnftables only):
   * those of a namespace that just had a deleting batch are held ~100 ms,
   * because closing them sooner stalls that namespace's commits (native/nft_reaper.h).
   */
  nftContextsHeld?: number;
}

export interface NativeBinding {
  version(): string;
  stats(): NativeStats;
  /** malloc_trim(0): true when memory was released to the kernel. */
  mallocTrim(): boolean;
  /**
   * How many messages one read of a namespace may take: an rtnetlink dump, a read of Twine's nftables table
   * (each at least 1024; bytes: 4 KiB a message). Returns the limits in force.
   */
  setReadLimits(messages: number, tableMessages: number): { messages: number; tableMessages: number };
  /** A full, compacting V8 collection that gives emptied heap pages back (main thread, synchronous). */
  heapCompact(): boolean;
  /** clock_gettime(CLOCK_REALTIME) in ms since the epoch, with the fraction. */
  realtimeMs(): number;
  /** Table 0 lists every table; absent means main (254). Only unicast/unreachable/blackhole/prohibit routes. */
  routeList(target: NativeTarget, filter?: RouteFilter): Promise<Route[]>;
  routeAdd(target: NativeTarget, route: Route): Promise<void>;
  routeReplace(target: NativeTarget, route: Route): Promise<void>;
  routeDel(target: NativeTarget, route: Route): Promise<void>;
  linkList(target: NativeTarget): Promise<Link[]>;
  addrList(target: NativeTarget): Promise<Addr[]>;
  sysctlGet(target: NativeTarget, key: string): Promise<string>;
  sysctlSet(target: NativeTarget, key: string, value: string): Promise<void>;
  batch(target: NativeTarget, steps: NsStep[]): Promise<{ results: unknown[]; failedAt?: number; error?: NativeError }>;
  /** A non-blocking netlink socket opened in the namespace, subscribed to rtnetlink groups (RTNLGRP_*, 1..31); resolves to its fd. */
  notifyOpen(target: NativeTarget, groups: number[]): Promise<number>;
  /** Watches fd (now owned by the watch) from the event loop: cb after each drain, overrun when messages were lost. Never keeps the process alive. */
  notifyStart(fd: number, cb: (overrun: boolean) => void): { close(): void };
  /**
   * Per pair (pids[i], ids[i]), read on a worker in the daemon's own namespace:
   * the inode of /proc/<pid>/ns/net when the first 64 KiB of /proc/<pid>/cgroup
   * contain the id; 0 when they do not or the id is not 12-64 lowercase hex
   * digits; -1 when the process is gone (or the pid cannot be one).
   */
  pidCheck(pids: number[], ids: string[]): Promise<Float64Array>;
  /**
   * A regular file of at most maxBytes inside process pid's root (/proc/<pid>/root),
   * `path` relative to it, resolved with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS),
   * read on a worker: its bytes, or why not.
   */
  rootFileRead(pid: number, path: string, maxBytes: number): Promise<RootFileAnswer>;
  /** True when the addon was built with libnftables (then nftRun exists). */
  readonly nftAvailable: boolean;
  /** Runs nft input (JSON or a command) in the namespace; resolves with nft's (JSON) output. */
  nftRun?(target: NativeTarget, input: string): Promise<string>;
}

/** What rootFileRead found. */
export interface RootFileAnswer {
  status: 'ok' | 'missing' | 'escape' | 'notFile' | 'tooBig' | 'gone' | 'error';
  errno: number;
  /** Bytes read (ok), or the file's size (tooBig). */
  size: number;
  data?: string;
}
