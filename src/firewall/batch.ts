// Batches for `table inet twine` (ARCHITECTURE.md, "Kernel recipes"): an add-only batch for a
// namespace's first apply, a minimal diff against the live table for every
// later one, and the teardown. Deleting costs an RCU grace period (~12 ms) per
// batch, so the diff deletes only rules that changed and a transaction with no
// change produces an empty batch, which callers must not send.

import { BASE_CHAIN_POLICY, TABLE_FAMILY, TABLE_NAME, ruleIdentity, type ChainDef, type NftBatch, type NftCommand, type NftExpr, type RuleDef, type TableDef } from './nft.js';

const TABLE = { family: TABLE_FAMILY, name: TABLE_NAME };

function chainObj(c: ChainDef): Record<string, unknown> {
  const o: Record<string, unknown> = { family: TABLE_FAMILY, table: TABLE_NAME, name: c.name };
  if (c.base) Object.assign(o, { type: c.base.type, hook: c.base.hook, prio: c.base.prio, policy: BASE_CHAIN_POLICY });
  return o;
}

function counterObj(name: string): Record<string, unknown> {
  return { family: TABLE_FAMILY, table: TABLE_NAME, name };
}

function ruleObj(chain: string, r: RuleDef, position?: { handle: number }): Record<string, unknown> {
  return { family: TABLE_FAMILY, table: TABLE_NAME, chain, ...(position ?? {}), expr: r.expr, comment: r.comment };
}

/** nft add table inet twine; add chain …; add rule … — for a namespace without the table. */
export function addTableBatch(table: TableDef): NftBatch {
  const cmds: NftCommand[] = [{ add: { table: TABLE } }];
  for (const name of table.counters ?? []) cmds.push({ add: { counter: counterObj(name) } });
  // Every chain before any rule: a jump may name a chain defined later.
  for (const c of table.chains) cmds.push({ add: { chain: chainObj(c) } });
  for (const c of table.chains) for (const r of c.rules) cmds.push({ add: { rule: ruleObj(c.name, r) } });
  return { nftables: cmds };
}

/**
 * What Twine sends to a namespace without its table: the add-only batch with
 * `create table` instead of `add table` (the batch, atomic, then fails instead of
 * appending a second copy of every rule when the table exists); nothing when the
 * plan needs no table.
 */
export function freshTableBatch(table: TableDef): NftBatch {
  if (table.chains.length === 0) return { nftables: [] };
  const [, ...rest] = addTableBatch(table).nftables;
  return { nftables: [{ create: { table: TABLE } } as NftCommand, ...rest] };
}

/** nft delete table inet twine (send only when the table exists). */
export function deleteTableBatch(): NftBatch {
  return { nftables: [{ delete: { table: TABLE } }] };
}

interface LiveRule {
  handle: number;
  /** Match key: the full comment of a rule made by makeRule; undefined for a foreign rule (never matches). */
  key: string | undefined;
}

interface LiveChain {
  base?: { type: string; hook: string; prio: number; policy?: string };
  rules: LiveRule[];
}

/** The named counters of `nft -j list table inet twine` output. */
function liveCounters(live: NftBatch): Set<string> {
  const names = new Set<string>();
  for (const item of live.nftables) {
    const counter = (item as { counter?: NftExpr }).counter;
    if (counter && counter.family === TABLE_FAMILY && counter.table === TABLE_NAME) names.add(String(counter.name));
  }
  return names;
}

/** The chains and rules of `nft -j list table inet twine` output. */
function readLive(live: NftBatch): Map<string, LiveChain> {
  const chains = new Map<string, LiveChain>();
  for (const item of live.nftables) {
    const chain = (item as { chain?: NftExpr }).chain;
    if (chain && chain.family === TABLE_FAMILY && chain.table === TABLE_NAME) {
      const base = chain.hook !== undefined ? { type: String(chain.type), hook: String(chain.hook), prio: Number(chain.prio), ...(chain.policy !== undefined ? { policy: String(chain.policy) } : {}) } : undefined;
      chains.set(String(chain.name), { ...(base ? { base } : {}), rules: [] });
    }
  }
  for (const item of live.nftables) {
    const rule = (item as { rule?: NftExpr }).rule;
    if (rule && rule.family === TABLE_FAMILY && rule.table === TABLE_NAME) {
      const comment = typeof rule.comment === 'string' ? rule.comment : undefined;
      chains.get(String(rule.chain))?.rules.push({ handle: Number(rule.handle), key: ruleIdentity(comment) ? comment : undefined });
    }
  }
  return chains;
}

function sameBase(a: ChainDef['base'], b: LiveChain['base']): boolean {
  if (!a || !b) return !a && !b;
  return a.type === b.type && a.hook === b.hook && a.prio === b.prio && (b.policy ?? BASE_CHAIN_POLICY) === BASE_CHAIN_POLICY;
}

/**
 * Which live rule stays for each desired rule (its index in `live`, or -1), in
 * one pass over each list: a desired rule keeps the first live rule with its key
 * that comes after the last one kept, so what stays is in desired order. Keys of
 * Twine's rules are unique in a chain and never change places among themselves
 * (the compiler's order is fixed by the labels), so this keeps every rule an
 * ordered match could; a rule moved ahead of others would cost deleting those it
 * jumped over. O(n + m): each key's cursor only moves forward.
 */
function keptLive(live: (string | undefined)[], want: string[]): Int32Array {
  const at = new Map<string, { pos: number[]; next: number }>();
  live.forEach((k, i) => {
    if (k === undefined) return;
    const e = at.get(k);
    if (e) e.pos.push(i);
    else at.set(k, { pos: [i], next: 0 });
  });
  const kept = new Int32Array(want.length).fill(-1);
  let last = -1;
  want.forEach((k, j) => {
    const e = at.get(k);
    if (!e) return;
    while (e.next < e.pos.length && e.pos[e.next]! <= last) e.next++;
    if (e.next === e.pos.length) return;
    last = kept[j] = e.pos[e.next++]!;
  });
  return kept;
}

/**
 * The batch that turns the live table into the desired one. Rules are matched
 * by their identity comments (makeRule), in order (keptLive): those rules stay
 * (same handles), the other live rules are deleted by handle, and each missing
 * rule is inserted before the next rule that stays (or appended). Chains whose
 * hook or policy changed are recreated, chains no longer wanted are flushed and deleted,
 * and a desired table without chains deletes the table. Named counters are
 * added before the rules that use them and deleted after. No change →
 * {nftables: []}. A rule whose user comment changed is replaced (the whole
 * comment is its key).
 */
export function diffTable(desired: TableDef, live: NftBatch | null): NftBatch {
  if (!live) return desired.chains.length ? addTableBatch(desired) : { nftables: [] };
  if (!desired.chains.length) return deleteTableBatch();
  const liveChains = readLive(live);
  const deletes: NftCommand[] = [];
  const chainDrops: NftCommand[] = [];
  const chainAdds: NftCommand[] = [];
  const ruleAdds: NftCommand[] = [];
  const wanted = new Set(desired.chains.map((c) => c.name));
  const ref = (name: string): Record<string, unknown> => ({ family: TABLE_FAMILY, table: TABLE_NAME, name });

  for (const [name, lc] of liveChains) {
    if (wanted.has(name)) continue;
    for (const r of lc.rules) deletes.push({ delete: { rule: { family: TABLE_FAMILY, table: TABLE_NAME, chain: name, handle: r.handle } } });
    chainDrops.push({ delete: { chain: ref(name) } });
  }
  for (const c of desired.chains) {
    const lc = liveChains.get(c.name);
    if (lc && !sameBase(c.base, lc.base)) {
      // A chain's hook cannot be changed in place: recreate it.
      for (const r of lc.rules) deletes.push({ delete: { rule: { family: TABLE_FAMILY, table: TABLE_NAME, chain: c.name, handle: r.handle } } });
      chainDrops.push({ delete: { chain: ref(c.name) } });
    }
    if (!lc || !sameBase(c.base, lc.base)) {
      // A chain that is not there yet is created, not added: if another writer (a second
      // Twine) creates it between our listing and this commit, the batch fails (EEXIST)
      // instead of appending a second copy of its rules, and the applier diffs again.
      chainAdds.push(lc ? { add: { chain: chainObj(c) } } : { create: { chain: chainObj(c) } });
      for (const r of c.rules) ruleAdds.push({ add: { rule: ruleObj(c.name, r) } });
      continue;
    }
    const kept = keptLive(
      lc.rules.map((r) => r.key),
      c.rules.map((r) => r.comment),
    );
    const stays = new Uint8Array(lc.rules.length);
    for (const i of kept) if (i >= 0) stays[i] = 1;
    lc.rules.forEach((r, i) => {
      if (!stays[i]) deletes.push({ delete: { rule: { family: TABLE_FAMILY, table: TABLE_NAME, chain: c.name, handle: r.handle } } });
    });
    // Each missing rule goes before the next rule that stays (found walking backwards), or at the end;
    // rules inserted before the same anchor keep their order.
    const anchors = new Array<number | undefined>(c.rules.length);
    let anchor: number | undefined;
    for (let j = c.rules.length - 1; j >= 0; j--) {
      anchors[j] = anchor;
      const i = kept[j]!;
      if (i >= 0) anchor = lc.rules[i]!.handle;
    }
    c.rules.forEach((r, j) => {
      if (kept[j]! >= 0) return;
      const a = anchors[j];
      ruleAdds.push(a === undefined ? { add: { rule: ruleObj(c.name, r) } } : { insert: { rule: ruleObj(c.name, r, { handle: a }) } });
    });
  }
  const haveCounters = liveCounters(live);
  const wantCounters = new Set(desired.counters ?? []);
  const counterAdds: NftCommand[] = [...wantCounters].filter((n) => !haveCounters.has(n)).map((n) => ({ add: { counter: counterObj(n) } }));
  const counterDrops: NftCommand[] = [...haveCounters].filter((n) => !wantCounters.has(n)).map((n) => ({ delete: { counter: counterObj(n) } }));
  return { nftables: [...deletes, ...chainDrops, ...counterDrops, ...counterAdds, ...chainAdds, ...ruleAdds] };
}
