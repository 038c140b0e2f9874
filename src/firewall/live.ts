// The live `table inet twine` as the native netlink read gives it
// (NftTableState: chains, rules' handles and comments, counters; no rule
// expressions), in the `nft -j list table` form the diff reads. A rule's
// comment carries its identity, a hash of its chain and statements (makeRule),
// so a rule whose comment a known table (the desired one, the last applied)
// has is that rule: its statements are filled in from there. `complete` says
// every rule's were; when it is false and the table must change, the caller
// lists it through the nft transport instead (what the conntrack clean-up
// after a change reads is the statements of the rules that went).

import type { NftTableState } from '../netns/types.js';
import { BASE_CHAIN_POLICY, TABLE_FAMILY, TABLE_NAME, type NftBatch, type NftCommand, type NftExpr, type TableDef } from './nft.js';

export interface LiveTable {
  /** null: no table. */
  live: NftBatch | null;
  /** Every rule's statements are known (always true without a table). */
  complete: boolean;
}

export function liveTable(state: NftTableState | null, known: readonly (TableDef | undefined)[], hashes?: RuleHashes): LiveTable {
  if (state === null) return { live: null, complete: true };
  // Per chain, comment → statements (no string keys built per rule).
  const exprs = new Map<string, Map<string, NftExpr[]>>();
  for (const t of known) {
    for (const c of t?.chains ?? []) {
      let m = exprs.get(c.name);
      if (!m) exprs.set(c.name, (m = new Map()));
      for (const r of c.rules) m.set(r.comment, r.expr);
    }
  }
  const items: NftCommand[] = [{ table: { family: TABLE_FAMILY, name: TABLE_NAME } }];
  for (const k of state.counters) items.push({ counter: { family: TABLE_FAMILY, table: TABLE_NAME, name: k.name, packets: k.packets, bytes: k.bytes } });
  for (const c of state.chains) {
    const chain: NftExpr = { family: TABLE_FAMILY, table: TABLE_NAME, name: c.name };
    if (c.hook !== undefined) {
      chain.type = c.type;
      chain.hook = c.hook;
      chain.prio = c.prio;
      if (c.policy !== undefined) chain.policy = c.policy;
    }
    items.push({ chain });
  }
  let complete = true;
  for (const r of state.rules) {
    const rule: NftExpr = { family: TABLE_FAMILY, table: TABLE_NAME, chain: r.chain, handle: r.handle };
    // A rule that carries Twine's comment but not the statements committed with it is not Twine's rule: it goes.
    const comment = r.comment !== undefined && !replaced(r, hashes) ? r.comment : undefined;
    const expr = comment === undefined ? undefined : exprs.get(r.chain)?.get(comment);
    if (comment !== undefined) rule.comment = comment;
    if (expr) rule.expr = expr;
    else complete = false;
    items.push({ rule });
  }
  return { live: { nftables: items }, complete };
}

/**
 * The hash of the statements of each of Twine's rules in one namespace, as the
 * kernel encoded them when Twine committed them (NftTableState's rule hash), by
 * the rule's comment: a rule with that comment and another hash was replaced in
 * place by someone else.
 */
export type RuleHashes = ReadonlyMap<string, string>;

/** The rule carries a comment whose committed statements hash otherwise. */
function replaced(r: { comment?: string; hash?: string }, hashes: RuleHashes | undefined): boolean {
  if (!hashes || r.comment === undefined) return false;
  const h = hashes.get(r.comment);
  return h !== undefined && h !== r.hash;
}

/**
 * Whether the live table is exactly the desired one as the diff sees it (so
 * diffTable over it would be empty): the same chains with the same hooks and
 * policy, each chain's rules the desired ones by comment in the desired order
 * and no other, none replaced in place (`hashes`), the same counters. A
 * no-table plan is in sync with no table.
 */
export function tableInSync(desired: TableDef, state: NftTableState | null, hashes?: RuleHashes): boolean {
  if (state === null) return desired.chains.length === 0;
  if (desired.chains.length === 0 || state.chains.length !== desired.chains.length) return false;
  const want = new Map(desired.chains.map((c) => [c.name, c]));
  for (const c of state.chains) {
    const d = want.get(c.name);
    if (!d) return false;
    const b = d.base;
    if (b ? c.hook === undefined || b.hook !== c.hook || b.type !== c.type || b.prio !== c.prio || (c.policy ?? BASE_CHAIN_POLICY) !== BASE_CHAIN_POLICY : c.hook !== undefined) return false;
  }
  if (hashes && state.rules.some((r) => replaced(r, hashes))) return false;
  // The kernel dumps rules chain by chain, each in its order.
  const next = new Map<string, number>();
  let rules = 0;
  for (const r of state.rules) {
    const d = want.get(r.chain);
    const i = next.get(r.chain) ?? 0;
    if (!d || r.comment === undefined || d.rules[i]?.comment !== r.comment) return false;
    next.set(r.chain, i + 1);
    rules++;
  }
  if (rules !== desired.chains.reduce((n, c) => n + c.rules.length, 0)) return false;
  const counters = new Set(desired.counters ?? []);
  return state.counters.length === counters.size && state.counters.every((k) => counters.has(k.name));
}

/**
 * tableInSync as one string per side, so the native read (native/nft_read.cc
 * NftTableSignature builds the same from what it read) tells "in sync" itself
 * and does not hand the table over: a restart reads 1000 of them. Chains by
 * name, each with its hook and its rules' comments in order, then the counters
 * by name; each string length-prefixed in UTF-8 bytes. The strings are equal
 * exactly when tableInSync is true; undefined when the desired table cannot be
 * in sync with any (no chain, a rule without a comment) or its chain names are
 * not plain ASCII (sorted here by code unit, there by byte). Kept per table:
 * plans share their tables.
 */
export function tableSignature(desired: TableDef): string | undefined {
  let s = signatures.get(desired);
  if (s === undefined) {
    s = desiredSignature(desired);
    signatures.set(desired, s);
  }
  return s ?? undefined;
}

const signatures = new WeakMap<TableDef, string | null>();

function desiredSignature(d: TableDef): string | null {
  if (d.chains.length === 0 || new Set(d.chains.map((c) => c.name)).size !== d.chains.length) return null;
  let out = '';
  for (const c of [...d.chains].sort(byName)) {
    if (!/^[\x21-\x7e]+$/.test(c.name) || (c.base && !Number.isInteger(c.base.prio))) return null;
    out += chainPart(c.name, c.base ? { ...c.base, policy: BASE_CHAIN_POLICY } : undefined);
    for (const r of c.rules) {
      if (typeof r.comment !== 'string') return null;
      out += part('R', r.comment);
    }
  }
  for (const k of [...new Set(d.counters ?? [])].sort()) out += part('K', k);
  return out;
}

/** The same string of a table as read (what the native read compares; the test fakes use it). */
export function stateSignature(s: NftTableState): string {
  const rules = new Map<string, string>();
  for (const r of s.rules) rules.set(r.chain, (rules.get(r.chain) ?? '') + (r.comment === undefined ? 'N' : part('R', r.comment)));
  let out = '';
  for (const c of [...s.chains].sort(byName)) {
    out += chainPart(c.name, c.hook !== undefined ? { type: c.type ?? '', hook: c.hook, prio: c.prio ?? 0, ...(c.policy !== undefined ? { policy: c.policy } : {}) } : undefined);
    out += rules.get(c.name) ?? '';
    rules.delete(c.name);
  }
  if (rules.size > 0) out += 'X';
  for (const k of s.counters.map((c) => c.name).sort()) out += part('K', k);
  return out;
}

/** The rules' hashes of a table as read, in signature order (what the native read compares; the test fakes use it). */
export function stateHashes(s: NftTableState): string {
  const rules = new Map<string, string>();
  for (const r of s.rules) rules.set(r.chain, (rules.get(r.chain) ?? '') + (r.hash ?? ''));
  return [...s.chains].sort(byName).map((c) => rules.get(c.name) ?? '').join('');
}

function part(tag: string, s: string): string {
  return `${tag}${Buffer.byteLength(s)}:${s}`;
}

/** NF_ACCEPT and NF_DROP, as the kernel reports a base chain's policy. */
const POLICY_NUMBER: Readonly<Record<string, number>> = { accept: 1, drop: 0 };

function chainPart(name: string, base: { type: string; hook: string; prio: number; policy?: string } | undefined): string {
  if (!base) return `${part('C', name)}-`;
  const policy = base.policy === undefined ? '' : String(POLICY_NUMBER[base.policy] ?? base.policy);
  return `${part('C', name)}B${part('T', base.type)}${part('H', base.hook)}P${base.prio};V${policy};`;
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * The hashes a read in sync by name returns (a string of 16 hex digits per
 * rule, in signature order: chains by name, each chain's rules in order) by
 * the desired rules' comments; undefined when the string does not fit.
 */
export function ruleHashesOf(desired: TableDef, hashes: string): RuleHashes | undefined {
  const out = new Map<string, string>();
  let at = 0;
  for (const c of [...desired.chains].sort(byName)) {
    for (const r of c.rules) {
      if (at + HASH_DIGITS > hashes.length) return undefined;
      out.set(r.comment, hashes.slice(at, (at += HASH_DIGITS)));
    }
  }
  return at === hashes.length ? out : undefined;
}

/** The rules' hashes of a table as read, by comment (rules without one have none to keep). */
export function ruleHashesOfState(state: NftTableState): RuleHashes {
  const out = new Map<string, string>();
  for (const r of state.rules) if (r.comment !== undefined && r.hash !== undefined) out.set(r.comment, r.hash);
  return out;
}

/**
 * What a read in sync expects as its rules' hashes (ruleHashesOf's string) when
 * every desired rule's is known; undefined otherwise. Kept per hashes: a
 * transaction in sync hands the same ones on to the next.
 */
export function expectedHashes(desired: TableDef, hashes: RuleHashes): string | undefined {
  const kept = expected.get(hashes);
  if (kept?.table === desired) return kept.hashes;
  const s = joinHashes(desired, hashes);
  expected.set(hashes, { table: desired, hashes: s });
  return s;
}

const expected = new WeakMap<RuleHashes, { table: TableDef; hashes: string | undefined }>();

function joinHashes(desired: TableDef, hashes: RuleHashes): string | undefined {
  let out = '';
  for (const c of [...desired.chains].sort(byName)) {
    for (const r of c.rules) {
      const h = hashes.get(r.comment);
      if (h === undefined) return undefined;
      out += h;
    }
  }
  return out;
}

const HASH_DIGITS = 16;
