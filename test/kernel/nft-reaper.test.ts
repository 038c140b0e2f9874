// When the addon frees libnftables contexts (native/nft_reaper.h): those of a
// namespace that just had a deleting batch are held until it settles, the
// others go at once, none is leaked, and the batches themselves are applied
// exactly as sent. Read back with `nft -j list`; which contexts are open is
// read per namespace from its netlink sockets. Needs root.
//
// No clock decides a result: "held" and "at once" are shown by the order in
// which the reaper frees contexts (see heldWhenBFreed).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadAddon } from '../../src/netns/addon.js';
import { createLibTransport, libTransportAvailable } from '../../src/firewall/transport-lib.js';
import type { NftBatch } from '../../src/firewall/nft.js';
import type { NsTarget } from '../../src/netns/types.js';
import { netnsAdd, netnsDel, threadNamespaces } from '../bed/netns.js';

// Named for this process and recorded (netnsAdd), so a concurrent run's leftover cleanup keeps them.
const A = `twt-nftr-a-${process.pid}`;
const B = `twt-nftr-b-${process.pid}`;
const at = (ns: string): NsTarget => ({ path: `/var/run/netns/${ns}` });
/** Only a limit against hanging: a held context waits 100 ms (native/nft_reaper.h kSettle), far longer on a loaded machine. */
const DRAIN_MS = 10_000;
/** Runs of heldWhenBFreed before giving up: one conclusive run is enough, each takes ~0.1 s. */
const TRIES = 20;

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

/**
 * The libnftables contexts open in ns: each holds one NETLINK_NETFILTER
 * (protocol 12) socket, bound to a port id, until it is freed; the kernel's
 * own socket has port id 0. Nothing else in this process opens one there,
 * and the nft commands the test runs have exited.
 */
function contextsIn(ns: string): number {
  const out = execFileSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/netlink'], { encoding: 'utf8' });
  return out.split('\n').slice(1).map((l) => l.trim().split(/\s+/)).filter((f) => f[1] === '12' && f[2] !== undefined && f[2] !== '0').length;
}

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
/** Replaces every rule of chain c by one with comment `to` (a flush, so a deleting batch). */
const resetRule = (to: string): NftBatch => ({
  nftables: [
    { flush: { chain: { family: 'inet', table: 't', name: 'c' } } },
    { add: { rule: { family: 'inet', table: 't', chain: 'c', expr: [{ accept: null }], comment: to } } },
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
  let resets = 0;

  /**
   * A deleting batch in A, then `inA` (more of A's contexts), then `inB`;
   * waits until B's contexts are all freed or A's are. Returns how many of
   * A's were still open when B had none left: that many were held while the
   * reaper, which frees contexts in the order they were handed, freed B's
   * handed after them. A reaper that held B's too, or held none, frees A's
   * first: 0. So does a machine too loaded to free B's within A's 100 ms,
   * which only makes the run inconclusive (the callers try again).
   */
  async function heldWhenBFreed(inA: () => Promise<void>, inB: () => Promise<void>): Promise<number> {
    await drained(DRAIN_MS);
    await lib.apply(at(A), resetRule(`reset${++resets}`));
    await inA();
    await inB();
    const t0 = performance.now();
    for (;;) {
      // B first: A's contexts only ever close from here on, so A's count read
      // after B's is a lower bound of A's at the moment B's was read.
      const b = contextsIn(B);
      const a = contextsIn(A);
      if (b === 0 || a === 0) return b === 0 ? a : 0;
      if (performance.now() - t0 > DRAIN_MS) throw new Error(`contexts still open after ${DRAIN_MS} ms: A ${a}, B ${b}`);
      await sleep(2);
    }
  }

  /** heldWhenBFreed until it is conclusive (up to TRIES times); its last result. */
  async function orderShown(inA: () => Promise<void>, inB: () => Promise<void>): Promise<number> {
    let n = 0;
    for (let i = 0; i < TRIES && n === 0; i++) n = await heldWhenBFreed(inA, inB);
    return n;
  }

  before(async () => {
    for (const n of [A, B]) await netnsAdd(n);
  });
  after(async () => {
    for (const n of [A, B]) await netnsDel(n);
    assert.deepEqual(new Set(threadNamespaces()), new Set([ownNs]));
    assert.equal(loadAddon().stats().retired, 0);
  });

  it('reports how many contexts it holds', () => {
    assert.equal(typeof loadAddon().stats().nftContextsHeld, 'number');
  });

  it('frees the contexts of a namespace without deletions at once', async () => {
    await drained(DRAIN_MS);
    await lib.apply(at(A), table('a0'));
    await lib.apply(at(B), table('b0'));
    assert.notEqual(await lib.listTable(at(B), 'inet', 't'), null);
    await drained(DRAIN_MS);
    assert.equal(contextsIn(B), 0, 'freed: no context left open in B');
    // Not held: an add-only batch's and a listing's contexts go before those of A's deleting batch, handed earlier.
    const none = async (): Promise<void> => {};
    const addOnly = async (): Promise<void> => {
      await lib.apply(at(B), { nftables: [{ add: { table: { family: 'inet', name: 't' } } }] });
      await lib.listTable(at(B), 'inet', 't');
    };
    assert.ok((await orderShown(none, addOnly)) >= 1, 'add-only and list contexts are not held');
    assert.deepEqual(comments(B), ['b0']);
  });

  it('holds the contexts of a namespace that just had a deleting batch, then frees them', async () => {
    await drained(DRAIN_MS);
    await lib.apply(at(A), resetRule('a0'));
    await lib.apply(at(A), replaceRule(handleOf(A, 'a0'), 'a1'));
    assert.ok(held() >= 1, 'the deleting batch\'s context is held');
    // A later context in the same namespace is held as well: closing it now would stall commits there too.
    await lib.listTable(at(A), 'inet', 't');
    assert.ok(held() >= 2, 'the list after it is held too');
    await drained(DRAIN_MS);
    assert.equal(contextsIn(A), 0, 'then freed');
    // Held, not merely not freed yet: both stay open while the reaper frees B's listing, handed after them.
    const listA = async (): Promise<void> => void (await lib.listTable(at(A), 'inet', 't'));
    const listB = async (): Promise<void> => void (await lib.listTable(at(B), 'inet', 't'));
    assert.ok((await orderShown(listA, listB)) >= 2, 'the deleting batch\'s context and the listing after it are held');
    await lib.apply(at(A), resetRule('a1'));
    await drained(DRAIN_MS);
    assert.equal(contextsIn(A), 0, 'then freed');
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
    await drained(DRAIN_MS);
    // B's two contexts go at once; A's stays until A settles.
    let added = false;
    const inB = async (): Promise<void> => {
      await lib.listTable(at(B), 'inet', 't');
      if (!added) await lib.apply(at(B), { nftables: [{ add: { rule: { family: 'inet', table: 't', chain: 'c', expr: [{ accept: null }], comment: 'b1' } } }] });
      else await lib.listTable(at(B), 'inet', 't');
      added = true;
    };
    assert.ok((await orderShown(async () => {}, inB)) >= 1, 'B\'s contexts were freed while A\'s was held');
    assert.deepEqual(comments(B), ['b0', 'b1']);
    await drained(DRAIN_MS);
  });
});
