// Prometheus metrics, in a registry of Twine's own (never prom-client's global
// one, so several daemons in one test process do not collide). Counters are
// fed by the daemon (transactions, drift repairs); gauges and the reconnect
// counter are read from the DaemonView when Prometheus scrapes.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ContainerState, TxEvent, TxResultKind } from '../engine/state.js';
import type { DesiredState } from '../resolve/desired.js';
import type { DaemonView } from './view.js';
import { hasError } from './api.js';
import { leaksOf } from './table.js';

/** 1 ms .. 10 s: the targets are p50 ≤ 3–10 ms and p99 ≤ 40 ms; a slow engine shows in the upper buckets. */
export const LATENCY_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** The engine's reason for a transaction run by the periodic drift check. */
export const DRIFT_REASON = 'resync';

export const TX_RESULTS: readonly TxResultKind[] = ['applied', 'noop', 'failed', 'invalid', 'refused', 'gone'];

/** A running container's port-file forwards and the port each forwards now (0 when down). */
function portFileForwards(c: ContainerState): { label: string; port: number }[] {
  const forwards = (c.desired as Partial<DesiredState> | undefined)?.forwards;
  if (!c.running || !Array.isArray(forwards)) return [];
  return forwards.filter((f) => f.portFile).map((f) => ({ label: f.label, port: f.state === 'up' ? f.port.lo : 0 }));
}

function forwardedPortGauge(registry: Registry, view: () => DaemonView | undefined): void {
  new Gauge({
    name: 'twine_forwarded_port',
    help: "The port a forward of a gateway's forwarded-port file forwards now (0: none: the file is missing, empty or malformed)",
    labelNames: ['container', 'label'],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of view()?.containers() ?? []) for (const f of portFileForwards(c)) this.set({ container: c.name, label: f.label }, f.port);
    },
  });
}

export class Metrics {
  readonly registry = new Registry();
  readonly applyLatency: Histogram;
  readonly transactions: Counter<'result'>;
  readonly driftRepairs: Counter;
  readonly dockerReconnects: Counter;
  private view: DaemonView | undefined;
  private reconnectsSeen = 0;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    // Arrow functions below capture `self`; prom-client calls collect() with `this` = the metric.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    this.applyLatency = new Histogram({
      name: 'twine_apply_latency_seconds',
      help: "Docker event's own timestamp to the transaction's commit in the container's namespace",
      buckets: [...LATENCY_BUCKETS],
      registers,
    });
    this.transactions = new Counter({
      name: 'twine_transactions_total',
      help: 'Transactions by result: applied (changed something), noop (already in sync), failed (rolled back), invalid (labels rejected, nothing applied), refused (not the container\'s own network namespace, nothing written), gone (the container stopped during it: churn, not a failure)',
      labelNames: ['result'],
      registers,
    });
    for (const r of TX_RESULTS) this.transactions.inc({ result: r }, 0);
    new Gauge({
      name: 'twine_containers_managed',
      help: 'Running containers with twine.* labels that Twine tracks',
      registers,
      collect() {
        this.set(self.view ? self.view.containers().filter((c) => c.running).length : 0);
      },
    });
    new Gauge({
      name: 'twine_label_errors',
      help: 'Invalid labels currently reported (summed over containers); those containers keep their last good state',
      registers,
      collect() {
        let n = 0;
        for (const c of self.view?.containers() ?? []) n += c.labelErrors.length;
        this.set(n);
      },
    });
    new Gauge({
      name: 'twine_containers_with_errors',
      help: 'Containers whose last transaction failed or was refused, or whose labels are invalid',
      registers,
      collect() {
        this.set(self.view ? self.view.containers().filter(hasError).length : 0);
      },
    });
    leakWarningsGauge(this.registry, () => self.view);
    new Gauge({
      name: 'twine_docker_connected',
      help: "1 while Docker's event stream is connected",
      registers,
      collect() {
        this.set(self.view?.dockerConnected() ? 1 : 0);
      },
    });
    this.dockerReconnects = new Counter({
      name: 'twine_docker_reconnects_total',
      help: "Reconnections to Docker's event stream after it broke (each followed by a full re-sync)",
      registers,
      collect() {
        const connects = self.view?.dockerConnects?.();
        if (connects === undefined) return;
        const reconnects = Math.max(0, connects - 1);
        if (reconnects > self.reconnectsSeen) {
          this.inc(reconnects - self.reconnectsSeen);
          self.reconnectsSeen = reconnects;
        }
      },
    });
    forwardedPortGauge(this.registry, () => self.view);
    this.driftRepairs = new Counter({
      name: 'twine_drift_repairs_total',
      help: 'Transactions that repaired drift found by the periodic re-check (a flushed table, a deleted route)',
      registers,
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Gauges read this view at scrape time. */
  bind(view: DaemonView): this {
    this.view = view;
    return this;
  }

  /**
   * Feed every engine 'transaction' event here. A transaction that changed
   * something while running for the periodic re-check ("resync") repaired drift.
   */
  onTransaction(e: TxEvent): void {
    this.transactions.inc({ result: e.result });
    if (e.result === 'applied' && e.reasons.includes(DRIFT_REASON)) this.driftRepairs.inc();
    if (e.latencyMs !== undefined && (e.result === 'applied' || e.result === 'noop')) {
      this.applyLatency.observe(Math.max(0, e.latencyMs) / 1000);
    }
  }

  /** For drift repairs the engine reports outside transactions (host routes). */
  onDriftRepair(n = 1): void {
    this.driftRepairs.inc(n);
  }

  contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/** twine_leak_warnings{kind}: running containers with a leak Twine reports but cannot close. */
function leakWarningsGauge(registry: Registry, view: () => DaemonView | undefined): void {
  new Gauge({
    name: 'twine_leak_warnings',
    help: "Running containers with a leak Twine reports but cannot close, by kind: dns-leak (lookups leave from the Docker host), ipv6-bypass (IPv6 keeps Docker's default route)",
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const n: Record<string, number> = { 'dns-leak': 0, 'ipv6-bypass': 0 };
      for (const c of view()?.containers() ?? []) {
        if (!c.running) continue;
        for (const kind of new Set(leaksOf(c))) n[kind] = (n[kind] ?? 0) + 1;
      }
      for (const [kind, v] of Object.entries(n)) this.set({ kind }, v);
    },
  });
}
