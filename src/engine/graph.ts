// Who depends on whom: "source S references D" (a route via D, a forward to
// D, a rule naming D). Indexed both by the names S used and by the container
// ids they resolved to, so an event about D finds exactly the S's to re-plan,
// including S's whose reference did not resolve yet (D not started).

import type { ContainerInfo } from '../docker/container.js';
import { taskNames } from '../docker/swarm-task.js';

export interface Dependencies {
  /** Names as written in the source's labels. */
  refs: string[];
  /** Container ids the references resolved to. */
  ids: string[];
}

export class DependencyGraph {
  private readonly bySource = new Map<string, Dependencies>();
  private readonly byRef = new Map<string, Set<string>>();
  private readonly byId = new Map<string, Set<string>>();

  set(sourceId: string, deps: Dependencies): void {
    this.remove(sourceId);
    this.bySource.set(sourceId, deps);
    for (const r of deps.refs) addTo(this.byRef, r, sourceId);
    for (const id of deps.ids) addTo(this.byId, id, sourceId);
  }

  remove(sourceId: string): void {
    const old = this.bySource.get(sourceId);
    if (!old) return;
    this.bySource.delete(sourceId);
    for (const r of old.refs) removeFrom(this.byRef, r, sourceId);
    for (const id of old.ids) removeFrom(this.byId, id, sourceId);
  }

  get(sourceId: string): Dependencies | undefined {
    return this.bySource.get(sourceId);
  }

  /** Sources that reference `target` by any name it answers to, or resolved to its id. */
  dependentsOf(target: { id: string; names: Iterable<string> }): Set<string> {
    const out = new Set<string>();
    for (const s of this.byId.get(target.id) ?? []) out.add(s);
    for (const n of target.names) for (const s of this.byRef.get(n) ?? []) out.add(s);
    out.delete(target.id);
    return out;
  }

  get size(): number {
    return this.bySource.size;
  }
}

/** Every name a reference to this container may use (those Docker's embedded DNS answers, and a swarm task's service and slot). */
export function namesOf(c: ContainerInfo): Set<string> {
  const names = new Set<string>([c.name, c.id, c.id.slice(0, 12)]);
  if (c.composeService) names.add(c.composeService);
  // A swarm task: its service, its slot, and both as seen from inside a stack.
  if (c.swarm) for (const n of taskNames(c.swarm)) names.add(n);
  for (const n of c.networks) {
    for (const a of n.aliases) names.add(a);
    for (const a of n.dnsNames) names.add(a);
  }
  return names;
}

function addTo(m: Map<string, Set<string>>, k: string, v: string): void {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(v);
}

function removeFrom(m: Map<string, Set<string>>, k: string, v: string): void {
  const s = m.get(k);
  if (!s) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}
