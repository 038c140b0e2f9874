// One open network namespace file per transaction. Every step of the
// transaction (observe, the netlink batch, nft through either transport,
// read-back, rollback) enters the namespace through this fd, so nothing is
// looked up by pid after it was opened: if the container dies and its pid is
// reused, no step lands in the new process's namespace (the fd keeps the old
// one alive, and writing into an orphaned namespace touches nobody). The
// identity checks (the inode recorded for the container, the host's, other
// containers') read the inode of this same fd.

import { closeSync, constants, fstatSync, openSync, statSync } from 'node:fs';
import { NamespaceGoneError, NetlinkError } from '../errors.js';
import type { NsFdTarget } from './types.js';

export interface NsHandle {
  /** What the backend and the nft transports take: the fd, entered as it is. */
  readonly target: NsFdTarget;
  /** The namespace's inode (its identity while the fd is open). */
  readonly ino: number;
  /** Idempotent. Only once every operation on the target has settled. */
  close(): void;
}

/** The device of nsfs, where every namespace file lives. */
let nsfsDev: number | undefined;
function nsfs(): number {
  nsfsDev ??= statSync('/proc/self/ns/net').dev;
  return nsfsDev;
}

function describe(ns: { pid: number } | { path: string }): string {
  return 'pid' in ns ? `pid ${ns.pid}` : ns.path;
}

/**
 * Opens the namespace of a pid or a namespace file. With `expectIno`, a
 * namespace with another inode is refused (NamespaceGoneError 'changed'); a
 * process that is gone gives NamespaceGoneError 'gone'.
 */
export function openNsHandle(ns: { pid: number } | { path: string }, expectIno?: number): NsHandle {
  const name = describe(ns);
  const file = 'pid' in ns ? `/proc/${ns.pid}/ns/net` : ns.path;
  if ('pid' in ns && (!Number.isSafeInteger(ns.pid) || ns.pid < 1)) throw new NetlinkError(`open in ${name}: bad pid`, 'EINVAL', 22, 'open', name);
  let fd: number;
  try {
    // Non-blocking: a path naming a FIFO must not hang the event loop (it is refused below).
    // libuv adds O_CLOEXEC: only the exec transport's nsenter gets it, as its fd 3, on purpose.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    if ('pid' in ns && (code === 'ENOENT' || code === 'ESRCH')) {
      throw new NamespaceGoneError(`${name}: the process is gone; nothing written`, 'gone', name);
    }
    throw new NetlinkError(`open in ${name}: ${(err as Error).message}`, code, (err as NodeJS.ErrnoException).errno ?? 0, 'open', name);
  }
  let ino: number;
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.dev !== nsfs()) throw new NetlinkError(`open in ${name}: not a namespace file`, 'EINVAL', 22, 'open', name);
    ino = st.ino;
    if (expectIno !== undefined && ino !== expectIno) {
      throw new NamespaceGoneError(`${name} is now in another network namespace (inode ${ino}, recorded ${expectIno}): the container's process is gone and its pid reused; nothing written`, 'changed', name);
    }
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  let open = true;
  return {
    target: { fd, name },
    ino,
    close() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}
