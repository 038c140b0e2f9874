// Unit tests of batch.ts against hand-made `nft -j list table` output.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addTableBatch, deleteTableBatch, diffTable } from '../../src/firewall/batch.js';
import { makeRule, type NftBatch, type NftCommand, type TableDef } from '../../src/firewall/nft.js';

const r = (chain: string, n: number) => makeRule(chain, [{ match: { op: '==', left: { meta: { key: 'mark' } }, right: n } }, { accept: null }]);
const def = (marks: number[]): TableDef => ({
  chains: [
    { name: 'INPUT', base: { type: 'filter', hook: 'input', prio: -1 }, rules: [makeRule('INPUT', [{ jump: { target: 'TWINE_INPUT' } }])] },
    { name: 'TWINE_INPUT', rules: marks.map((n) => r('TWINE_INPUT', n)) },
  ],
});

/** What `nft -j list table inet twine` would return for a TableDef, handles from 1 up. */
function listed(t: TableDef): NftBatch {
  let h = 1;
  const out: NftCommand[] = [{ metainfo: { json_schema_version: 1 } }, { table: { family: 'inet', name: 'twine', handle: h++ } }];
  for (const c of t.chains)
    out.push({ chain: { family: 'inet', table: 'twine', name: c.name, handle: h++, ...(c.base ? { ...c.base, policy: 'accept' } : {}) } });
  for (const c of t.chains) for (const x of c.rules) out.push({ rule: { family: 'inet', table: 'twine', chain: c.name, handle: h++, expr: x.expr, comment: x.comment } });
  return { nftables: out };
}
const handleOf = (live: NftBatch, comment: string) => (live.nftables.find((c) => (c.rule as { comment?: string } | undefined)?.comment === comment)!.rule as { handle: number }).handle;

test('addTableBatch: table, then every chain (base chains with integer prio), then rules with comments; add only', () => {
  const b = addTableBatch(def([1, 2]));
  assert.deepEqual(b.nftables[0], { add: { table: { family: 'inet', name: 'twine' } } });
  assert.ok(b.nftables.every((c) => Object.keys(c).join() === 'add'));
  const kinds = b.nftables.map((c) => Object.keys(c.add as object)[0]);
  assert.deepEqual(kinds, ['table', 'chain', 'chain', 'rule', 'rule', 'rule']);
  assert.deepEqual(b.nftables[1], { add: { chain: { family: 'inet', table: 'twine', name: 'INPUT', type: 'filter', hook: 'input', prio: -1, policy: 'accept' } } });
  assert.deepEqual(b.nftables[2], { add: { chain: { family: 'inet', table: 'twine', name: 'TWINE_INPUT' } } });
  const rule = (b.nftables[4]!.add as { rule: { comment: string; chain: string } }).rule;
  assert.equal(rule.chain, 'TWINE_INPUT');
  assert.match(rule.comment, /^twine:[0-9a-f]{16}$/);
});

test('diffTable: no live table → the add-only batch; nothing wanted and nothing live → empty', () => {
  assert.deepEqual(diffTable(def([1]), null), addTableBatch(def([1])));
  assert.deepEqual(diffTable({ chains: [] }, null), { nftables: [] });
});

test('diffTable: unchanged table → empty batch', () => {
  assert.deepEqual(diffTable(def([1, 2, 3]), listed(def([1, 2, 3]))), { nftables: [] });
});

test('diffTable: one changed rule → deletes only that rule and inserts its replacement before the next one', () => {
  const live = listed(def([1, 2, 3, 4]));
  const d = diffTable(def([1, 2, 9, 4]), live);
  assert.deepEqual(d.nftables[0], { delete: { rule: { family: 'inet', table: 'twine', chain: 'TWINE_INPUT', handle: handleOf(live, r('TWINE_INPUT', 3).comment) } } });
  assert.equal(d.nftables.length, 2);
  const ins = d.nftables[1]!.insert as { rule: { handle: number; comment: string } };
  assert.equal(ins.rule.handle, handleOf(live, r('TWINE_INPUT', 4).comment));
  assert.equal(ins.rule.comment, r('TWINE_INPUT', 9).comment);
});

test('diffTable: appended rules are added at the end; removed ones deleted; order kept', () => {
  const live = listed(def([1, 2, 3]));
  const d = diffTable(def([2, 3, 5, 6]), live);
  const deletes = d.nftables.filter((c) => 'delete' in c);
  assert.equal(deletes.length, 1);
  assert.equal((deletes[0]!.delete as { rule: { handle: number } }).rule.handle, handleOf(live, r('TWINE_INPUT', 1).comment));
  const adds = d.nftables.filter((c) => 'add' in c).map((c) => (c.add as { rule: { comment: string; handle?: number } }).rule);
  assert.deepEqual(
    adds.map((x) => x.comment),
    [r('TWINE_INPUT', 5).comment, r('TWINE_INPUT', 6).comment],
  );
  assert.ok(adds.every((x) => x.handle === undefined));
});

test('diffTable: foreign rules (no identity comment) are removed', () => {
  const live = listed(def([1]));
  live.nftables.push({ rule: { family: 'inet', table: 'twine', chain: 'TWINE_INPUT', handle: 99, expr: [{ drop: null }] } });
  assert.deepEqual(diffTable(def([1]), live).nftables, [{ delete: { rule: { family: 'inet', table: 'twine', chain: 'TWINE_INPUT', handle: 99 } } }]);
});

test('diffTable: chains no longer wanted are emptied and deleted; a changed hook recreates the chain', () => {
  const withExtra: TableDef = { chains: [...def([1]).chains, { name: 'X', rules: [r('X', 1)] }] };
  const d = diffTable(def([1]), listed(withExtra));
  assert.deepEqual(
    d.nftables.map((c) => Object.keys(c)[0] + ' ' + Object.keys(Object.values(c)[0] as object)[0]),
    ['delete rule', 'delete chain'],
  );
  const moved: TableDef = { chains: [{ ...def([1]).chains[0]!, base: { type: 'filter', hook: 'input', prio: 5 } }, def([1]).chains[1]!] };
  const m = diffTable(moved, listed(def([1])));
  const ops = m.nftables.map((c) => Object.keys(c)[0] + ' ' + Object.keys(Object.values(c)[0] as object)[0]);
  assert.deepEqual(ops, ['delete rule', 'delete chain', 'add chain', 'add rule']);
  assert.equal(((m.nftables[2]!.add as { chain: { prio: number } }).chain).prio, 5);
});

test('diffTable: a chain the live table lacks is created (fails if another writer made it meanwhile), not added', () => {
  const withExtra: TableDef = { chains: [...def([1]).chains, { name: 'X', rules: [r('X', 1)] }] };
  const d = diffTable(withExtra, listed(def([1])));
  assert.deepEqual(
    d.nftables.map((c) => Object.keys(c)[0] + ' ' + Object.keys(Object.values(c)[0] as object)[0]),
    ['create chain', 'add rule'],
  );
});

test('diffTable: a desired table without chains deletes the table; deleteTableBatch', () => {
  assert.deepEqual(diffTable({ chains: [] }, listed(def([1]))), deleteTableBatch());
  assert.deepEqual(deleteTableBatch(), { nftables: [{ delete: { table: { family: 'inet', name: 'twine' } } }] });
});

test('named counters: added before the rules, kept when live, deleted after the rules that used them', () => {
  const withCounter: TableDef = { ...def([1]), counters: ['killswitch'] };
  const add = addTableBatch(withCounter);
  assert.deepEqual(add.nftables[1], { add: { counter: { family: 'inet', table: 'twine', name: 'killswitch' } } });
  const live = listed(withCounter);
  live.nftables.push({ counter: { family: 'inet', table: 'twine', name: 'killswitch', handle: 99, packets: 3, bytes: 252 } });
  assert.deepEqual(diffTable(withCounter, live), { nftables: [] });
  const drop = diffTable(def([1]), live);
  assert.deepEqual(drop.nftables, [{ delete: { counter: { family: 'inet', table: 'twine', name: 'killswitch' } } }]);
  const again = diffTable(withCounter, listed(def([1])));
  assert.deepEqual(again.nftables, [{ add: { counter: { family: 'inet', table: 'twine', name: 'killswitch' } } }]);
});

/** Runs a diff batch on the listed rules of one chain: delete by handle, insert before a handle, add at the end. */
function applyToChain(live: NftBatch, chain: string, batch: NftBatch): string[] {
  type R = { handle: number; comment: string };
  let rules: R[] = live.nftables
    .map((c) => c.rule as { chain: string; handle: number; comment?: string } | undefined)
    .filter((x): x is { chain: string; handle: number; comment?: string } => x?.chain === chain)
    .map((x) => ({ handle: x.handle, comment: x.comment ?? '(foreign)' }));
  let h = 10_000;
  for (const cmd of batch.nftables) {
    const [verb, body] = Object.entries(cmd)[0] as [string, { rule?: { chain: string; handle?: number; comment: string } }];
    const rule = body.rule;
    if (!rule || rule.chain !== chain) continue;
    if (verb === 'delete') rules = rules.filter((x) => x.handle !== rule.handle);
    else if (verb === 'add') rules.push({ handle: h++, comment: rule.comment });
    else if (verb === 'insert') {
      const at = rules.findIndex((x) => x.handle === rule.handle);
      assert.ok(at >= 0, `insert before handle ${rule.handle}, which is not there (deleted earlier in the batch?)`);
      rules.splice(at, 0, { handle: h++, comment: rule.comment });
    }
  }
  return rules.map((x) => x.comment);
}

test('diffTable: any live chain (duplicates, foreign rules, other order) becomes exactly the desired one', () => {
  let seed = 7;
  const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let round = 0; round < 300; round++) {
    const want = [...new Set(Array.from({ length: rnd(12) }, () => rnd(20)))];
    const liveMarks = Array.from({ length: rnd(14) }, () => rnd(20));
    const live = listed(def(liveMarks));
    const foreign = rnd(3) === 0 ? 1 : 0;
    if (foreign) live.nftables.push({ rule: { family: 'inet', table: 'twine', chain: 'TWINE_INPUT', handle: 999, expr: [{ drop: null }] } });
    const batch = diffTable(def(want), live);
    assert.deepEqual(
      applyToChain(live, 'TWINE_INPUT', batch),
      want.map((n) => r('TWINE_INPUT', n).comment),
      `live ${JSON.stringify(liveMarks)} → want ${JSON.stringify(want)}`,
    );
    // Rules only added or removed (no reordering) keep every rule that is still wanted.
    const kept = liveMarks.filter((m, i) => want.includes(m) && liveMarks.indexOf(m) === i);
    if (JSON.stringify(kept) === JSON.stringify(want.filter((m) => kept.includes(m)))) {
      const deleted = batch.nftables.filter((c) => 'delete' in c).length;
      assert.equal(deleted, liveMarks.length - kept.length + foreign, `live ${JSON.stringify(liveMarks)} → want ${JSON.stringify(want)}`);
    }
  }
});

test('diffTable: 10,000 rules against 10,000 with one changed: one delete, one insert (no n×m table)', () => {
  const n = 10_000;
  const marks = Array.from({ length: n }, (_, i) => i);
  const live = listed(def(marks));
  const want = [...marks];
  want[n / 2] = n + 1;
  const batch = diffTable(def(want), live);
  assert.deepEqual(
    batch.nftables.map((c) => Object.keys(c)[0]),
    ['delete', 'insert'],
  );
});
