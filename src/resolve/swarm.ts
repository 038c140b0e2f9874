// What a reference means when it names a swarm service (README, "Docker
// Swarm"). Pure.
//
// - `<service>`: the service's running task on the shared overlay network. Not
//   the service's virtual IP, which Docker's DNS would answer: a route needs a
//   real next hop, and the VIP is IPVS in every container's namespace. With
//   several running tasks the reference is ambiguous: a route or forward is
//   down (kill switch) with an error that names the tasks, until the label
//   names one.
// - `<service>.<slot>`: the task in that slot, as `docker service ps` names it
//   (a replica's number; for a global service, the node id). It survives the
//   task's replacement (update, failure, rescheduling): the new task takes the
//   same slot. Docker's DNS does not answer this name; Twine does.
// - `<service>.<slot>.<task id>`: one task, by its full name (its container's
//   name, which Docker's DNS answers); it ends with the task.
// - Inside a stack, `<name>` also means the stack's service `<stack>_<name>`,
//   as the alias `docker stack deploy` gives every service on its networks.
//
// Service names cannot contain dots (swarm refuses them), so the forms do not
// overlap (the names themselves: docker/swarm-task.ts).

import type { ContainerInfo } from '../docker/container.js';
import { slotName } from '../docker/swarm-task.js';

/** What a reference written in `source`'s labels may also stand for: `<stack>_<ref>` inside a stack. */
export function stackForm(source: ContainerInfo, ref: string): string | undefined {
  const stack = source.swarm?.stack;
  return stack === undefined ? undefined : `${stack}_${ref}`;
}

/** Why a reference that matches several tasks (or a task and containers) does not resolve. */
export function ambiguousReason(ref: string, network: string, matches: readonly { c: ContainerInfo; ip: string }[]): string {
  const shown = matches.slice(0, 8).map(({ c, ip }) => (c.swarm ? `${slotName(c.swarm)} (task ${c.swarm.name}) at ${ip}` : `container ${c.name} at ${ip}`));
  const more = matches.length > shown.length ? `, and ${matches.length - shown.length} more` : '';
  const first = matches.find((m) => m.c.swarm)?.c.swarm;
  const hint = first ? `; name one in the label, e.g. ${slotName(first)}` : '; name one in the label by its container name';
  return `"${ref}" matches ${matches.length} running tasks or containers on network ${network}: ${shown.join(', ')}${more}${hint}`;
}
