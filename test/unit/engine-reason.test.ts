import { test } from 'node:test';
import assert from 'node:assert/strict';
import { frontStages, hasKind, minEventMs, newestRead, ofKind, onlyConfirms, sortReasons, startName, wantsInspect, withoutKind, type Reason } from '../../src/engine/reason.js';

const replan: Reason = { kind: 'replan', why: 'resync' };
const started = (name?: string, eventMs?: number, receivedMs?: number): Reason => ({ kind: 'start', why: 'start', ...(name ? { name } : {}), eventMs, receivedMs });
const confirm = (mark: number): Reason => ({ kind: 'confirm', why: 'create', read: { info: undefined, mark } });

test('reasons: a job inspects for a start or an inspect, not for a re-plan or a confirmation', () => {
  assert.equal(wantsInspect([replan, confirm(1)]), false);
  assert.equal(wantsInspect([replan, started()]), true);
  assert.equal(wantsInspect([{ kind: 'inspect', why: 'rename' }]), true);
});

test('reasons: only confirmations means the job only checks; any other kind makes it real work', () => {
  assert.equal(onlyConfirms([confirm(1), confirm(2)]), true);
  assert.equal(onlyConfirms([confirm(1), replan]), false);
  assert.deepEqual(withoutKind([confirm(1), replan], 'confirm'), [replan]);
});

test('reasons: the newest read is the one that began last, whatever the order', () => {
  assert.equal(newestRead([confirm(5), replan, confirm(9), confirm(2)])?.mark, 9);
  assert.equal(newestRead([replan]), undefined);
});

test("reasons: the start event's name, the earliest event time, the kinds present", () => {
  const rs = [replan, started(undefined, 30), started('web', 20)];
  assert.equal(startName(rs), 'web');
  assert.equal(minEventMs(rs), 20);
  assert.equal(hasKind(rs, 'prestart', 'start'), true);
  assert.equal(hasKind(rs, 'runtime'), false);
  assert.equal(ofKind(rs, 'start').length, 2);
});

test("reasons: front stages split Docker's delay from the queue's", () => {
  const f = frontStages([started('a', 100, 103), replan, started('a', 110, 104)], 110, { inspectMs: 0 });
  assert.deepEqual(f, { eventDelayMs: 3, queueMs: 7, inspectMs: 0 });
  assert.deepEqual(frontStages([replan], 5, { inspectMs: 1 }), { eventDelayMs: undefined, queueMs: undefined, inspectMs: 1 });
});

test('reasons sorted for a job: hooks first, the early cue only alone, the rest without confirmations when real work came with them', () => {
  const info = { id: 'a', name: 'a', running: false, pid: 0, labels: {}, networks: [] } as unknown as Extract<Reason, { kind: 'prestart' }>['info'];
  const pre: Reason = { kind: 'prestart', why: 'network ready', info, ino: 7 };
  const hook: Reason = { kind: 'runtime', why: 'runtime hook', info, ino: 7, answer: () => undefined };
  const alone = sortReasons([pre, confirm(1)]);
  assert.equal(alone.prestart, pre);
  assert.deepEqual([alone.hooks, alone.started, alone.rest, alone.txReasons], [[], false, [confirm(1)], [confirm(1)]]);
  // A start event came with it: the early path no longer applies.
  const withStart = sortReasons([pre, started('a'), confirm(2)]);
  assert.equal(withStart.prestart, undefined);
  assert.deepEqual([withStart.started, withStart.rest.map((r) => r.kind), withStart.txReasons.map((r) => r.kind)], [true, ['start', 'confirm'], ['start']]);
  // A hook takes the early cue's place; what is left is for after it.
  const withHook = sortReasons([pre, hook, replan]);
  assert.deepEqual([withHook.hooks, withHook.prestart, withHook.rest], [[hook], undefined, [replan]]);
  assert.deepEqual(sortReasons([hook]).rest, []);
});
