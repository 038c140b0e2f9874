// Each labelled container's status as the API and `twine status` show it: the
// plan last committed, the last error or refusal, warnings. Written only by
// the transaction runner (./tx-runner.ts) and the host-routes job.

import type { ContainerInfo } from '../docker/container.js';
import { findByNameOrId } from '../docker/container-ref.js';
import { visibleLabels } from '../labels/visible.js';
import type { Dependencies } from './graph.js';
import type { ContainerState } from './state.js';

export class Statuses {
  private readonly byId = new Map<string, ContainerState>();

  get(id: string): ContainerState | undefined {
    return this.byId.get(id);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  values(): IterableIterator<ContainerState> {
    return this.byId.values();
  }

  /** Every container's status, sorted by name. */
  list(): ContainerState[] {
    return [...this.byId.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** By name, full id, or an id prefix of at least 4 characters. */
  find(nameOrId: string): ContainerState | undefined {
    return findByNameOrId(this.byId.values(), nameOrId);
  }

  delete(id: string): void {
    this.byId.delete(id);
  }

  /** The container's status brought up to `info` (made when it has none: `added`). */
  update(info: ContainerInfo, dependencies: Dependencies | undefined): { state: ContainerState; added: boolean } {
    let s = this.byId.get(info.id);
    const added = s === undefined;
    if (!s) {
      s = { id: info.id, name: info.name, running: true, labels: {}, labelErrors: [], warnings: [] };
      this.byId.set(info.id, s);
    }
    s.name = info.name;
    s.running = info.running;
    s.labels = visibleLabels(info.labels);
    s.dependencies = dependencies;
    return { state: s, added };
  }
}
