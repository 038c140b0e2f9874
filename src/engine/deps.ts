// What the engine is built from: its options and the interfaces it acts
// through (Docker, the namespace backend, the nft transport, the host).

import type { DockerClient } from '../docker/client.js';
import type { InspectCache } from '../docker/inspect-cache.js';
import type { NftTransport } from '../firewall/transport.js';
import type { Cidr } from '../net/cidr.js';
import type { Limits } from '../labels/limits.js';
import type { LabelParser } from '../labels/spec-cache.js';
import type { Logger } from '../log.js';
import type { NetnsBackend } from '../netns/types.js';
import type { HostView } from './host-view.js';
import type { PlanMemo } from './plan-memo.js';

export interface EngineOptions {
  allowHostRoutes: boolean;
  /** The host's network namespace (a path); tests point it at one of their own. */
  hostNetns: string;
  concurrency: number;
  /** Apply when Docker has set up a starting container's network, before its start event (default on). */
  applyBeforeStart?: boolean;
  /** Per-container limits (default DEFAULT_LIMITS). */
  limits?: Limits;
  /** --host-routes-allow: host routes must lie inside one of these. */
  hostRoutesAllow?: Cidr[];
  /** How often the overlay networks' views are read for swarm tasks on other nodes (default 2000 ms; 0: only on events and re-syncs). */
  swarmPollMs?: number;
  /** How often gateways' forwarded-port files are read (default 1000 ms; 0: only before a gateway's plan). */
  portFilePollMs?: number;
  /**
   * The Docker engine's version ("28.5.2"), read at every connect: where its
   * embedded resolver forwards lookups from (../resolve/leaks.ts). Undefined:
   * not known, and no dns-leak is reported (twine.dns=required refuses).
   */
  dockerVersion?: string;
  /** Twine's build (version and code), part of the inputs a kept plan is taken for (./plan-memo.ts); default ''. */
  build?: string;
}

export interface EngineDeps {
  docker: DockerClient;
  netns: NetnsBackend;
  nft: NftTransport;
  log: Logger;
  /** Cgroups, /proc and namespace files (default: this host's; unit tests give fakes). */
  host?: HostView;
  /** Parses a container's labels (default labels/parse's parseLabels; unit tests count the calls). */
  parseLabels?: LabelParser;
  /** Earlier inspects a full listing may reuse (default: an empty one, kept in memory). */
  inspectCache?: InspectCache;
  /** Plans a full re-sync may take instead of planning again (default: an empty one, kept in memory). */
  planMemo?: PlanMemo;
}
