// Swarm tasks on other nodes, in the engine (../docker/swarm.ts reads them):
// which overlay networks to read (those labelled containers are on), when to
// read them (re-syncs, service/node events, a local task's container events,
// the poll, and before planning a container on an overlay network not read
// yet), and which containers to re-plan when a task came, went or moved.

import type { ContainerInfo, NetworkAttachment } from '../docker/container.js';
import type { DockerEvent } from '../docker/events.js';
import { hasTwineLabels } from '../docker/inventory.js';
import type { NetworkIndex } from '../docker/networks.js';
import { SwarmView } from '../docker/swarm.js';
import { SWARM_TASK_ID_LABEL } from '../labels/visible.js';
import type { ContainerStore } from './container-store.js';
import type { EngineDeps } from './deps.js';
import type { DependencyGraph } from './graph.js';

export interface SwarmTasksDeps {
  deps: Pick<EngineDeps, 'docker' | 'log'>;
  /** How often the views are read (0: only when something asks). */
  pollMs: number;
  store: ContainerStore;
  networks: NetworkIndex;
  graph: DependencyGraph;
  /** Re-plan these containers. */
  replan(ids: Iterable<string>, why: string): void;
}

export class SwarmTasks {
  private readonly view: SwarmView;
  private lastError: string | undefined;

  constructor(private readonly d: SwarmTasksDeps) {
    this.view = new SwarmView({
      docker: d.deps.docker,
      pollMs: d.pollMs,
      watched: () => this.inUse(),
      onChange: (names) => {
        this.lastError = undefined;
        this.d.store.invalidate();
        this.d.replan(this.d.graph.dependentsOf({ id: '', names }), 'swarm tasks changed');
      },
      onError: (err) => {
        // Once per failure, not once per poll.
        if (err.message !== this.lastError) this.d.deps.log.warn({ err: err.message }, "reading an overlay network's tasks failed; its last view is kept");
        this.lastError = err.message;
      },
    });
  }

  /** Tasks on other nodes, as last read. */
  tasks(): readonly ContainerInfo[] {
    return this.view.tasks();
  }

  /** Reads the views now (and starts the poll). */
  refresh(): Promise<void> {
    this.view.start();
    return this.view.refresh();
  }

  stop(): void {
    this.view.stop();
  }

  /** A task moved in the swarm: read the views now rather than at the next poll. */
  onEvent(ev: DockerEvent): void {
    if (ev.type === 'service' || ev.type === 'node' || (ev.type === 'container' && ev.attributes[SWARM_TASK_ID_LABEL] !== undefined)) void this.refresh();
  }

  /** Before planning `info`: read the views of its overlay networks if they were never read. */
  async before(info: ContainerInfo): Promise<void> {
    if (this.overlaysOf(info).some((n) => !this.view.has(n.networkId))) await this.refresh();
  }

  /** Overlay networks (id → name) that running labelled containers are on, ingress aside. */
  private inUse(): Map<string, string> {
    const out = new Map<string, string>();
    for (const c of this.d.store.values()) if (c.running && hasTwineLabels(c.labels)) for (const n of this.overlaysOf(c)) out.set(n.networkId, n.networkName);
    return out;
  }

  private overlaysOf(c: ContainerInfo): NetworkAttachment[] {
    return c.networks.filter((n) => {
      const net = this.d.networks.get(n.networkName);
      return net?.driver === 'overlay' && !net.ingress;
    });
  }
}
