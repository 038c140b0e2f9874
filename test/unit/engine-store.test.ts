import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ContainerStore, stopped } from '../../src/engine/container-store.js';
import type { ContainerInfo } from '../../src/docker/container.js';

function info(id: string, over: Partial<ContainerInfo> = {}): ContainerInfo {
  return { id, name: id, pid: 100, running: true, labels: {}, networks: [], netnsIno: 7, ...over };
}

test('store: the snapshot is the same array until something changes', () => {
  const s = new ContainerStore();
  s.put(info('a'));
  const first = s.snapshot().containers;
  assert.equal(s.snapshot().containers, first);
  s.put(info('b'));
  const second = s.snapshot().containers;
  assert.notEqual(second, first);
  assert.deepEqual(second.map((c) => c.id), ['a', 'b']);
});

test('store: put returns the names before and after, for the dependents', () => {
  const s = new ContainerStore();
  s.put(info('a', { name: 'old' }));
  const ch = s.put(info('a', { name: 'new' }));
  assert.equal(ch.before?.name, 'old');
  assert.equal(ch.after?.name, 'new');
  assert.ok(ch.names.has('old') && ch.names.has('new') && ch.names.has('a'));
});

test('store: a read begun before an event about the container is stale; one begun after is not', () => {
  const s = new ContainerStore();
  const mark = s.mark;
  s.stop('a', false);
  assert.equal(s.staleRead('a', mark), true);
  assert.equal(s.staleRead('b', mark), false);
  assert.equal(s.staleRead('a', s.mark), false);
});

test('store: a read begun before a full listing is stale for every container', () => {
  const s = new ContainerStore();
  const before = s.mark;
  s.put(info('x'));
  s.sync([], s.mark);
  assert.equal(s.staleRead('other', before), true);
});

test('store: stop marks a running container stopped, removed deletes it; either returns what it was', () => {
  const s = new ContainerStore();
  s.put(info('a'));
  assert.equal(s.stop('a', false)?.running, true);
  assert.deepEqual(s.get('a'), stopped(info('a')));
  assert.equal(s.stop('a', false), undefined, 'already stopped: nothing changed');
  assert.equal(s.stop('a', true)?.id, 'a');
  assert.equal(s.get('a'), undefined);
  assert.equal(s.stop('never', true), undefined);
});

test('store: a listing does not undo what an event told after the listing began', () => {
  const s = new ContainerStore();
  s.put(info('died'));
  s.put(info('quiet'));
  s.put(info('gone-quietly'));
  const mark = s.mark;
  // While the listing runs: one dies, one starts.
  s.stop('died', false);
  s.put(info('started'));
  s.sync([info('died'), info('quiet', { pid: 200 })], mark);
  assert.equal(s.get('died')?.running, false, 'its die event is newer than the listing');
  assert.equal(s.get('started')?.running, true, 'missing from the listing, but started after it began');
  assert.equal(s.get('quiet')?.pid, 200, 'taken from the listing');
  assert.equal(s.get('gone-quietly')?.running, false, 'not listed and nothing newer: stopped');
});

test("store: adopt forgets the create event's attributes; undefined removes the container", () => {
  const s = new ContainerStore();
  s.noteCreated('a', { name: 'a' });
  assert.deepEqual(s.createdAttributes('a'), { name: 'a' });
  s.adopt('a', info('a'));
  assert.equal(s.createdAttributes('a'), undefined);
  const ch = s.adopt('a', undefined);
  assert.equal(ch.before?.id, 'a');
  assert.equal(ch.after, undefined);
  assert.equal(s.get('a'), undefined);
  assert.deepEqual(s.snapshot().containers, []);
});
