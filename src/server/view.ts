// What the status server needs from the daemon, and nothing more: a read-only
// view of the engine's per-container state plus Docker's connection state.
// Unit tests serve a fake; the daemon adapts its Engine and DockerEventStream
// with `daemonView()`.

import type { ContainerState } from '../engine/state.js';

export type { ContainerState };

export interface DaemonView {
  /** Every container the engine tracks (labelled ones), sorted by name. */
  containers(): ContainerState[];
  /** By name, full id, or an id prefix of at least 4 characters. */
  container(nameOrId: string): ContainerState | undefined;
  /** True once the first full re-sync finished (the API's and `/healthz`'s `reconciled`). */
  readonly reconciled: boolean;
  /** True while Docker's event stream is connected. */
  dockerConnected(): boolean;
  /** Undefined while connected to Docker; else since when (ms since epoch) it is not, and the last failure. */
  dockerDown?(): { since: number; reason?: string } | undefined;
  /** Successful connections to Docker's event stream so far (the first one included); reconnects = connects - 1. */
  dockerConnects?(): number;
  /** Packets a NAT gateway's kill switch dropped, read from the kernel now; undefined without one. */
  killSwitchDrops?(c: ContainerState): Promise<number | undefined>;
  /** Packets a NAT gateway's whitelists dropped, read from the kernel now; undefined without any. */
  whitelistDrops?(c: ContainerState): Promise<number | undefined>;
  /** Docker events handled so far, and the work still under way (0: idle). */
  activity?(): { events: number; busy: number };
}

/** The parts of Engine and DockerEventStream the adapter reads (structural, so tests need neither). */
export interface EngineLike {
  containers(): ContainerState[];
  container(nameOrId: string): ContainerState | undefined;
  readonly firstSyncDone: boolean;
  killSwitchDrops?(c: ContainerState): Promise<number | undefined>;
  whitelistDrops?(c: ContainerState): Promise<number | undefined>;
  readonly eventsHandled?: number;
  readonly busy?: number;
}

export interface EventStreamLike {
  readonly connected: boolean;
  readonly connects: number;
  readonly disconnected?: { since: number; reason?: string };
}

/** Adapts the daemon's Engine and Docker event stream to a DaemonView (live: reads them on every call). */
export function daemonView(engine: EngineLike, events: EventStreamLike): DaemonView {
  return {
    containers: () => engine.containers(),
    container: (x) => engine.container(x),
    get reconciled() {
      return engine.firstSyncDone;
    },
    dockerConnected: () => events.connected,
    dockerDown: () => events.disconnected,
    dockerConnects: () => events.connects,
    killSwitchDrops: (c) => engine.killSwitchDrops?.(c) ?? Promise.resolve(undefined),
    whitelistDrops: (c) => engine.whitelistDrops?.(c) ?? Promise.resolve(undefined),
    activity: () => ({ events: engine.eventsHandled ?? 0, busy: engine.busy ?? 0 }),
  };
}
