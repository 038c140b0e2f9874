// A swarm task's name, `<service>.<slot>.<task id>` (also its container's
// name), and the names a reference may use for the task (README, "Docker
// Swarm"; what each means: resolve/swarm.ts). Service names cannot contain
// dots (swarm refuses them), so the parts are unambiguous.

import type { SwarmTask } from './container.js';

const SERVICE_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
const PART_RE = /^[A-Za-z0-9]{1,64}$/;

/** The task a swarm task's name describes; undefined when it is not one of `service`'s. */
export function taskFromName(service: string, name: string): SwarmTask | undefined {
  if (!SERVICE_RE.test(service) || !name.startsWith(`${service}.`)) return undefined;
  const rest = name.slice(service.length + 1).split('.');
  if (rest.length !== 2 || !rest.every((p) => PART_RE.test(p))) return undefined;
  return { service, slot: rest[0]!, name, taskId: rest[1]! };
}

/** Names under which a task answers as its service: the service and `<service>.<slot>`. */
export function serviceKeys(t: SwarmTask): string[] {
  return [t.service, `${t.service}.${t.slot}`];
}

/** `<service>.<slot>`, as `docker service ps` shows a task. */
export function slotName(t: SwarmTask): string {
  return `${t.service}.${t.slot}`;
}

/**
 * Every name a source may use for this task (re-planning its dependents): its
 * task name, and its service's keys in full and as seen from inside a stack
 * (after each `_`: the stack of a task on another node is not known).
 */
export function taskNames(t: SwarmTask): string[] {
  const out = [t.name, ...serviceKeys(t)];
  for (let i = t.service.indexOf('_'); i >= 0; i = t.service.indexOf('_', i + 1)) {
    const short = t.service.slice(i + 1);
    if (short !== '') out.push(short, `${short}.${t.slot}`);
  }
  return out;
}
