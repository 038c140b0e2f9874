// Wires the engine to Docker: the event stream feeds it, every (re)connect
// triggers a full re-sync, and a timer re-checks everything for drift.

import { engineInfo, type DockerClient, type EngineInfo } from '../docker/client.js';
import type { Logger } from '../log.js';
import type { NetnsBackend } from '../netns/types.js';
import type { NftTransport } from '../firewall/transport.js';
import { DockerEventStream } from '../docker/events.js';
import { InspectCache } from '../docker/inspect-cache.js';
import { describeError } from '../errors.js';
import { Engine, type EngineOptions } from './engine.js';
import { PlanMemo } from './plan-memo.js';
import { MemoryRelease } from '../netns/memory.js';
import type { SavedMap } from '../util/saved-map.js';

export interface DaemonOptions extends EngineOptions {
  /** 0 disables the periodic drift check. */
  resyncIntervalMs: number;
  /** Where the inspect cache persists across restarts (docker/inspect-cache.ts); undefined: memory only. */
  inspectCacheFile?: string;
  /** Where the plans of the last re-sync persist across restarts (./plan-memo.ts); undefined: memory only. */
  planMemoFile?: string;
}

export class Daemon {
  readonly engine: Engine;
  readonly events: DockerEventStream;
  private timer: NodeJS.Timeout | undefined;
  private memory: MemoryRelease | undefined;
  private stopping = false;
  private readonly inspectCache: InspectCache;
  private readonly planMemo = new PlanMemo();
  /** Docker reconnects after the first connect. */
  reconnects = 0;
  /** The engine's version, read at every (re)connect. */
  dockerEngine: EngineInfo | undefined;
  /** The re-sync after a dropped event, while it runs; and whether another event was dropped meanwhile. */
  private lostSync: Promise<void> | undefined;
  private lostAgain = false;

  constructor(
    docker: DockerClient,
    netns: NetnsBackend,
    nft: NftTransport,
    private readonly log: Logger,
    private readonly opts: DaemonOptions,
  ) {
    this.inspectCache = new InspectCache();
    // Read while Docker prepares the first listing.
    if (opts.inspectCacheFile !== undefined) void this.inspectCache.load(opts.inspectCacheFile);
    if (opts.planMemoFile !== undefined) void this.planMemo.load(opts.planMemoFile);
    this.engine = new Engine({ docker, netns, nft, log, inspectCache: this.inspectCache, planMemo: this.planMemo }, opts);
    this.events = new DockerEventStream({
      docker,
      onEvent: (e) => {
        if (e.type === 'container') {
          log.debug({ action: e.action, id: e.id.slice(0, 12), container: e.attributes.name, timeNano: e.timeNano.toString() }, `container ${e.action}`);
        }
        this.engine.onEvent(e);
      },
      onConnect: async ({ reconnect }) => {
        if (reconnect) this.reconnects++;
        const engine = await engineInfo(docker);
        if (engine.version !== this.dockerEngine?.version || engine.apiVersion !== this.dockerEngine.apiVersion) {
          log.info({ version: engine.version, apiVersion: engine.apiVersion }, 'docker engine');
          this.dockerEngine = engine;
        }
        this.opts.dockerVersion = engine.version.split('+')[0];
        const t0 = performance.now();
        await this.engine.syncAll(reconnect ? 'reconnect' : 'start-up');
        log.info({ reconnect, ms: Math.round(performance.now() - t0), containers: this.engine.containers().length, ...this.engine.lastResync }, 'reconciled');
        void this.saveCaches();
      },
      onOversizedLine: (maxBytes) => {
        log.warn({ maxBytes }, 'docker event longer than the limit dropped; re-syncing, as it may have been a die or a start');
        this.eventLost();
      },
      onDisconnect: (err, retryInMs) => {
        if (!this.stopping) log.warn({ err: err.message, retryInMs }, 'docker unreachable; retrying');
      },
    });
  }

  /** A Docker event was lost: re-sync now, and once more after that if more were lost meanwhile. */
  private eventLost(): void {
    if (this.stopping) return;
    if (this.lostSync) {
      this.lostAgain = true;
      return;
    }
    this.lostSync = this.engine
      .syncAll('docker event dropped')
      .catch((err: unknown) => this.log.warn({ err }, 're-sync after a dropped event failed'))
      .finally(() => {
        this.lostSync = undefined;
        if (this.lostAgain) {
          this.lostAgain = false;
          this.eventLost();
        }
      });
  }

  get dockerConnected(): boolean {
    return this.events.connected;
  }

  start(): void {
    this.events.start();
    // Freed native memory back after transactions, the heap's emptied pages after a burst of them.
    const memory = (this.memory = new MemoryRelease({
      onCompact: (c) => this.log.debug({ heapMb: [Math.round(c.beforeMb), Math.round(c.afterMb)], ms: Math.round(c.ms) }, 'heap compacted after a burst'),
    }));
    this.engine.on('transaction', () => memory.work());
    if (this.opts.resyncIntervalMs > 0) {
      this.timer = setInterval(() => {
        if (!this.events.connected) return;
        const t0 = performance.now();
        this.engine.syncAll('resync').then(
          () => {
            this.log.debug({ ms: Math.round(performance.now() - t0), ...this.engine.lastResync }, 'drift check done');
            void this.saveCaches();
          },
          (err: unknown) => this.log.warn({ err }, 'drift check failed'),
        );
      }, this.opts.resyncIntervalMs);
      this.timer.unref();
    }
  }

  /** Stop taking events, then let in-flight transactions finish (at most `graceMs`). */
  async stop(graceMs: number): Promise<boolean> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.memory?.stop();
    await this.events.stop();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)));
    const drained = await Promise.race([this.engine.drain().then(() => true), timeout]);
    clearTimeout(timer);
    await this.saveCaches();
    return drained;
  }

  /** The inspect cache and the plans to their files (when they changed), for the next start; a failure only costs that start its inspects or plans. Never rejects. */
  private async saveCaches(): Promise<void> {
    await this.saveTo(this.inspectCache, this.opts.inspectCacheFile, 'cannot write the inspect cache; the next start inspects every container');
    await this.saveTo(this.planMemo, this.opts.planMemoFile, 'cannot write the plans; the next start plans every container');
  }

  private async saveTo(saved: SavedMap<unknown>, file: string | undefined, failed: string): Promise<void> {
    if (file === undefined) return;
    try {
      await saved.save(file);
    } catch (err) {
      this.log.warn({ err: describeError(err), file }, failed);
    }
  }
}
