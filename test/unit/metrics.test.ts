// The metrics registry alone: what each engine transaction event does to the counters and the histogram.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LATENCY_BUCKETS, Metrics } from '../../src/server/metrics.js';
import type { TxEvent } from '../../src/engine/state.js';

function tx(over: Partial<TxEvent>): TxEvent {
  return { container: 'c', id: 'id', txId: 't', result: 'applied', latencyMs: 5, eventMs: 0, reasons: ['start'], ...over };
}

async function values(m: Metrics, name: string): Promise<Map<string, number>> {
  const j = (await m.registry.getMetricsAsJSON()).find((x) => x.name === name);
  assert.ok(j, name);
  const out = new Map<string, number>();
  for (const v of j.values as { value: number; labels: Record<string, string | number>; metricName?: string }[]) {
    const key = `${v.metricName ?? name}${Object.keys(v.labels).length ? JSON.stringify(v.labels) : ''}`;
    out.set(key, v.value);
  }
  return out;
}

describe('Metrics', () => {
  it('uses its own registry (two instances do not collide) and can skip process metrics', async () => {
    const a = new Metrics({ defaultMetrics: false });
    const b = new Metrics({ defaultMetrics: false });
    a.onTransaction(tx({}));
    assert.equal((await values(a, 'twine_transactions_total')).get('twine_transactions_total{"result":"applied"}'), 1);
    assert.equal((await values(b, 'twine_transactions_total')).get('twine_transactions_total{"result":"applied"}'), 0);
    assert.equal(a.registry.getSingleMetric('process_cpu_seconds_total'), undefined);
    assert.ok(new Metrics().registry.getSingleMetric('process_cpu_seconds_total'));
  });

  it('every result starts at 0, so rate() works from the first scrape', async () => {
    const v = await values(new Metrics({ defaultMetrics: false }), 'twine_transactions_total');
    for (const r of ['applied', 'noop', 'failed', 'invalid']) assert.equal(v.get(`twine_transactions_total{"result":"${r}"}`), 0, r);
  });

  it('the histogram grows by one per committed transaction with an event timestamp, in seconds', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.onTransaction(tx({ latencyMs: 2.5 }));
    m.onTransaction(tx({ result: 'noop', latencyMs: 30 }));
    m.onTransaction(tx({ latencyMs: undefined, eventMs: undefined, reasons: ['start-up'] }));
    m.onTransaction(tx({ result: 'failed', latencyMs: undefined }));
    const v = await values(m, 'twine_apply_latency_seconds');
    assert.equal(v.get('twine_apply_latency_seconds_count'), 2);
    assert.ok(Math.abs(v.get('twine_apply_latency_seconds_sum')! - 0.0325) < 1e-9);
    assert.equal(v.get('twine_apply_latency_seconds_bucket{"le":0.005}'), 1);
    assert.equal(v.get('twine_apply_latency_seconds_bucket{"le":0.04}'), 2);
    assert.equal(LATENCY_BUCKETS[0], 0.001);
    assert.equal(LATENCY_BUCKETS[LATENCY_BUCKETS.length - 1], 10);
  });

  it('counts a drift repair when the periodic re-check had to change something', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.onTransaction(tx({ reasons: ['resync'], latencyMs: undefined }));
    m.onTransaction(tx({ result: 'noop', reasons: ['resync'], latencyMs: undefined }));
    m.onTransaction(tx({ reasons: ['start'] }));
    m.onDriftRepair();
    assert.equal((await values(m, 'twine_drift_repairs_total')).get('twine_drift_repairs_total'), 2);
  });

  it('gauges and reconnects are read from the bound view at scrape time', async () => {
    let connects = 1;
    const m = new Metrics({ defaultMetrics: false }).bind({
      reconciled: true,
      containers: () => [
        { id: '1', name: 'a', running: true, labels: {}, labelErrors: [], warnings: [] },
        { id: '2', name: 'b', running: false, labels: {}, labelErrors: [], warnings: [] },
        {
          id: '3',
          name: 'c',
          running: true,
          labels: {},
          warnings: [],
          labelErrors: [
            { container: 'c', key: 'twine.x', value: '1', reason: 'unknown' },
            { container: 'c', key: 'twine.y', value: '1', reason: 'unknown' },
          ],
        },
      ],
      container: () => undefined,
      dockerConnected: () => true,
      dockerConnects: () => connects,
    });
    assert.equal((await values(m, 'twine_containers_managed')).get('twine_containers_managed'), 2);
    assert.equal((await values(m, 'twine_label_errors')).get('twine_label_errors'), 2);
    assert.equal((await values(m, 'twine_containers_with_errors')).get('twine_containers_with_errors'), 1);
    assert.equal((await values(m, 'twine_docker_reconnects_total')).get('twine_docker_reconnects_total'), 0);
    connects = 4;
    assert.equal((await values(m, 'twine_docker_reconnects_total')).get('twine_docker_reconnects_total'), 3);
    assert.equal((await values(m, 'twine_docker_reconnects_total')).get('twine_docker_reconnects_total'), 3);
  });

  it('twine_leak_warnings counts running containers per leak kind (a kind once per container), 0 when none', async () => {
    const dns = { key: 'twine.dns', message: 'm', leak: 'dns-leak' as const };
    const v6 = { key: 'twine.ipv6', message: 'm', leak: 'ipv6-bypass' as const };
    const m = new Metrics({ defaultMetrics: false }).bind({
      reconciled: true,
      containers: () => [
        { id: '1', name: 'a', running: true, labels: {}, labelErrors: [], warnings: [dns, v6, dns] },
        { id: '2', name: 'b', running: true, labels: {}, labelErrors: [], warnings: [dns, { key: 'twine.forward.80', message: 'deprecated' }] },
        { id: '3', name: 'c', running: false, labels: {}, labelErrors: [], warnings: [v6] },
      ],
      container: () => undefined,
      dockerConnected: () => true,
    });
    const v = await values(m, 'twine_leak_warnings');
    assert.equal(v.get('twine_leak_warnings{"kind":"dns-leak"}'), 2);
    assert.equal(v.get('twine_leak_warnings{"kind":"ipv6-bypass"}'), 1);
    const none = await values(new Metrics({ defaultMetrics: false }), 'twine_leak_warnings');
    assert.equal(none.get('twine_leak_warnings{"kind":"dns-leak"}'), 0);
  });
});
