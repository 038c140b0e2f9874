// The engine's activity readout (/healthz `events` and `busy`): the e2e tests'
// positive signal that every event's effects are done.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeBed } from '../fakes/index.js';
import { health } from '../../src/server/http.js';
import { daemonView } from '../../src/server/view.js';

const APP = 'bbbb000000000000000000000000000000000000000000000000000000000001';

test('activity: an event counts at once; its job and its read of Docker keep the engine busy until they are done', async () => {
  const bed = new FakeBed();
  bed.network('lan', '172.30.2.0/24');
  bed.create({ id: APP, name: 'app', labels: { 'twine.nat.interfaces': 'eth0' }, networks: [{ network: 'lan', ip: '172.30.2.3' }] });
  await bed.engine.syncAll('start-up');
  await bed.settle();
  assert.equal(bed.engine.busy, 0);
  assert.equal(bed.engine.eventsHandled, 0);

  // The create event's inspect runs outside the queue: busy before any job is queued.
  bed.event('create', APP);
  assert.equal(bed.engine.eventsHandled, 1);
  assert.ok(bed.engine.busy >= 1, `busy ${bed.engine.busy} while the inspect is in flight`);
  await bed.settle();
  assert.equal(bed.engine.busy, 0);

  bed.run(APP);
  bed.event('start', APP);
  assert.equal(bed.engine.eventsHandled, 2);
  assert.ok(bed.engine.busy >= 1, 'the start job is queued');
  await bed.settle();
  assert.equal(bed.engine.busy, 0);
  assert.deepEqual(bed.txsOf('app').map((t) => t.result), ['applied']);
});

test("activity: /healthz carries the engine's events and busy", () => {
  const engine = { containers: () => [], container: () => undefined, firstSyncDone: true, eventsHandled: 7, busy: 2 };
  const h = health(daemonView(engine, { connected: true, connects: 1 }));
  assert.equal(h.events, 7);
  assert.equal(h.busy, 2);
});
