// The binding exported by build/Release/twine_native.node (native/addon.cc).
// Every operation checks its arguments synchronously (throwing an Error with
// code EINVAL, stage "arguments") and then runs on a dedicated worker thread
// inside the target namespace; the promise rejects with a NativeError.

import type { Addr, Family, Link, NsStep, Route, RouteFilter, RouteType } from './types.js';

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
  /**
   * libnftables contexts waiting to be freed (built with libnftables only):
   * those of a namespace that just had a deleting batch are held ~100 ms,
   * because closing them sooner stalls that namespace's commits (native/nft_reaper.h).
   */
  nftContextsHeld?: number;
}

/** What a namespace watch waits for: a route, an nftables table, or both. */
export interface WatchSpec {
  /** A single-path route matching family, dst, table (main when absent) and type (unicast when absent), and gateway and protocol when given. */
  route?: { family: Family; dst: string; gateway?: string; protocol?: number; table?: number; type?: RouteType };
  table?: { family: 'inet' | 'ip' | 'ip6' | 'arp' | 'bridge' | 'netdev'; name: string };
}

/** How a part was first seen: the check right after subscribing, a notification, or a check after an overrun (ENOBUFS). */
export type WatchSeenBy = 'check' | 'notification' | 'recheck';

/** Wall-clock times (CLOCK_REALTIME, ms since the epoch, µs precision); NaN for what was not seen or not asked for. */
export interface WatchResult {
  routeMs: number;
  /** For a table made by a batch: when the generation announcement closing that batch was received. */
  tableMs: number;
  /** When both sockets were subscribed (before the first check). */
  subscribedMs: number;
  /** When the first check returned. */
  checkedMs: number;
  routeBy?: WatchSeenBy;
  tableBy?: WatchSeenBy;
  /** Notification overruns (ENOBUFS), each followed by a fresh check. */
  overruns: number;
}

export interface NativeBinding {
  version(): string;
  stats(): NativeStats;
  /** malloc_trim(0): true when memory was released to the kernel. */
  mallocTrim(): boolean;
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
  /**
   * Bench tooling: waits on a thread of its own (not a pool worker) until the
   * spec's route and table exist in the namespace or timeoutMs (≤ 600000)
   * passes. Every time is an upper bound of the kernel's commit.
   */
  watchNs(target: NativeTarget, spec: WatchSpec, timeoutMs: number): Promise<WatchResult>;
  /** A non-blocking netlink socket opened in the namespace, subscribed to rtnetlink groups (RTNLGRP_*, 1..31); resolves to its fd. */
  notifyOpen(target: NativeTarget, groups: number[]): Promise<number>;
  /** Watches fd (now owned by the watch) from the event loop: cb after each drain, overrun when messages were lost. Never keeps the process alive. */
  notifyStart(fd: number, cb: (overrun: boolean) => void): { close(): void };
  /** True when the addon was built with libnftables (then nftRun exists). */
  readonly nftAvailable: boolean;
  /** Runs nft input (JSON or a command) in the namespace; resolves with nft's (JSON) output. */
  nftRun?(target: NativeTarget, input: string): Promise<string>;
}
