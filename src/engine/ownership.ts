// Twine writes only into a container's own network namespace. Labels are the
// container's, so they may change only what is the container's: a container
// in the host's namespace (network_mode host) or in another container's
// (container:<x>) would otherwise get Twine's table and routes written into
// the host (DNAT in front of Docker's published ports, the host's default
// route, SSH) or into its victim (its kill-switch routes).
//
// Two checks, both before anything is written:
//   - Docker's network mode (inspect and Docker's container list give it; a
//     container known only from its create event has the mode its network
//     connects imply: `host` when it joined the host network);
//   - the identity of the namespace the transaction's handle holds (its
//     inode, read from that same fd): not the host's, not another running
//     container's. This catches what the mode does not say (a container
//     whose mode was not read yet, a process that moved itself elsewhere).
// A namespace several containers are in belongs to the one Docker created it
// for (its mode is its own network); the others join it and are refused. If
// that cannot be told (two claim it), every one of them is refused. A
// container whose namespace inode could not be read is refused too: there is
// nothing to compare.

import { statSync } from 'node:fs';
import { NamespaceRefusedError } from '../errors.js';
import { openNsHandle, type NsHandle } from '../netns/handle.js';
import type { ContainerInfo } from '../docker/container.js';
import { findByNameOrId } from '../docker/container-ref.js';

export const OWN_NAMESPACE_ONLY = "Twine writes only into a container's own network namespace";

export type Occupant = Pick<ContainerInfo, 'id' | 'name' | 'running' | 'networkMode' | 'netnsIno'>;

/** What the checks compare a namespace with. */
export interface NamespaceContext {
  /** Inodes of the host's namespace (the daemon's, PID 1's, the configured host namespace's). */
  hostInodes: ReadonlySet<number>;
  /** Every container Twine knows of, labelled or not. */
  containers: Iterable<Occupant>;
  /** The running ones recorded in a namespace (an index of `containers`); without it, `containers` is scanned. */
  inNamespace?: (ino: number) => Iterable<Occupant>;
}

const CONTAINER_MODE = 'container:';

/** The host's namespace as inodes: the daemon's own, PID 1's (with --pid host, the host's init) and `hostNetns` when given. */
export function hostNamespaceInodes(hostNetns?: string): Set<number> {
  const out = new Set<number>();
  for (const file of ['/proc/self/ns/net', '/proc/1/ns/net', ...(hostNetns ? [hostNetns] : [])]) {
    try {
      out.add(statSync(file).ino);
    } catch {
      // not visible here: the others still count
    }
  }
  return out;
}

/** Docker's network mode puts the container in a namespace that is not its own. */
function joinsAnother(mode: string): boolean {
  return mode === 'host' || mode.startsWith(CONTAINER_MODE);
}

/** Docker created the namespace for this container (its mode is known and is a network of its own). */
function ownsItsNamespace(c: Occupant): boolean {
  return c.networkMode !== undefined && !joinsAnother(c.networkMode);
}

/** Refused by Docker's network mode alone: host or container:<x>. */
export function modeRefusal(c: Occupant, containers: Iterable<Occupant>): NamespaceRefusedError | undefined {
  const mode = c.networkMode;
  if (mode === undefined || !joinsAnother(mode)) return undefined;
  if (mode === 'host') return new NamespaceRefusedError(`network_mode host: ${OWN_NAMESPACE_ONLY}`, c.name, 'network_mode');
  // Docker keeps a full id in container:<ref>; a user may give a name or a prefix.
  const ref = mode.slice(CONTAINER_MODE.length);
  const other = findByNameOrId(containers, ref);
  const name = other?.name ?? ref;
  return new NamespaceRefusedError(`network_mode container:${name}: ${OWN_NAMESPACE_ONLY}`, c.name, 'network_mode', name);
}

/** Refused by the identity of the namespace it is in (`ino`, read from the transaction's handle). */
export function identityRefusal(c: Occupant, ino: number, ctx: NamespaceContext): NamespaceRefusedError | undefined {
  if (ctx.hostInodes.has(ino)) {
    return new NamespaceRefusedError(`network namespace is the host's (inode ${ino}): ${OWN_NAMESPACE_ONLY}`, c.name, 'host');
  }
  const sharers: Occupant[] = [];
  for (const o of ctx.inNamespace ? ctx.inNamespace(ino) : ctx.containers) if (o.id !== c.id && o.running && o.netnsIno === ino) sharers.push(o);
  if (sharers.length === 0) return undefined;
  if (ownsItsNamespace(c) && !sharers.some(ownsItsNamespace)) return undefined;
  const other = sharers.find(ownsItsNamespace) ?? sharers[0]!;
  return new NamespaceRefusedError(`network namespace shared with container ${other.name} (inode ${ino}): ${OWN_NAMESPACE_ONLY}`, c.name, 'shared', other.name);
}

function unknownNamespace(c: Occupant & { pid: number }): NamespaceRefusedError {
  return new NamespaceRefusedError(`the network namespace of process ${c.pid} could not be read when Docker named it, so whose it is cannot be told: ${OWN_NAMESPACE_ONLY}`, c.name, 'unknown');
}

/** How a transaction gets at a container's namespace (tests substitute one that needs no process). */
export type NsOpener = (pid: number, expectIno: number | undefined) => NsHandle;

export const openByPid: NsOpener = (pid, expectIno) => openNsHandle({ pid }, expectIno);

/**
 * The one handle a transaction on `c` uses, once every check passed: Docker's
 * network mode, then the namespace's inode against the one recorded for `c`
 * (a reused pid: NamespaceGoneError), the host's and the other containers'.
 * Throws NamespaceRefusedError (nothing opened stays open) when `c` is not
 * alone in a namespace of its own.
 */
export function openOwnNamespace(c: Occupant & { pid: number }, ctx: NamespaceContext, open: NsOpener = openByPid): NsHandle {
  const byMode = modeRefusal(c, ctx.containers);
  if (byMode) throw byMode;
  const handle = open(c.pid, c.netnsIno);
  // Without the inode read when Docker named the pid, a reused pid (another process's namespace) would pass.
  const refusal = identityRefusal(c, handle.ino, ctx) ?? (c.netnsIno === undefined ? unknownNamespace(c) : undefined);
  if (refusal) {
    handle.close();
    throw refusal;
  }
  return handle;
}
