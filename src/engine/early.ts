// Containers applied before their start event (by the early path or the
// runtime hook), until that event arrives: it then only checks what is in
// place. A container whose start event never comes (its start failed) is
// re-read from Docker after START_EXPECTED_MS.

/** How long a container applied before its start may go without a start event before it is inspected. */
export const START_EXPECTED_MS = 10_000;

export interface AppliedEarly {
  /** The namespace it was applied in. */
  ino: number;
  /** When that transaction committed (ms since epoch). */
  committedAt: number;
}

export class EarlyApplied {
  private readonly byId = new Map<string, AppliedEarly & { timer: NodeJS.Timeout }>();

  /** `overdue` runs when no start event took the entry within START_EXPECTED_MS. */
  constructor(private readonly overdue: (id: string) => void) {}

  remember(id: string, ino: number, committedAt: number): void {
    this.take(id);
    const timer = setTimeout(() => {
      if (this.byId.get(id)?.committedAt !== committedAt) return;
      this.byId.delete(id);
      this.overdue(id);
    }, START_EXPECTED_MS);
    timer.unref();
    this.byId.set(id, { ino, committedAt, timer });
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Forgets the container's entry and returns it (its start event came, or it stopped). */
  take(id: string): AppliedEarly | undefined {
    const e = this.byId.get(id);
    if (!e) return undefined;
    clearTimeout(e.timer);
    this.byId.delete(id);
    return { ino: e.ino, committedAt: e.committedAt };
  }

  clear(): void {
    for (const id of [...this.byId.keys()]) this.take(id);
  }
}
