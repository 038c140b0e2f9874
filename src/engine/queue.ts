// A keyed work queue: jobs for the same key never run at the same time, and
// requests that arrive while a key is queued or running coalesce into one
// more run. At most `concurrency` keys run at once.
//
// A job may give its place up before it ends (`release`): it still holds its
// key, but the next key may start. The engine's transactions do so once their
// routes are in the kernel, so the routes of the next containers do not wait
// for the nft commits before them, which libnftables runs one at a time
// (ARCHITECTURE.md, "Dependents re-pointed"). At most `concurrency * TAIL_FACTOR`
// released jobs run on; beyond that `release` keeps the place.

/** `release()`: this run gives its place up (idempotent); the key stays busy until the run ends. */
export type Job<T> = (key: string, reasons: T[], release: () => void) => Promise<void>;

const TAIL_FACTOR = 8;

interface KeyState<T> {
  queued: boolean;
  running: boolean;
  reasons: T[];
  waiters: Array<() => void>;
}

export class KeyedQueue<T> {
  private readonly keys = new Map<string, KeyState<T>>();
  private readonly ready: string[] = [];
  private active = 0;
  /** Runs that gave their place up and have not ended. */
  private tailing = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly job: Job<T>,
    private readonly concurrency: number,
    private readonly onError: (key: string, err: unknown) => void,
  ) {}

  /** Ask for one more run of `key`; resolves when a run that started after this call has finished. */
  request(key: string, reason: T): Promise<void> {
    let st = this.keys.get(key);
    if (!st) {
      st = { queued: false, running: false, reasons: [], waiters: [] };
      this.keys.set(key, st);
    }
    st.reasons.push(reason);
    const done = new Promise<void>((resolve) => st.waiters.push(resolve));
    if (!st.queued) {
      st.queued = true;
      if (!st.running) this.ready.push(key);
    }
    this.pump();
    return done;
  }

  /** A run of `key` is under way (it may have given its place up). */
  running(key: string): boolean {
    return this.keys.get(key)?.running === true;
  }

  get pending(): number {
    return this.ready.length + this.active + this.tailing;
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.active < this.concurrency && this.ready.length > 0) {
      const key = this.ready.shift()!;
      const st = this.keys.get(key)!;
      st.queued = false;
      st.running = true;
      const reasons = st.reasons;
      const waiters = st.waiters;
      st.reasons = [];
      st.waiters = [];
      this.active++;
      let released = false;
      const release = (): void => {
        if (released || this.tailing >= this.concurrency * TAIL_FACTOR) return;
        released = true;
        this.active--;
        this.tailing++;
        this.pump();
      };
      void this.job(key, reasons, release)
        .catch((err: unknown) => this.onError(key, err))
        .finally(() => {
          if (released) this.tailing--;
          else this.active--;
          st.running = false;
          for (const w of waiters) w();
          if (st.queued) this.ready.push(key);
          else if (st.waiters.length === 0) this.keys.delete(key);
          this.pump();
          if (this.pending === 0) {
            const ws = this.idleWaiters;
            this.idleWaiters = [];
            for (const w of ws) w();
          }
        });
    }
  }
}
