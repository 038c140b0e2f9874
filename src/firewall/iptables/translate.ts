// A validated iptables rule (src/iptables/) → nft JSON statements for Twine's
// table, once its container references are resolved. emit.ts writes the
// statements.

import type { NftExpr } from '../nft.js';
import type { Family } from '../../net/ip.js';
import { UnresolvedRefError } from '../../errors.js';
import { emitRule } from './emit.js';
import type { ParsedRule } from '../../iptables/rule.js';

/** Addresses of a referenced container on the shared network, or undefined when it cannot be resolved now. */
export type RefResolver = (ref: string) => { v4?: string; v6?: string } | undefined;

/**
 * Translate to nft JSON statements for `table inet twine`. The user's comment
 * (-m comment) is returned separately: it goes into the rule's comment.
 * Throws when a reference cannot be resolved.
 *
 * Family: fixed by literals/protocols at parse time; otherwise IPv4 when every
 * reference has an IPv4 address, else IPv6 when every one has an IPv6 address.
 */
export function translateRule(rule: ParsedRule, resolve: RefResolver): { expr: NftExpr[]; comment?: string; family?: Family } {
  const d = rule.detail;
  const resolved = new Map<string, { v4?: string; v6?: string }>();
  for (const ref of rule.refs) {
    const a = resolve(ref);
    if (!a || (!a.v4 && !a.v6)) throw new UnresolvedRefError(ref, 'not running, or shares no network with this container');
    resolved.set(ref, a);
  }
  let family: Family = d.family ?? 4;
  if (d.family === undefined && rule.refs.length) {
    const all = [...resolved.values()];
    if (all.every((a) => a.v4)) family = 4;
    else if (all.every((a) => a.v6)) family = 6;
    else throw new UnresolvedRefError(rule.refs.join(', '), 'the references have no address family in common');
  }
  const addrOf = (ref: string, f: Family): string => {
    const a = resolved.get(ref);
    const ip = f === 4 ? a?.v4 : a?.v6;
    if (!ip) throw new UnresolvedRefError(ref, `has no IPv${f} address on a shared network (the rule is IPv${f})`);
    return ip;
  };
  const expr = emitRule(d, family, addrOf);
  return { expr, ...(d.comment !== undefined ? { comment: d.comment } : {}), family };
}
