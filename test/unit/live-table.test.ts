// Unit tests of firewall/live.ts: the native table read (no statements) in the
// listing's form, statements filled in from known tables by identity, and the
// diff over it equal to the diff over a full listing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffTable } from '../../src/firewall/batch.js';
import { staleConntrack } from '../../src/firewall/dnat.js';
import { expectedHashes, liveTable, ruleHashesOf, ruleHashesOfState, stateHashes, stateSignature, tableInSync, tableSignature } from '../../src/firewall/live.js';
import { makeRule, type NftBatch, type NftCommand, type TableDef } from '../../src/firewall/nft.js';
import type { NftTableState } from '../../src/netns/types.js';

const dnat = (addr: string) =>
  makeRule('TWINE_NAT_PREROUTING', [{ match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 8080 } }, { dnat: { family: 'ip', addr, port: 80 } }], 'twine.nat.forward.8080');
const def = (addr: string): TableDef => ({
  chains: [
    { name: 'PREROUTING', base: { type: 'nat', hook: 'prerouting', prio: -101 }, rules: [makeRule('PREROUTING', [{ jump: { target: 'TWINE_NAT_PREROUTING' } }])] },
    { name: 'TWINE_NAT_PREROUTING', rules: [dnat(addr)] },
  ],
  counters: ['killswitch'],
});

/** Stands in for the native read's keyed hash of a rule's kernel encoding. */
const hashOf = (expr: unknown): string => Buffer.from(JSON.stringify(expr)).toString('hex').padEnd(16, '0').slice(-16);

/** What the kernel holds after `t` was committed, as nftTableRead gives it; handles from 10 up. */
function state(t: TableDef, extra: NftTableState['rules'] = []): NftTableState {
  let h = 10;
  return {
    chains: t.chains.map((c) => ({ name: c.name, ...(c.base ? { type: c.base.type, hook: c.base.hook, prio: c.base.prio, policy: 'accept' } : {}) })),
    rules: [...t.chains.flatMap((c) => c.rules.map((r) => ({ chain: c.name, handle: h++, comment: r.comment, hash: hashOf(r.expr) }))), ...extra],
    counters: (t.counters ?? []).map((name) => ({ name, packets: 3, bytes: 180 })),
  };
}

/** The same as `nft -j list table` shows it. */
function listed(s: NftTableState, t: TableDef): NftBatch {
  const expr = new Map(t.chains.flatMap((c) => c.rules.map((r) => [r.comment, r.expr] as const)));
  const out: NftCommand[] = [{ table: { family: 'inet', name: 'twine' } }];
  for (const k of s.counters) out.push({ counter: { family: 'inet', table: 'twine', ...k } });
  for (const c of s.chains) out.push({ chain: { family: 'inet', table: 'twine', ...c } });
  for (const r of s.rules) out.push({ rule: { family: 'inet', table: 'twine', ...r, expr: expr.get(r.comment ?? '') ?? [{ accept: null }] } });
  return { nftables: out };
}

test('no table: null, complete', () => {
  assert.deepEqual(liveTable(null, [def('10.0.0.2')]), { live: null, complete: true });
});

test('in sync: the diff is empty, as over the full listing', () => {
  const t = def('10.0.0.2');
  const l = liveTable(state(t), [t]);
  assert.equal(l.complete, true);
  assert.deepEqual(diffTable(t, l.live), { nftables: [] });
  assert.deepEqual(diffTable(t, listed(state(t), t)), { nftables: [] });
});

test('a forward that moved: the old rule is known from the last applied table, so the diff and the conntrack clean-up match the full listing', () => {
  const old = def('10.0.0.2');
  const now = def('10.0.0.3');
  const s = state(old);
  const l = liveTable(s, [now, old]);
  assert.equal(l.complete, true);
  assert.deepEqual(diffTable(now, l.live), diffTable(now, listed(s, old)));
  assert.deepEqual(staleConntrack(l.live, now), staleConntrack(listed(s, old), now));
  assert.ok(staleConntrack(l.live, now).some((f) => f.replySrc === '10.0.0.2'), 'entries DNATed to the old address go');
});

test('without the last applied table (after a restart) the moved rule is unknown: incomplete, so the caller lists', () => {
  const old = def('10.0.0.2');
  const now = def('10.0.0.3');
  const l = liveTable(state(old), [now]);
  assert.equal(l.complete, false);
  assert.ok(diffTable(now, l.live).nftables.length > 0);
});

test('a foreign rule (no comment) is incomplete and deleted by the diff; a flushed chain is refilled', () => {
  const t = def('10.0.0.2');
  const foreign = liveTable(state(t, [{ chain: 'TWINE_NAT_PREROUTING', handle: 99 }]), [t]);
  assert.equal(foreign.complete, false);
  assert.deepEqual(diffTable(t, foreign.live).nftables, [{ delete: { rule: { family: 'inet', table: 'twine', chain: 'TWINE_NAT_PREROUTING', handle: 99 } } }]);
  const flushed = { ...state(t), rules: state(t).rules.filter((r) => r.chain !== 'TWINE_NAT_PREROUTING') };
  const b = diffTable(t, liveTable(flushed, [t]).live);
  assert.equal(b.nftables.length, 1);
  assert.ok('add' in b.nftables[0]!);
});

test('base chains keep hook, type and priority: a chain whose hook changed is recreated', () => {
  const t = def('10.0.0.2');
  const s = state(t);
  s.chains[0] = { ...s.chains[0]!, prio: 0 };
  const b = diffTable(t, liveTable(s, [t]).live);
  assert.ok(b.nftables.some((c) => JSON.stringify(c).includes('"delete":{"chain"')));
});

function syncVariants(t: TableDef, base: NftTableState): [string, NftTableState | null][] {
  const variants: [string, NftTableState | null][] = [
    ['same', base],
    ['no table', null],
    ['a rule gone', { ...base, rules: base.rules.slice(1) }],
    ['rules swapped', { ...base, rules: [base.rules[1]!, base.rules[0]!] }],
    ['a foreign rule', { ...base, rules: [...base.rules, { chain: 'TWINE_NAT_PREROUTING', handle: 99 }] }],
    ['a duplicate', { ...base, rules: [...base.rules, { ...base.rules[1]!, handle: 98 }] }],
    ['a comment changed', { ...base, rules: [base.rules[0]!, { ...base.rules[1]!, comment: `${base.rules[1]!.comment!}x` }] }],
    ['an extra chain', { ...base, chains: [...base.chains, { name: 'OTHER' }] }],
    ['a chain gone', { ...base, chains: base.chains.slice(0, 1), rules: base.rules.slice(0, 1) }],
    ['a hook moved', { ...base, chains: [{ ...base.chains[0]!, prio: 0 }, base.chains[1]!] }],
    ['a base chain made regular', { ...base, chains: [{ name: 'PREROUTING' }, base.chains[1]!] }],
    ["a base chain's policy made drop", { ...base, chains: [{ ...base.chains[0]!, policy: 'drop' }, base.chains[1]!] }],
    ['no counter', { ...base, counters: [] }],
    ['another counter', { ...base, counters: [...base.counters, { name: 'x', packets: 0, bytes: 0 }] }],
  ];
  return variants;
}

test('tableInSync says in sync exactly when the diff over the same read is empty', () => {
  const t = def('10.0.0.2');
  const base = state(t);
  for (const [what, s] of syncVariants(t, base)) {
    assert.equal(tableInSync(t, s), diffTable(t, liveTable(s, [t]).live).nftables.length === 0, what);
  }
  assert.equal(tableInSync(t, base), true);
  assert.equal(tableInSync({ chains: [] }, null), true, 'no table wanted, none there');
  assert.equal(tableInSync({ chains: [] }, base), false, 'no table wanted, one there');
});

test('the signatures of the desired table and of a read are equal exactly when tableInSync is true', () => {
  const t = def('10.0.0.2');
  const base = state(t);
  const reordered: NftTableState = { ...base, chains: [...base.chains].reverse(), counters: [...base.counters].reverse() };
  const variants = [...syncVariants(t, base), ['chains and counters listed in another order', reordered] as [string, NftTableState]];
  for (const [what, s] of variants) {
    if (s === null) continue;
    assert.equal(tableSignature(t) === stateSignature(s), tableInSync(t, s), what);
  }
  assert.equal(tableSignature(t), stateSignature(base));
  assert.equal(tableSignature(t), tableSignature(t), 'kept per table');
  assert.notEqual(tableSignature(def('10.0.0.3')), tableSignature(t), 'another forward');
  // Lengths are UTF-8 bytes (as the native read counts them): a comment is never read as a chain's start.
  const odd: TableDef = { chains: [{ name: 'TWINE_X', rules: [{ expr: [], comment: 'twine:é C7:TWINE_X-' }] }] };
  assert.equal(stateSignature({ chains: [{ name: 'TWINE_X' }], rules: [{ chain: 'TWINE_X', handle: 1, comment: 'twine:é C7:TWINE_X-' }], counters: [] }), tableSignature(odd));
  assert.equal(tableSignature({ chains: [] }), undefined, 'no table wanted: no signature');
  assert.equal(tableSignature({ chains: [{ name: 'TWINE_É', rules: [] }] }), undefined, 'a chain name that is not plain ASCII');
});

test('a base chain whose policy was changed to drop is not in sync, and the diff recreates it with policy accept', () => {
  const t = def('10.0.0.2');
  const base = state(t);
  const dropped: NftTableState = { ...base, chains: [{ ...base.chains[0]!, policy: 'drop' }, base.chains[1]!] };
  assert.equal(tableInSync(t, dropped), false);
  assert.notEqual(stateSignature(dropped), tableSignature(t));
  const b = diffTable(t, liveTable(dropped, [t]).live);
  const added = b.nftables.find((c) => (c as { add?: { chain?: { name?: string; policy?: string } } }).add?.chain?.name === 'PREROUTING') as { add: { chain: { policy: string } } } | undefined;
  assert.equal(added?.add.chain.policy, 'accept');
  assert.ok(b.nftables.some((c) => (c as { delete?: { chain?: { name?: string } } }).delete?.chain?.name === 'PREROUTING'));
});

test("a rule replaced in place (Twine's comment, other statements) is not in sync once its committed hash is known, and is replaced", () => {
  const t = def('10.0.0.2');
  const base = state(t);
  const committed = ruleHashesOfState(base);
  const swapped: NftTableState = { ...base, rules: base.rules.map((r) => (r.chain === 'TWINE_NAT_PREROUTING' ? { ...r, hash: hashOf('tcp dport 8 drop') } : r)) };
  // By name alone it reads as in sync: what the hashes are for.
  assert.equal(tableInSync(t, swapped), true);
  assert.equal(stateSignature(swapped), tableSignature(t));
  assert.equal(tableInSync(t, swapped, committed), false);
  assert.equal(tableInSync(t, base, committed), true);
  const seen = liveTable(swapped, [t], committed);
  assert.equal(seen.complete, false);
  const b = diffTable(t, seen.live);
  const handle = swapped.rules.find((r) => r.chain === 'TWINE_NAT_PREROUTING')!.handle;
  assert.deepEqual(b.nftables[0], { delete: { rule: { family: 'inet', table: 'twine', chain: 'TWINE_NAT_PREROUTING', handle } } });
  assert.ok(b.nftables.some((c) => (c as { add?: { rule?: { comment?: string } } }).add?.rule?.comment === t.chains[1]!.rules[0]!.comment), 'the desired rule added again');
  assert.equal(b.nftables.length, 2, 'nothing else changes');
});

test("the rules' hashes: a read's string by comment and back, in signature order", () => {
  const t = def('10.0.0.2');
  const base = state(t);
  const str = stateHashes(base);
  assert.equal(str.length, 16 * base.rules.length);
  const byComment = ruleHashesOf(t, str)!;
  assert.deepEqual(byComment, ruleHashesOfState(base));
  assert.equal(expectedHashes(t, byComment), str);
  // Chains in another order in the read: the same string (sorted by name on both sides).
  assert.equal(stateHashes({ ...base, chains: [...base.chains].reverse() }), str);
  assert.equal(ruleHashesOf(t, str.slice(1)), undefined, 'a string that does not fit');
  assert.equal(ruleHashesOf(t, `${str}0000000000000000`), undefined, 'one hash too many');
  assert.equal(expectedHashes(t, new Map([...byComment].slice(1))), undefined, 'a rule whose hash is not known');
});
