// Containers a start path placed in the inventory before their start event (the
// early path or the runtime hook), until that event arrives: it then only
// checks what is in place. From the moment one is placed, Docker is still
// starting it, and a `docker inspect` would wait for that start to end; one of
// them holding the container's job while the runtime holds the start would
// stall both until the hook's timeout, so a network event of such a container
// queues no inspect. One whose start event never comes (its start failed) is
// re-read from Docker after START_EXPECTED_MS.

/** How long a container placed before its start may go without a start event before it is inspected. */
export const START_EXPECTED_MS = 10_000;

export interface AppliedEarly {
  /** The namespace it was applied in. */
  ino: number;
  /** When that transaction committed (ms since epoch). */
  committedAt: number;
}

interface Entry {
  /** Undefined while its transaction runs, or when it committed nothing. */
  applied: AppliedEarly | undefined;
  timer: NodeJS.Timeout;
}

export class EarlyApplied {
  private readonly byId = new Map<string, Entry>();

  /** `overdue` runs when no start event took the entry within START_EXPECTED_MS. */
  constructor(private readonly overdue: (id: string) => void) {}

  /** A start path placed the container and its transaction begins. */
  placed(id: string): void {
    this.take(id);
    const entry: Entry = { applied: undefined, timer: setTimeout(() => this.expire(id, entry), START_EXPECTED_MS) };
    entry.timer.unref();
    this.byId.set(id, entry);
  }

  /** Its transaction committed in namespace `ino`. */
  committed(id: string, ino: number, committedAt: number): void {
    const entry = this.byId.get(id);
    if (entry) entry.applied = { ino, committedAt };
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Forgets the container's entry and returns what was applied (its start event came, or it stopped). */
  take(id: string): AppliedEarly | undefined {
    const e = this.byId.get(id);
    if (!e) return undefined;
    clearTimeout(e.timer);
    this.byId.delete(id);
    return e.applied;
  }

  clear(): void {
    for (const id of [...this.byId.keys()]) this.take(id);
  }

  private expire(id: string, entry: Entry): void {
    if (this.byId.get(id) !== entry) return;
    this.byId.delete(id);
    this.overdue(id);
  }
}
