// The engine with swarm tasks on other nodes (test/fakes): they come from the
// overlay network's verbose view; a replaced task re-points the route, no task
// holds it unreachable, several make it down with their names; a local task's
// replacement re-points through its container events.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dockerEvent, FakeBed } from '../fakes/index.js';
import { TWINE_RT_PROTO, type Route } from '../../src/netns/types.js';
import type { VerboseNetwork } from '../../src/docker/swarm.js';
import type { DesiredState } from '../../src/resolve/desired.js';

const APP = 'bbbb000000000000000000000000000000000000000000000000000000000001';
const GW1 = 'bbbb000000000000000000000000000000000000000000000000000000000002';
const GW2 = 'bbbb000000000000000000000000000000000000000000000000000000000003';
const OV = 'net-ov';
const APP_NAME = 'app.1.a00000000000000000000000a';

function view(...tasks: [name: string, ip: string][]): VerboseNetwork {
  return {
    Containers: { [APP]: { EndpointID: 'ep-app' } },
    Services: { gw: { Tasks: tasks.map(([Name, EndpointIP], i) => ({ Name, EndpointID: `ep-${i}-${Name}`, EndpointIP, Info: { 'Host IP': '10.250.0.2' } })) } },
  };
}

function bed(pollMs = 0): FakeBed {
  const b = new FakeBed({ swarmPollMs: pollMs });
  b.network('ov', '10.0.9.0/24', 'overlay');
  b.create({ id: APP, name: APP_NAME, labels: { 'twine.route.10.50.0.0/16': 'gw' }, networks: [{ network: 'ov', ip: '10.0.9.2' }] });
  return b;
}

function route(b: FakeBed): Route | undefined {
  return b.routesIn(APP).find((r) => r.dst === '10.50.0.0/16' && r.protocol === TWINE_RT_PROTO);
}

function desiredRoute(b: FakeBed): DesiredState['routes'][number] | undefined {
  return (b.engine.container(APP_NAME)?.desired as DesiredState | undefined)?.routes[0];
}

function serviceEvent(b: FakeBed): void {
  b.engine.onEvent(dockerEvent('service', 'update', 'svc-gw', { name: 'gw' }));
}

test("a task on another node: the route goes via its overlay address; replaced, re-pointed; none, unreachable; two, down naming both", async () => {
  const b = bed();
  b.docker.views.set(OV, view(['gw.1.t00000000000000000000001', '10.0.9.5']));
  b.run(APP);
  await b.engine.syncAll('start-up');
  await b.settle();
  assert.equal(route(b)?.gateway, '10.0.9.5');
  assert.deepEqual(desiredRoute(b)?.via, { id: 't00000000000000000000001', name: 'gw.1.t00000000000000000000001', network: 'ov' });

  b.docker.views.set(OV, view(['gw.1.t00000000000000000000002', '10.0.9.7']));
  serviceEvent(b);
  await b.settle();
  assert.equal(route(b)?.gateway, '10.0.9.7');
  assert.ok(b.txsOf(APP_NAME).at(-1)?.reasons.includes('swarm tasks changed'));

  b.docker.views.set(OV, view());
  serviceEvent(b);
  await b.settle();
  assert.equal(route(b)?.type, 'unreachable');

  b.docker.views.set(OV, view(['gw.1.t00000000000000000000003', '10.0.9.8'], ['gw.2.t00000000000000000000004', '10.0.9.9']));
  serviceEvent(b);
  await b.settle();
  assert.equal(route(b)?.type, 'unreachable');
  const reason = desiredRoute(b)?.reason ?? '';
  assert.match(reason, /"gw" matches 2 running tasks or containers on network ov: gw\.1 .* at 10\.0\.9\.8, gw\.2 .* at 10\.0\.9\.9; name one in the label, e\.g\. gw\.1/);
});

test('with no event, the poll finds the replacement', async () => {
  const b = bed(20);
  b.docker.views.set(OV, view(['gw.1.t00000000000000000000001', '10.0.9.5']));
  b.run(APP);
  await b.engine.syncAll('start-up');
  await b.settle();
  assert.equal(route(b)?.gateway, '10.0.9.5');
  const next = b.nextTx((t) => t.reasons.includes('swarm tasks changed'));
  b.docker.views.set(OV, view(['gw.1.t00000000000000000000002', '10.0.9.7']));
  await next;
  await b.settle();
  assert.equal(route(b)?.gateway, '10.0.9.7');
  await b.engine.drain();
});

test("a local task's replacement: its die holds the route unreachable, the new task's start re-points it", async () => {
  const b = bed();
  const swarmLabels = (task: string) => ({ 'com.docker.swarm.service.name': 'gw', 'com.docker.swarm.task.name': `gw.1.${task}`, 'com.docker.swarm.task.id': task });
  b.create({ id: GW1, name: 'gw.1.t00000000000000000000001', labels: swarmLabels('t00000000000000000000001'), networks: [{ network: 'ov', ip: '10.0.9.5' }] });
  b.create({ id: GW2, name: 'gw.1.t00000000000000000000002', labels: swarmLabels('t00000000000000000000002'), networks: [{ network: 'ov', ip: '10.0.9.7' }] });
  // The network's view lists the local task too, as one of this node's endpoints: it is not taken from there.
  b.docker.views.set(OV, { ...view(['gw.1.t00000000000000000000001', '10.0.9.5']), Containers: { [APP]: { EndpointID: 'ep-app' }, [GW1]: { EndpointID: 'ep-0-gw.1.t00000000000000000000001' } } });
  b.run(GW1);
  b.run(APP);
  await b.engine.syncAll('start-up');
  await b.settle();
  assert.equal(route(b)?.gateway, '10.0.9.5');
  assert.equal(desiredRoute(b)?.via?.id, GW1);

  b.stop(GW1);
  b.event('die', GW1);
  await b.settle();
  assert.equal(route(b)?.type, 'unreachable');

  b.run(GW2);
  b.event('start', GW2);
  await b.settle();
  assert.equal(route(b)?.gateway, '10.0.9.7');
});
