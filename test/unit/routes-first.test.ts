import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RoutesFirst } from '../../src/engine/routes-first.js';

test('a commit waits until no route phase runs; leaving twice counts once', async () => {
  const g = new RoutesFirst();
  const order: string[] = [];
  const leaveA = g.enter();
  const leaveB = g.enter();
  const a = leaveA().then(() => order.push('a commits'));
  void leaveA();
  assert.equal(g.routing, 1, "a's second leave does not count");
  await Promise.resolve();
  assert.equal(order.length, 0, 'b is still in its route phase');
  order.push('b routes done');
  await leaveB();
  order.push('b commits');
  await a;
  assert.equal(order[0], 'b routes done');
  assert.deepEqual(order.slice(1).sort(), ['a commits', 'b commits']);
  assert.equal(g.routing, 0);
  await g.enter()(); // alone: no wait
});
