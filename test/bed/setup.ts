// What every e2e file does around its tests: at the start, remove what killed
// runs of its tag left and make sure the test image is there; at the end, take
// down what it made, in an order that leaves nothing half-connected: daemons
// first (nothing reacts to the removals), then containers, namespaces, host
// links and networks, whatever else carries its prefix, and the host
// blackholes last (they guard until no test host is left).

import { cleanupLeftovers } from './cleanup.js';
import { type TestDaemon } from './daemon.js';
import { removeContainer, removeNetwork } from './docker.js';
import { parallel } from './engine.js';
import { ensureImage } from './image.js';
import { linkDel, netnsDel } from './netns.js';
import { tagPrefix } from './owner.js';
import { type HostBlackholes } from './prefix.js';

/** The first thing an e2e file's before() does. */
export async function setUpFile(tag: string): Promise<void> {
  await cleanupLeftovers(tagPrefix(tag));
  await ensureImage();
}

export interface FileResources {
  /** Killed (SIGKILL) when still running; undefined ones (never started) are skipped. */
  daemons?: Array<TestDaemon | undefined>;
  /** Removed, eight at a time (a name that is gone is fine). */
  containers?: string[];
  /** `ip netns` names. */
  netns?: string[];
  /** Links in the root namespace. */
  links?: string[];
  networks?: string[];
  blackholes?: HostBlackholes;
}

/** The last thing an e2e file's after() does: everything it made goes, whatever failed. */
export async function tearDownFile(prefix: string, r: FileResources): Promise<void> {
  await Promise.all((r.daemons ?? []).map((d) => (d?.running ? d.stop('SIGKILL') : undefined)));
  await parallel(r.containers ?? [], 8, removeContainer);
  for (const n of r.netns ?? []) await netnsDel(n);
  for (const l of r.links ?? []) await linkDel('root', l);
  for (const n of r.networks ?? []) await removeNetwork(n);
  await cleanupLeftovers(prefix);
  await r.blackholes?.removeAll();
}
