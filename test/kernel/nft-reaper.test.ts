// When the addon frees libnftables contexts (native/nft_reaper.h): those of a
// namespace that just had a deleting batch are held until it settles, the
// others go at once, none is leaked, and the batches themselves are applied
// exactly as sent. Read back with `nft -j list`. Needs root.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadAddon } from '../../src/netns/addon.js';
import { createLibTransport, libTransportAvailable } from '../../src/firewall/transport-lib.js';
import type { NftBatch } from '../../src/firewall/nft.js';
import type { NsTarget } from '../../src/netns/types.js';
import { deleteNetnsWithPrefix, threadNamespaces } from '../bed/netns.js';

const PREFIX = 'twt-nftr-';
const A = `${PREFIX}a`;
const B = `${PREFIX}b`;
const at = (ns: string): NsTarget => ({ path: `/var/run/netns/${ns}` });
/** How long a held context may wait (native/nft_reaper.h kSettle is 100 ms), with room for a loaded machine. */
const DRAIN_MS = 3000;

const cleanup = (): void => deleteNetnsWithPrefix(PREFIX);

/** The comments of the rules of chain c in table inet t, in order, as nft lists them. */
function comments(ns: string): string[] {
  const out = execFileSync('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'table', 'inet', 't'], { encoding: 'utf8' });
  return (JSON.parse(out) as NftBatch).nftables.flatMap((o) => ('rule' in o ? [String((o.rule as { comment?: string }).comment)] : []));
}

/** nft -j list gives handles; the one of the rule with this comment. */
function handleOf(ns: string, comment: string): number {
  const out = execFileSync('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'table', 'inet', 't'], { encoding: 'utf8' });
  const rule = (JSON.parse(out) as NftBatch).nftables.flatMap((o) => ('rule' in o ? [o.rule as { comment?: string; handle: number }] : [])).find((r) => r.comment === comment);
  assert.ok(rule, `rule ${comment} is in ${ns}`);
  return rule.handle;
}

const held = (): number => loadAddon().stats().nftContextsHeld ?? -1;

/** Milliseconds until no context is held, or throws after limitMs. */
async function drained(limitMs: number): Promise<number> {
  const t0 = performance.now();
  while (held() !== 0) {
    if (performance.now() - t0 > limitMs) throw new Error(`${held()} contexts still held after ${limitMs} ms`);
    await sleep(2);
  }
  return performance.now() - t0;
}

const table = (comment: string): NftBatch => ({
  nftables: [
    { add: { table: { family: 'inet', name: 't' } } },
    { add: { chain: { family: 'inet', table: 't', name: 'c' } } },
    { add: { rule: { family: 'inet', table: 't', chain: 'c', expr: [{ accept: null }], comment } } },
  ],
});
/** Replaces the rule with comment `from` by one with comment `to` (a delete by handle, then an add). */
const replaceRule = (handle: number, to: string): NftBatch => ({
  nftables: [
    { delete: { rule: { family: 'inet', table: 't', chain: 'c', handle } } },
    { add: { rule: { family: 'inet', table: 't', chain: 'c', expr: [{ accept: null }], comment: to } } },
  ],
});

const ownNs = readlinkSync('/proc/self/ns/net');
const skip = libTransportAvailable() ? false : 'addon built without libnftables';

describe('libnftables context reaping', { skip }, () => {
  const lib = createLibTransport();

  before(() => {
    cleanup();
    for (const n of [A, B]) execFileSync('ip', ['netns', 'add', n]);
  });
  after(() => {
    cleanup();
    assert.deepEqual(new Set(threadNamespaces()), new Set([ownNs]));
    assert.equal(loadAddon().stats().retired, 0);
  });

  it('reports how many contexts it holds', () => {
    assert.equal(typeof loadAddon().stats().nftContextsHeld, 'number');
  });

  it('frees the contexts of a namespace without deletions at once', async () => {
    await drained(DRAIN_MS);
    await lib.apply(at(B), table('b0'));
    assert.notEqual(await lib.listTable(at(B), 'inet', 't'), null);
    // Well under the 100 ms a namespace with deletions is held for.
    assert.ok((await drained(DRAIN_MS)) < 80, 'add-only and list contexts are not held');
    assert.deepEqual(comments(B), ['b0']);
  });

  it('holds the contexts of a namespace that just had a deleting batch, then frees them', async () => {
    await lib.apply(at(A), table('a0'));
    await drained(DRAIN_MS);
    await lib.apply(at(A), replaceRule(handleOf(A, 'a0'), 'a1'));
    assert.ok(held() >= 1, 'the deleting batch\'s context is held');
    // A later context in the same namespace is held as well: closing it now would stall commits there too.
    await lib.listTable(at(A), 'inet', 't');
    assert.ok(held() >= 2, 'the list after it is held too');
    const waited = await drained(DRAIN_MS);
    assert.ok(waited > 70, `held for a while (${waited.toFixed(0)} ms), not freed at once`);
    assert.deepEqual(comments(A), ['a1']);
  });

  it('back-to-back deleting batches in one namespace, more than it holds, all apply and are all freed', async () => {
    let last = 'a1';
    for (let i = 0; i < 40; i++) {
      const next = `r${i}`;
      await lib.apply(at(A), replaceRule(handleOf(A, last), next));
      last = next;
    }
    // Never more than the cap (16) plus the one being freed.
    assert.ok(held() <= 17, `held ${held()}`);
    assert.deepEqual(comments(A), ['r39']);
    await drained(DRAIN_MS);
    assert.deepEqual(new Set(threadNamespaces()), new Set([ownNs]));
  });

  it('a deleting batch in one namespace does not hold another namespace\'s contexts', async () => {
    await drained(DRAIN_MS);
    await lib.apply(at(A), replaceRule(handleOf(A, 'r39'), 'a2'));
    const before = held();
    await lib.listTable(at(B), 'inet', 't');
    await lib.apply(at(B), { nftables: [{ add: { rule: { family: 'inet', table: 't', chain: 'c', expr: [{ accept: null }], comment: 'b1' } } }] });
    // B's two contexts go at once; A's stays until A settles.
    const t0 = performance.now();
    while (held() > before && performance.now() - t0 < 80) await sleep(2);
    assert.ok(held() <= before, `B's contexts were freed (held ${held()}, A's ${before})`);
    assert.deepEqual(comments(B), ['b0', 'b1']);
    await drained(DRAIN_MS);
  });
});
