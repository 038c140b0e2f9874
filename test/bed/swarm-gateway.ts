// What both swarm e2e tests do around a gateway task: make the test host
// behind it, find its overlay address, give it a stand-in tunnel (wg0) to that
// host, and read whether a task's Twine routes point at it.

import { twineRoutes } from './engine.js';
import { netnsAdd, netnsDel, type IpRoute } from './netns.js';
import { hostBlackhole, hostBlackholeDel } from './prefix.js';
import type { TaskContainer } from './swarm.js';
import { tunnelVeth } from './tunnel.js';

/** The test host behind the gateway: the netns `far`, its /24 (`farBase`.0/24) blackholed on the host first, so a packet for it that misses the gateway dies there instead of leaving the machine. */
export async function farHost(far: string, farBase: string): Promise<void> {
  await hostBlackhole(`${farBase}.0/24`);
  await netnsAdd(far);
}

/** Removes the test host (`farBase` undefined: its prefix was never chosen, so nothing was blackholed). */
export async function farHostDel(far: string, farBase: string | undefined): Promise<void> {
  await netnsDel(far);
  if (farBase !== undefined) await hostBlackholeDel(`${farBase}.0/24`);
}

/** A task's address on `network`, which must lie in `base`.0/24. */
export function ipOn(task: TaskContainer, network: string, base: string): string {
  const ip = task.addresses[network];
  if (ip === undefined || !ip.startsWith(`${base}.`)) throw new Error(`task ${task.name} has no address on ${network}: ${JSON.stringify(task.addresses)}`);
  return ip;
}

/** The gateway task's stand-in tunnel: wg0 (`farBase`.1) in the task, its far end (`farBase`.2) in the netns `far`. */
export async function tunnelTo(tmpPrefix: string, gw: TaskContainer, far: string, farBase: string): Promise<void> {
  await tunnelVeth({ vethPrefix: tmpPrefix, gwPid: gw.pid, server: far }, { gw: `${farBase}.1/24`, server: `${farBase}.2/24` });
}

function brief(rs: IpRoute[]): string[] {
  return rs.map((r) => `${r.type ?? 'unicast'} ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}`).sort();
}

/** Twine's routes in `task` are exactly `farBase`.0/24 via `gw` (unreachable when gw is undefined). */
export async function routesExactly(task: TaskContainer, farBase: string, gw: string | undefined): Promise<boolean> {
  const want = gw === undefined ? `unreachable ${farBase}.0/24` : `unicast ${farBase}.0/24 via ${gw}`;
  return JSON.stringify(brief(await twineRoutes({ pid: task.pid }))) === JSON.stringify([want]);
}
