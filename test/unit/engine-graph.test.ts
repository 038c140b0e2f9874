import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DependencyGraph, namesOf } from '../../src/engine/graph.js';
import type { ContainerInfo } from '../../src/docker/container.js';

test('dependents are found by referenced name and by resolved id, and only those', () => {
  const g = new DependencyGraph();
  g.set('app1', { refs: ['vpn'], ids: ['vpn-id'] });
  g.set('app2', { refs: ['vpn'], ids: [] });
  g.set('other', { refs: ['db'], ids: ['db-id'] });
  assert.deepEqual([...g.dependentsOf({ id: 'vpn-id', names: ['vpn'] })].sort(), ['app1', 'app2']);
  // a recreated gateway: new id, same name
  assert.deepEqual([...g.dependentsOf({ id: 'vpn-id-2', names: ['vpn'] })].sort(), ['app1', 'app2']);
  assert.deepEqual([...g.dependentsOf({ id: 'db-id', names: [] })], ['other']);
  assert.deepEqual([...g.dependentsOf({ id: 'x', names: ['nobody'] })], []);
});

test('set replaces and remove forgets a source', () => {
  const g = new DependencyGraph();
  g.set('app', { refs: ['vpn'], ids: ['v'] });
  g.set('app', { refs: ['vpn2'], ids: [] });
  assert.equal(g.dependentsOf({ id: 'v', names: ['vpn'] }).size, 0);
  assert.equal(g.dependentsOf({ id: 'z', names: ['vpn2'] }).size, 1);
  g.remove('app');
  assert.equal(g.dependentsOf({ id: 'z', names: ['vpn2'] }).size, 0);
  assert.equal(g.size, 0);
});

test('a container never depends on itself', () => {
  const g = new DependencyGraph();
  g.set('a', { refs: ['a'], ids: ['a'] });
  assert.equal(g.dependentsOf({ id: 'a', names: ['a'] }).size, 0);
});

test('namesOf covers name, short id, compose service, aliases and DNS names', () => {
  const c: ContainerInfo = {
    id: '0123456789abcdef0123',
    name: 'proj_vpn_1',
    pid: 1,
    running: true,
    labels: {},
    composeService: 'vpn',
    networks: [{ networkId: 'n', networkName: 'n', aliases: ['gw'], dnsNames: ['proj_vpn_1', 'vpn-dns'] }],
  };
  const n = namesOf(c);
  for (const x of ['proj_vpn_1', '0123456789ab', 'vpn', 'gw', 'vpn-dns']) assert.ok(n.has(x), x);
});
