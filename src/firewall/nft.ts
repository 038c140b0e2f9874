import { createHash } from 'node:crypto';
import type { TwineChain } from '../iptables/chains.js';

// Twine's nftables layout (ARCHITECTURE.md, "Kernel recipes"): one `table inet twine` per container
// namespace, base chains mirroring iptables, and the users' TWINE_* chains.

export const TABLE_FAMILY = 'inet';
export const TABLE_NAME = 'twine';

export type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
export type ChainType = 'filter' | 'nat' | 'route';

export interface BaseChainDef {
  name: string;
  type: ChainType;
  hook: Hook;
  /** Always an integer: "prio":"dstnat" in JSON silently makes a chain with no hook. */
  prio: number;
  /** The TWINE_* chain this base chain jumps to first. */
  jumpTo: TwineChain;
}

export const BASE_CHAINS: readonly BaseChainDef[] = [
  { name: 'INPUT', type: 'filter', hook: 'input', prio: -1, jumpTo: 'TWINE_INPUT' },
  { name: 'FORWARD', type: 'filter', hook: 'forward', prio: -1, jumpTo: 'TWINE_FORWARD' },
  { name: 'OUTPUT', type: 'filter', hook: 'output', prio: -1, jumpTo: 'TWINE_OUTPUT' },
  { name: 'PREROUTING', type: 'nat', hook: 'prerouting', prio: -101, jumpTo: 'TWINE_NAT_PREROUTING' },
  // nft 1.0.6 rejects "dstnat - 1" on the output hook: a number it is.
  { name: 'OUTPUT_NAT', type: 'nat', hook: 'output', prio: -101, jumpTo: 'TWINE_NAT_OUTPUT' },
  { name: 'POSTROUTING', type: 'nat', hook: 'postrouting', prio: 99, jumpTo: 'TWINE_NAT_POSTROUTING' },
];

/** The policy of every base chain Twine creates: what no rule drops is accepted. */
export const BASE_CHAIN_POLICY = 'accept';

/**
 * Chains of Twine's own that only some containers need, added next to the base
 * chains above (they jump to no TWINE_* chain: users' rules cannot bypass them).
 * GATEWAY runs on a NAT gateway's forward hook just before FORWARD: MSS
 * clamping, then the kill switch. An accept in FORWARD's user rules ends only
 * that chain, so it cannot let a packet past the kill switch's drop.
 */
export const GATEWAY_CHAIN: Omit<BaseChainDef, 'jumpTo'> = { name: 'GATEWAY', type: 'filter', hook: 'forward', prio: -2 };

/**
 * A container that routes via a gateway but has published ports: REPLY_MARK
 * marks connections arriving through Docker's interface (conntrack mark, in
 * mangle position on prerouting); REPLY_ROUTE, a route chain on output, copies
 * the mark to the reply packets so the kernel routes them again, by the policy
 * rule, through Docker's gateway.
 */
export const REPLY_MARK_CHAIN: Omit<BaseChainDef, 'jumpTo'> = { name: 'REPLY_MARK', type: 'filter', hook: 'prerouting', prio: -150 };
export const REPLY_ROUTE_CHAIN: Omit<BaseChainDef, 'jumpTo'> = { name: 'REPLY_ROUTE', type: 'route', hook: 'output', prio: -150 };

/** The named counter the kill switch's drop rule counts into (`nft list counter inet twine killswitch`). */
export const KILLSWITCH_COUNTER = 'killswitch';
/** The named counter of what a NAT gateway's whitelists dropped (`nft list counter inet twine whitelist`). */
export const WHITELIST_COUNTER = 'whitelist';

/** A statement/expression of libnftables' JSON schema (see libnftables-json(5)). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type NftExpr = Record<string, any>;

/** One command of a batch: {"add": {...}}, {"delete": {...}}, {"flush": {...}}... */
export type NftCommand = Record<string, unknown>;

/** What `nft -j -f` takes. */
export interface NftBatch {
  nftables: NftCommand[];
}

export interface RuleDef {
  /** Statements, in order. */
  expr: NftExpr[];
  /** Rule comment; carries the rule's identity ("twine:<hash>") so a diff can match live rules. */
  comment: string;
}

export interface ChainDef {
  name: string;
  /** Present for base chains. */
  base?: { type: ChainType; hook: Hook; prio: number };
  rules: RuleDef[];
}

/** The whole desired content of `table inet twine` for one namespace. */
export interface TableDef {
  chains: ChainDef[];
  /** Named counters (`counter <name> {}` objects), created before any rule uses them. */
  counters?: string[];
}

/** nft rejects comments longer than this. */
export const MAX_COMMENT = 128;
const IDENTITY_PREFIX = 'twine:';

// A container's rules come back on every restart and across containers with the same
// labels: the rules, hashes included, are remembered (a plan is on the start path).
// Every plan holding a rule holds the same frozen RuleDef, and every
// plan with the same table the same frozen TableDef: the engine keeps a plan per
// container, and 1000 containers' own copies of their rule trees were ~7 KB each of
// live heap (bench/PROFILE.md). Frozen: a shared rule changed in place would change
// every plan holding it.
const rules = new Map<string, RuleDef>();
const tables = new Map<string, TableDef>();
const MAX_REMEMBERED = 4096;

/** Freezes a JSON value and everything in it. */
function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** Adds to a bounded memo (emptied when full: what plans hold stays theirs). */
function remember<V>(m: Map<string, V>, key: string, v: V): V {
  if (m.size >= MAX_REMEMBERED) m.clear();
  m.set(key, v);
  return v;
}

/**
 * A rule whose comment carries its identity: "twine:<hash of chain+expr>" and,
 * after a space, the user's own comment. The diff matches live rules by it, so
 * it never has to compare nft's re-serialised expressions with ours. The result
 * is shared and frozen; its expr is a copy of `expr` as JSON has it (what the
 * batch sends), so the caller's objects are left as they are.
 */
export function makeRule(chain: string, expr: NftExpr[], note?: string): RuleDef {
  const json = JSON.stringify(expr);
  const key = `${chain}\0${json}`;
  // The chain has no NUL and the JSON no raw one: the second NUL ends the expression.
  const ruleKey = note ? `${key}\0${note}` : key;
  const known = rules.get(ruleKey);
  if (known) return known;
  const id = `${IDENTITY_PREFIX}${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
  const comment = note ? `${id} ${note}` : id;
  return remember(rules, ruleKey, deepFreeze({ expr: JSON.parse(json) as NftExpr[], comment: comment.slice(0, MAX_COMMENT) }));
}

/**
 * The shared, frozen copy of a table made of makeRule's rules: equal tables
 * (same chains, hooks, counters and rules in the same order) are one object.
 * Rules are told apart by their comments, which name the chain and expression
 * (the diff relies on the same).
 */
export function internTable(t: TableDef): TableDef {
  // Kept by digest: with every table different, the memo would otherwise hold a second text of each.
  const key = createHash('sha1')
    .update(JSON.stringify([t.counters ?? null, t.chains.map((c) => [c.name, c.base ?? null, c.rules.map((r) => r.comment)])]))
    .digest('base64');
  return tables.get(key) ?? remember(tables, key, deepFreeze(t));
}

/** The identity part of a rule comment made by makeRule, or undefined for a foreign rule. */
export function ruleIdentity(comment: string | undefined): string | undefined {
  if (!comment?.startsWith(IDENTITY_PREFIX)) return undefined;
  const space = comment.indexOf(' ');
  return space < 0 ? comment : comment.slice(0, space);
}
