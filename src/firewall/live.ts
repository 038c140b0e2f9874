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
import { TABLE_FAMILY, TABLE_NAME, type NftBatch, type NftCommand, type NftExpr, type TableDef } from './nft.js';

export interface LiveTable {
  /** null: no table. */
  live: NftBatch | null;
  /** Every rule's statements are known (always true without a table). */
  complete: boolean;
}

export function liveTable(state: NftTableState | null, known: readonly (TableDef | undefined)[]): LiveTable {
  if (state === null) return { live: null, complete: true };
  const exprs = new Map<string, NftExpr[]>();
  for (const t of known) for (const c of t?.chains ?? []) for (const r of c.rules) exprs.set(`${c.name}\0${r.comment}`, r.expr);
  const at = { family: TABLE_FAMILY, table: TABLE_NAME };
  const items: NftCommand[] = [{ table: { family: TABLE_FAMILY, name: TABLE_NAME } }];
  for (const k of state.counters) items.push({ counter: { ...at, name: k.name, packets: k.packets, bytes: k.bytes } });
  for (const c of state.chains) {
    items.push({ chain: { ...at, name: c.name, ...(c.hook !== undefined ? { type: c.type, hook: c.hook, prio: c.prio } : {}) } });
  }
  let complete = true;
  for (const r of state.rules) {
    const expr = r.comment === undefined ? undefined : exprs.get(`${r.chain}\0${r.comment}`);
    if (!expr) complete = false;
    items.push({ rule: { ...at, chain: r.chain, handle: r.handle, ...(r.comment !== undefined ? { comment: r.comment } : {}), ...(expr ? { expr } : {}) } });
  }
  return { live: { nftables: items }, complete };
}
