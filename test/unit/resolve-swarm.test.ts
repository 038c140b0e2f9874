// Swarm services in references: a service's task on the shared overlay network,
// by service, slot or task name; several tasks are an error naming them.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseLabels } from '../../src/labels/parse.js';
import type { ContainerInfo, Inventory, NetworkAttachment } from '../../src/docker/container.js';
import { resolve } from '../../src/resolve/resolve.js';
import { taskFromName, taskNames } from '../../src/docker/swarm-task.js';
import { remoteTasksOf } from '../../src/docker/swarm.js';
import { namesOf } from '../../src/engine/graph.js';

const OV = 'ovnet0000000000000000000001';

function ov(ipv4: string, extra: Partial<NetworkAttachment> = {}): NetworkAttachment {
  return { networkId: OV, networkName: 'ov', ipv4, ipv4PrefixLen: 24, aliases: [], dnsNames: [], ...extra };
}

let n = 0;
/** A local task container of `service` in `slot`. */
function task(service: string, slot: string, ip: string, extra: Partial<ContainerInfo> = {}): ContainerInfo {
  const name = `${service}.${slot}.t${String(++n).padStart(24, '0')}`;
  return { id: `c${n}`, name, pid: 100 + n, running: true, labels: {}, networks: [ov(ip)], swarm: taskFromName(service, name)!, ...extra };
}

/** A task on another node, as the network's view gives it. */
function remote(service: string, slot: string, ip: string): ContainerInfo {
  const name = `${service}.${slot}.r${String(++n).padStart(24, '0')}`;
  return remoteTasksOf({ Services: { [service]: { Tasks: [{ Name: name, EndpointID: `e${n}`, EndpointIP: ip, Info: { 'Host IP': '10.250.0.2' } }] } } }, OV, 'ov')[0]!;
}

function app(labels: Record<string, string>, extra: Partial<ContainerInfo> = {}): ContainerInfo {
  return { id: 'app', name: 'app.1.a00000000000000000000000a', pid: 99, running: true, labels, networks: [ov('10.0.9.2', { iface: 'eth0' })], ...extra };
}

function run(src: ContainerInfo, inv: Inventory) {
  return resolve(src, parseLabels(src.name, src.labels), inv);
}

test('task names: <service>.<slot>.<task id>, slot a number or a node id; anything else is not a task', () => {
  assert.deepEqual(taskFromName('gw', 'gw.1.abc'), { service: 'gw', slot: '1', name: 'gw.1.abc', taskId: 'abc' });
  assert.deepEqual(taskFromName('s_gw', 's_gw.x9node.abc')?.slot, 'x9node');
  assert.equal(taskFromName('gw', 'gw.1'), undefined);
  assert.equal(taskFromName('gw', 'other.1.abc'), undefined);
  assert.equal(taskFromName('g.w', 'g.w.1.abc'), undefined);
  assert.equal(taskFromName('gw', 'gw.1.a/b'), undefined);
});

test('a service with one running task resolves to its overlay address, not a VIP; the task is the peer', () => {
  const gw = task('gw', '1', '10.0.9.5');
  const src = app({ 'twine.route.10.99.0.0/24': 'gw' });
  const r = run(src, { containers: [src, gw] });
  assert.deepEqual(r.desired.routes[0], {
    label: 'twine.route.10.99.0.0/24', family: 4, dst: '10.99.0.0/24', dest: 'gw', state: 'up',
    gateway: '10.0.9.5', dev: 'eth0', via: { id: gw.id, name: gw.name, network: 'ov' },
  });
  assert.deepEqual(r.deps, [gw.id]);
});

test('several running tasks: the route is down (kill switch) with an error naming the service and its tasks', () => {
  const a = task('gw', '1', '10.0.9.5');
  const b = remote('gw', '2', '10.0.9.6');
  const src = app({ 'twine.route.10.99.0.0/24': 'gw', 'twine.nat.forward.8080': 'gw:80' });
  const r = run(src, { containers: [src, a], remoteTasks: [b] });
  const route = r.desired.routes[0]!;
  assert.equal(route.state, 'down');
  assert.match(route.reason!, /"gw" matches 2 running tasks or containers on network ov: gw\.1 \(task gw\.1\.t\d+\) at 10\.0\.9\.5, gw\.2 \(task gw\.2\.r\d+\) at 10\.0\.9\.6; name one in the label, e\.g\. gw\.1 \(gateway down\)/);
  assert.equal(r.desired.forwards[0]?.state, 'down');
  assert.match(r.desired.forwards[0]!.reason!, /matches 2 running tasks.*\(forward destination down\)/);
  assert.equal(r.unresolved.length, 2);
});

test('<service>.<slot> and the full task name pick one task, on this node or another', () => {
  const a = task('gw', '1', '10.0.9.5');
  const b = remote('gw', '2', '10.0.9.6');
  const src = app({ 'twine.route.10.1.0.0/24': 'gw.2', 'twine.route.10.2.0.0/24': 'GW.1', 'twine.route.10.3.0.0/24': a.name, 'twine.route.10.4.0.0/24': 'gw.3' });
  const r = run(src, { containers: [src, a], remoteTasks: [b] });
  const by = Object.fromEntries(r.desired.routes.map((x) => [x.dst, x]));
  assert.equal(by['10.1.0.0/24']?.gateway, '10.0.9.6');
  assert.deepEqual(by['10.1.0.0/24']?.via, { id: b.id, name: b.name, network: 'ov' });
  assert.equal(by['10.2.0.0/24']?.gateway, '10.0.9.5');
  assert.equal(by['10.3.0.0/24']?.gateway, '10.0.9.5');
  assert.equal(by['10.4.0.0/24']?.state, 'down');
  assert.match(by['10.4.0.0/24']!.reason!, /no container named "gw\.3"/);
});

test('a stopped task does not answer: the replacement in the same slot does; none running → down', () => {
  const old = task('gw', '1', '10.0.9.5', { running: false, pid: 0 });
  const src = app({ 'twine.route.10.99.0.0/24': 'gw', 'twine.route.10.98.0.0/24': 'gw.1' });
  const down = run(src, { containers: [src, old] });
  assert.deepEqual(down.desired.routes.map((x) => x.state), ['down', 'down']);
  assert.match(down.desired.routes.find((x) => x.dest === 'gw')!.reason!, /no running swarm task answers to "gw" \(gateway down\)/);
  const fresh = task('gw', '1', '10.0.9.8');
  const up = run(src, { containers: [src, old, fresh] });
  assert.deepEqual(up.desired.routes.map((x) => x.gateway), ['10.0.9.8', '10.0.9.8']);
});

test('inside a stack, <name> and <name>.<slot> mean the stack\'s service <stack>_<name>; outside it they do not', () => {
  const gw = remote('web_gw', '1', '10.0.9.5');
  const src = app({ 'twine.route.10.99.0.0/24': 'gw', 'twine.route.10.98.0.0/24': 'gw.1', 'twine.route.10.97.0.0/24': 'web_gw' }, {
    swarm: { service: 'web_app', slot: '1', name: 'web_app.1.a00000000000000000000000a', taskId: 'a00000000000000000000000a', stack: 'web' },
  });
  const r = run(src, { containers: [src], remoteTasks: [gw] });
  assert.deepEqual(r.desired.routes.map((x) => x.gateway), ['10.0.9.5', '10.0.9.5', '10.0.9.5']);
  const outside = app({ 'twine.route.10.99.0.0/24': 'gw' });
  assert.equal(run(outside, { containers: [outside], remoteTasks: [gw] }).desired.routes[0]?.state, 'down');
});

test("swarm's ingress network answers no names: a reference resolves on the overlay instead", () => {
  const ingress = (ip: string): NetworkAttachment => ({ networkId: 'ingress0', networkName: 'ingress', ipv4: ip, ipv4PrefixLen: 24, aliases: [], dnsNames: [] });
  const gw: ContainerInfo = { ...task('gw', '1', '10.0.9.5'), networks: [ingress('10.0.0.5'), ov('10.0.9.5')] };
  const src = app({ 'twine.route.10.99.0.0/24': 'gw' }, { networks: [ingress('10.0.0.2'), ov('10.0.9.2', { iface: 'eth1' })] });
  const r = run(src, { containers: [src, gw], noDns: new Set(['ingress0']) });
  assert.equal(r.desired.routes[0]?.gateway, '10.0.9.5');
  assert.equal(r.desired.routes[0]?.dev, 'eth1');
});

test("the network's view: other nodes' tasks only, valid names and IPv4 endpoints only", () => {
  const tasks = remoteTasksOf(
    {
      Containers: { abc: { EndpointID: 'local-ep' } },
      Services: {
        gw: {
          Tasks: [
            { Name: 'gw.1.aaaa', EndpointID: 'local-ep', EndpointIP: '10.0.9.5', Info: { 'Host IP': '10.250.0.1' } },
            { Name: 'gw.2.bbbb', EndpointID: 'ep2', EndpointIP: '10.0.9.6', Info: { 'Host IP': '10.250.0.2' } },
            { Name: 'gw.3.cccc', EndpointID: 'ep3', EndpointIP: 'not-an-ip' },
            { Name: 'other.1.dddd', EndpointID: 'ep4', EndpointIP: '10.0.9.7' },
            null,
          ],
        },
        bad: null,
      },
    },
    OV,
    'ov',
  );
  assert.deepEqual(tasks.map((t) => [t.name, t.networks[0]?.ipv4, t.swarm?.nodeAddr, t.running, t.pid]), [['gw.2.bbbb', '10.0.9.6', '10.250.0.2', true, 0]]);
  assert.deepEqual(remoteTasksOf({}, OV, 'ov'), []);
});

test('a task answers, for re-planning its dependents, to its service, slot and stack-relative names', () => {
  const t = taskFromName('web_gw', 'web_gw.2.x1')!;
  assert.deepEqual(taskNames(t).sort(), ['gw', 'gw.2', 'web_gw', 'web_gw.2', 'web_gw.2.x1'].sort());
  const c = task('gw', '1', '10.0.9.5');
  for (const name of ['gw', 'gw.1', c.name]) assert.ok(namesOf(c).has(name), name);
});
