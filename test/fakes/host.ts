// A HostView (src/engine/host-view.ts) without processes: containers' cgroups,
// /proc/<pid>/net and namespace files are entries in maps. Opening a namespace
// gives a handle whose fd is the namespace's inode, so the fake backend and
// transport (./namespaces.ts) know where each call went.

import { pidInodesOneByOne, type PidClaim } from '../../src/docker/cgroup.js';
import { NamespaceGoneError } from '../../src/errors.js';
import type { HostView } from '../../src/engine/host-view.js';
import type { NsNotifier } from '../../src/netns/notify.js';
import type { DefaultGateways } from '../../src/netns/procfs.js';
import type { Addr } from '../../src/netns/types.js';

/** The host's namespace inode in the fake world. */
export const HOST_INO = 4026531840;

export interface FakeProcess {
  pid: number;
  ino: number;
  /** Container id whose cgroup holds it (none: a process outside any container). */
  container?: string;
  addrs?: Addr[];
  gateways?: DefaultGateways;
  /** Its /etc/resolv.conf. */
  resolvConf?: string;
}

export class FakeHost implements HostView {
  readonly processes = new Map<number, FakeProcess>();
  /** Handles opened and not closed yet. */
  openHandles = 0;
  /** Runs right after a handle is opened (e.g. to kill the process mid-transaction). */
  onOpen: ((pid: number) => void) | undefined;
  /** Cgroup reads answer nothing: as when the host's cgroups are not visible. */
  cgroupsHidden = false;
  private readonly subscribers = new Map<number, Array<(overrun: boolean) => void>>();
  private readonly awaitingSubscription = new Map<number, () => void>();

  /** Resolves once something subscribed to `pid`'s namespace notifications (the early path watching it). */
  subscribedTo(pid: number): Promise<void> {
    if ((this.subscribers.get(pid) ?? []).length > 0) return Promise.resolve();
    return new Promise((resolve) => this.awaitingSubscription.set(pid, resolve));
  }

  add(p: FakeProcess): void {
    this.processes.set(p.pid, p);
  }

  kill(pid: number): void {
    this.processes.delete(pid);
  }

  /** Namespace notifications for `pid`'s namespace (link, address, route changes). */
  notifyChange(pid: number): void {
    for (const f of this.subscribers.get(pid) ?? []) f(false);
  }

  containerNsPid(id: string, notIn: ReadonlySet<number>, skip: ReadonlySet<number> = new Set()): { pid: number; ino: number } | undefined {
    if (this.cgroupsHidden) return undefined;
    for (const p of this.processes.values()) if (p.container === id && !skip.has(p.pid) && !notIn.has(p.ino)) return { pid: p.pid, ino: p.ino };
    return undefined;
  }
  netnsInode(pid: number): number | undefined {
    return this.processes.get(pid)?.ino;
  }
  processInContainer(pid: number, id: string): boolean {
    return this.processes.get(pid)?.container === id;
  }
  async pidInodes(claims: readonly PidClaim[]): Promise<(number | undefined)[]> {
    return pidInodesOneByOne(this, claims);
  }
  addrs(pid: number): Addr[] | undefined {
    return this.processes.get(pid)?.addrs;
  }
  defaultGateways(pid: number): DefaultGateways | undefined {
    return this.processes.get(pid)?.gateways;
  }
  resolvConf(pid: number): string | undefined {
    return this.processes.get(pid)?.resolvConf;
  }
  hostInodes(): Set<number> {
    return new Set([HOST_INO]);
  }
  readonly open: HostView['open'] = (pid, expectIno) => {
    const p = this.processes.get(pid);
    if (!p) throw new NamespaceGoneError(`pid ${pid}: the process is gone; nothing written`, 'gone', `pid ${pid}`);
    if (expectIno !== undefined && p.ino !== expectIno) {
      throw new NamespaceGoneError(`pid ${pid} is now in another network namespace (inode ${p.ino}, recorded ${expectIno})`, 'changed', `pid ${pid}`);
    }
    this.openHandles++;
    let open = true;
    const ino = p.ino;
    this.onOpen?.(pid);
    return {
      target: { fd: ino, name: `pid ${pid}` },
      ino,
      close: () => {
        if (open) this.openHandles--;
        open = false;
      },
    };
  };
  readonly notify: HostView['notify'] = async (ns, _groups, onChange): Promise<NsNotifier> => {
    const pid = 'pid' in ns ? ns.pid : -1;
    if (!this.processes.has(pid)) throw new NamespaceGoneError(`pid ${pid}: gone`, 'gone', `pid ${pid}`);
    const list = this.subscribers.get(pid) ?? [];
    list.push(onChange);
    this.subscribers.set(pid, list);
    this.awaitingSubscription.get(pid)?.();
    this.awaitingSubscription.delete(pid);
    return { close: () => this.subscribers.set(pid, (this.subscribers.get(pid) ?? []).filter((f) => f !== onChange)) };
  };
}
