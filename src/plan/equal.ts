// When two plans are the same: the engine skips a confirming transaction when
// Docker's view gives the plan already applied, and re-writes the host routes
// only when they changed. The namespace target (`ns`) names where a plan goes,
// not what it is, so it is left out.

import type { Route } from '../netns/types.js';
import type { Plan } from './types.js';

/**
 * Deep equality of JSON-like values (what plans are made of). A property whose
 * value is undefined counts as absent, as in a plan saved as JSON; key order
 * does not matter.
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => sameValue(x, b[i]));
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const keys = Object.keys(x).filter((k) => x[k] !== undefined);
  if (keys.length !== Object.keys(y).filter((k) => y[k] !== undefined).length) return false;
  return keys.every((k) => sameValue(x[k], y[k]));
}

/** The parts of two plans that differ (`ns` aside), in the order of `a`'s keys. */
export function planPartsDiffering(a: Plan, b: Plan): (keyof Plan)[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)] as (keyof Plan)[]);
  keys.delete('ns');
  return [...keys].filter((k) => !sameValue(a[k], b[k]));
}

/** The same plan, whichever of the namespace's processes (`ns`) it targets. */
export function plansEqual(a: Plan, b: Plan): boolean {
  return planPartsDiffering(a, b).length === 0;
}

/** The same routes in the same order. */
export function sameRoutes(a: readonly Route[], b: readonly Route[]): boolean {
  return sameValue(a, b);
}
