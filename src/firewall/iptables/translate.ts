// Contract of the iptables-options → nft JSON translator (twine.iptables.rule.*).
// STUB: the signatures are fixed; the implementation lands with the translator.

import type { NftExpr } from '../nft.js';
import type { TwineChain } from '../../labels/spec.js';
import type { Family } from '../../netns/types.js';

/** A validated rule whose container references are not yet resolved. */
export interface ParsedRule {
  chain: TwineChain;
  /** Container names used in -s/-d, to resolve like a route destination. */
  refs: string[];
  /** Opaque to callers; the translator's own representation. */
  readonly detail: unknown;
}

/** Split a label value into words, honouring '…' and "…" quoting (for --comment "a b"). Never runs a shell. */
export function tokenize(_value: string): string[] {
  throw new Error('not implemented');
}

/** Validate iptables options for one of the TWINE_* chains. Returns every problem found, each naming the option. */
export function parseRule(_chain: TwineChain, _args: string[]): { rule: ParsedRule } | { errors: string[] } {
  throw new Error('not implemented');
}

/** Addresses of a referenced container on the shared network, or undefined when it cannot be resolved now. */
export type RefResolver = (ref: string) => { v4?: string; v6?: string } | undefined;

/**
 * Translate to nft JSON statements for `table inet twine`. The user's comment
 * (-m comment) is returned separately: it goes into the rule's comment.
 * Throws when a reference cannot be resolved.
 */
export function translateRule(_rule: ParsedRule, _resolve: RefResolver): { expr: NftExpr[]; comment?: string; family?: Family } {
  throw new Error('not implemented');
}
