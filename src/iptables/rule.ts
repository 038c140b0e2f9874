// The iptables options of a twine.iptables.rule.* label, validated: the work
// is split into tokenize.ts (words), parse.ts (validation, every error named
// by option), addr.ts (addresses and container references) and model.ts (the
// validated form). Nothing here knows nft; firewall/iptables/ translates a
// ParsedRule into nft statements.

import type { TwineChain } from './chains.js';
import type { RuleDetail } from './model.js';
import { parseDetail } from './parse.js';

/** A validated rule whose container references are not yet resolved. */
export interface ParsedRule {
  chain: TwineChain;
  /** Container names used in -s/-d, to resolve like a route destination. */
  refs: string[];
  readonly detail: RuleDetail;
}

/** Validate iptables options for one of the TWINE_* chains. Returns every problem found, each naming the option. */
export function parseRule(chain: TwineChain, args: string[]): { rule: ParsedRule } | { errors: string[] } {
  const r = parseDetail(chain, args);
  if ('errors' in r) return r;
  return { rule: { chain, refs: r.refs, detail: r.detail } };
}
