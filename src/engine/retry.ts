// Retries of what failed (a rolled-back transaction, a host route the kernel
// refused), per key, with exponential backoff: the first after RETRY_FIRST_MS,
// doubling up to RETRY_MAX_MS, until the key succeeds or is forgotten. The
// engine also retries every failed key at once on any Docker event that could
// fix it (see Engine.onEvent).

/** The first retry comes this long after the failure. */
export const RETRY_FIRST_MS = 1000;
/** Later retries double, up to this. */
export const RETRY_MAX_MS = 30_000;

export class RetrySchedule {
  private readonly pending = new Map<string, { attempt: number; timer: NodeJS.Timeout }>();

  constructor(
    /** Runs the retry (the engine queues a job). */
    private readonly run: (key: string, attempt: number) => void,
    private readonly firstMs = RETRY_FIRST_MS,
    private readonly maxMs = RETRY_MAX_MS,
  ) {}

  /** The key failed (again): retry it after the next backoff step. Returns the delay. */
  failed(key: string): number {
    const prev = this.pending.get(key);
    if (prev) clearTimeout(prev.timer);
    const attempt = (prev?.attempt ?? 0) + 1;
    const delay = Math.min(this.firstMs * 2 ** (attempt - 1), this.maxMs);
    const timer = setTimeout(() => this.run(key, attempt), delay);
    timer.unref();
    this.pending.set(key, { attempt, timer });
    return delay;
  }

  /** The key succeeded, stopped or went away: no more retries, and the backoff starts over. */
  forget(key: string): void {
    const p = this.pending.get(key);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(key);
  }

  /** Keys waiting for a retry. */
  keys(): string[] {
    return [...this.pending.keys()];
  }

  clear(): void {
    for (const k of this.keys()) this.forget(k);
  }
}
