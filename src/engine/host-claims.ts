// Which container holds which host-route prefix. The first container to claim
// a prefix keeps it while it runs; a container claiming a prefix that
// overlaps one held by another (the more specific route would take part of
// the holder's traffic) is refused with a conflict naming both, and re-planned
// when the holder lets go.

import { cidrsOverlap, cidrText, parseCidr, type Cidr } from '../net/cidr.js';

export interface Holder {
  id: string;
  name: string;
}

export interface Conflict {
  cidr: Cidr;
  held: Cidr;
  holder: Holder;
}

export class HostClaims {
  private readonly byContainer = new Map<string, { name: string; cidrs: Cidr[] }>();
  /** Containers refused for a conflict, to re-plan when a prefix is let go. */
  private readonly waiting = new Set<string>();

  /** The prefixes others hold that overlap what `id` asks for. */
  conflicts(id: string, cidrs: readonly Cidr[]): Conflict[] {
    const out: Conflict[] = [];
    for (const cidr of cidrs) {
      for (const [other, claim] of this.byContainer) {
        if (other === id) continue;
        const held = claim.cidrs.find((h) => cidrsOverlap(h, cidr));
        if (held) {
          out.push({ cidr, held, holder: { id: other, name: claim.name } });
          break;
        }
      }
    }
    return out;
  }

  /** `id` now holds exactly `cidrs`; returns the containers to re-plan when it let some go. */
  set(id: string, name: string, cidrs: readonly Cidr[]): string[] {
    const before = this.byContainer.get(id)?.cidrs ?? [];
    this.waiting.delete(id);
    if (cidrs.length > 0) this.byContainer.set(id, { name, cidrs: [...cidrs] });
    else this.byContainer.delete(id);
    const kept = new Set(cidrs.map(cidrText));
    return before.some((c) => !kept.has(cidrText(c))) ? this.takeWaiting() : [];
  }

  /** `id` holds nothing any more (stopped, gone, refused); returns the containers to re-plan. */
  release(id: string): string[] {
    this.waiting.delete(id);
    return this.byContainer.delete(id) ? this.takeWaiting() : [];
  }

  /** `id` was refused for a conflict: re-plan it when a prefix is let go. */
  wait(id: string): void {
    this.waiting.add(id);
  }

  /** Does `id` hold the prefix `dst` ("10.0.0.0/8")? */
  holds(id: string, dst: string): boolean {
    const c = parseCidr(dst);
    return typeof c !== 'string' && (this.byContainer.get(id)?.cidrs.some((h) => cidrText(h) === cidrText(c)) ?? false);
  }

  private takeWaiting(): string[] {
    const ids = [...this.waiting];
    this.waiting.clear();
    return ids;
  }
}

/** The conflict as the label error's reason. */
export function conflictReason(name: string, c: Conflict): string {
  const same = cidrText(c.cidr) === cidrText(c.held);
  return (
    `${cidrText(c.cidr)} conflicts with container ${c.holder.name}, which holds ${same ? 'it' : `the overlapping ${cidrText(c.held)}`} ` +
    `and keeps it: the first to claim a prefix holds it while it runs; ${name}'s claim is refused`
  );
}
