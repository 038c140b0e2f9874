import { test } from 'node:test';
import assert from 'node:assert/strict';
import { frontStages, hasKind, minEventMs, newestRead, ofKind, onlyConfirms, startName, wantsInspect, withoutKind, type Reason } from '../../src/engine/reason.js';

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
