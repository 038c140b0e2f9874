// An Engine wired to fakes (Docker, netns backend, nft transport, host): the
// unit-test bed for the engine. Tests drive Docker's side (containers, events)
// and read back the engine's status documents, its TxEvents and the calls the
// fakes received. `settle()` waits until the engine and the fakes are quiet:
// the engine's queue is idle and a turn of the event loop added no call. It
// does not drain (a shutdown: that would end the early path's watches and
// the retries a test may be waiting for).

import { setImmediate as nextTurn } from 'node:timers/promises';
import { Engine, type EngineDeps, type EngineOptions } from '../../src/engine/engine.js';
import type { TxEvent } from '../../src/engine/state.js';
import { createLogger } from '../../src/log.js';
import type { Addr, Route } from '../../src/netns/types.js';
import { dockerEvent, FakeDocker, gatewayOf, type FakeContainerSpec } from './docker.js';
import { FakeHost, type FakeProcess } from './host.js';
import { Namespaces } from './namespaces.js';
import { FakeNetns } from './netns.js';
import { FakeNft } from './nft.js';

export { dockerEvent, FakeDocker, FakeHost, FakeNetns, FakeNft, Namespaces, gatewayOf };
export { HOST_INO } from './host.js';

export const HOST_NETNS = '/fake/host-netns';

export class FakeBed {
  readonly spaces = new Namespaces();
  readonly docker = new FakeDocker();
  readonly netns = new FakeNetns(this.spaces);
  readonly nft = new FakeNft(this.spaces);
  readonly host = new FakeHost();
  /** Replaced by restartEngine(). */
  engine: Engine;
  /** Every TxEvent the engine emitted, in order. */
  readonly txs: TxEvent[] = [];
  private readonly lastNs = new Map<string, string>();
  private nextPid = 5_000_000;
  private nextIno = 4_100_000_000;

  constructor(
    private readonly opts: Partial<EngineOptions> = {},
    deps: Pick<EngineDeps, 'parseLabels' | 'planMemo'> = {},
  ) {
    this.engine = this.newEngine(deps);
  }

  private newEngine(deps: Pick<EngineDeps, 'parseLabels' | 'planMemo'>): Engine {
    const engine = new Engine(
      { docker: this.docker, netns: this.netns, nft: this.nft, log: createLogger({ level: 'silent' }), host: this.host, ...deps },
      { allowHostRoutes: false, hostNetns: HOST_NETNS, concurrency: 4, applyBeforeStart: false, ...this.opts },
    );
    engine.on('transaction', (e) => this.txs.push(e));
    return engine;
  }

  /** Twine restarts: a new engine (knowing nothing but `deps`) on the same Docker, host and namespaces. */
  restartEngine(deps: Pick<EngineDeps, 'parseLabels' | 'planMemo'> = {}): void {
    this.engine = this.newEngine(deps);
  }

  network(name: string, subnet: string, driver?: string): void {
    this.docker.addNetwork({ name, subnet, ...(driver !== undefined ? { driver } : {}) });
  }

  /** A container Docker knows, not running. */
  create(spec: Omit<FakeContainerSpec, 'running' | 'pid'>): FakeContainerSpec {
    return this.docker.put({ ...spec, running: false });
  }

  /**
   * Docker starts it: a new process in a new namespace, with its addresses and
   * Docker's default route in /proc (`inCgroup` false: its cgroup shows nothing).
   */
  run(id: string, opts: { ino?: number; inCgroup?: boolean } = {}): FakeProcess {
    const c = this.docker.containers.get(id);
    if (!c) throw new Error(`fake: no container ${id}`);
    const pid = this.nextPid++;
    const ino = opts.ino ?? this.nextIno++;
    c.running = true;
    c.pid = pid;
    // Docker makes the container's endpoints anew at every start.
    c.endpoints = `ep${pid}`;
    const addrs: Addr[] = [{ ifindex: 1, ifname: 'lo', family: 4, address: '127.0.0.1', prefixlen: 8 }];
    const v4: string[] = [];
    for (const [i, a] of (c.networks ?? []).entries()) {
      const net = this.docker.networks.get(a.network)!;
      addrs.push({ ifindex: i + 2, ifname: `eth${i}`, family: 4, address: a.ip, prefixlen: Number(net.subnet.split('/')[1]) });
      if (i === 0) v4.push(gatewayOf(net.subnet));
    }
    const p: FakeProcess = { pid, ino, addrs, gateways: { v4, v6: [] }, ...(opts.inCgroup === false ? {} : { container: id }) };
    this.host.add(p);
    this.spaces.pidKeys.set(pid, `ino:${ino}`);
    this.lastNs.set(id, `ino:${ino}`);
    return p;
  }

  /** Docker stops it: its process is gone. */
  stop(id: string): void {
    const c = this.docker.containers.get(id);
    if (!c) return;
    if (c.pid !== undefined) this.kill(c.pid);
    c.running = false;
    delete c.endpoints;
  }

  /** The process exits (Docker may not have noticed yet): /proc and the namespace are gone with it. */
  kill(pid: number): void {
    this.host.kill(pid);
    this.spaces.pidKeys.delete(pid);
  }

  /** Hands the engine a container event (the name attribute as Docker sends it). */
  event(action: string, id: string, attributes: Record<string, string> = {}): void {
    const c = this.docker.containers.get(id);
    this.engine.onEvent(dockerEvent('container', action, id, { ...(c ? { name: c.name, ...(c.labels ?? {}) } : {}), ...attributes }));
  }

  /** Until the engine's queue is empty and a turn of the event loop brought no new call, request or TxEvent. */
  async settle(): Promise<void> {
    let last = -1;
    for (let i = 0; i < 100; i++) {
      await this.engine.idle();
      await nextTurn();
      const now = this.spaces.calls.length + this.docker.requests.length + this.txs.length;
      if (now === last) return;
      last = now;
    }
    throw new Error('fake bed: the engine did not settle');
  }

  /** The namespace key of the container's last process (for Namespaces.callsIn and the like). */
  nsOf(id: string): string {
    const key = this.lastNs.get(id);
    if (!key) throw new Error(`fake: ${id} never ran`);
    return key;
  }

  /** Twine's routes (protocol 74) in a container's namespace now. */
  routesIn(id: string): Route[] {
    return this.spaces.get(this.nsOf(id)).routes;
  }

  /**
   * Resolves with the next TxEvent (from now) that matches: a positive signal to
   * wait for. The engine's own timers (the early path's polling) do not keep the
   * process alive, so this does while it waits; it gives up after `limitMs`.
   */
  nextTx(match: (e: TxEvent) => boolean, limitMs = 10_000): Promise<TxEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.engine.off('transaction', on);
        reject(new Error(`fake bed: no matching transaction within ${limitMs} ms`));
      }, limitMs);
      const on = (e: TxEvent): void => {
        if (!match(e)) return;
        clearTimeout(timer);
        this.engine.off('transaction', on);
        resolve(e);
      };
      this.engine.on('transaction', on);
    });
  }

  txsOf(name: string): TxEvent[] {
    return this.txs.filter((t) => t.container === name);
  }
}
