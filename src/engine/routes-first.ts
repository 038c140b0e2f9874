// Routes before nft commits. When many containers are re-planned at once (a
// gateway's dependents), each transaction's nft commit waits until no
// transaction is in its route phase (plan, observe, routes verified): every
// route goes in first, the commits follow, and libnftables runs those one at a
// time (ARCHITECTURE.md, "Dependents re-pointed"). A route phase never waits
// for a commit, so the commits always get their turn: at the latest when every
// queue place is held by a transaction waiting here.

export class RoutesFirst {
  private inside = 0;
  private waiters: Array<() => void> = [];

  /** Route phases running now. */
  get routing(): number {
    return this.inside;
  }

  /**
   * A transaction's route phase begins. The function returned ends it (only the
   * first call counts) and resolves once no route phase is running.
   */
  enter(): () => Promise<void> {
    this.inside++;
    let left = false;
    return () => {
      if (!left) {
        left = true;
        if (--this.inside === 0) {
          const ws = this.waiters;
          this.waiters = [];
          for (const w of ws) w();
        }
      }
      return this.inside === 0 ? Promise.resolve() : new Promise<void>((resolve) => this.waiters.push(resolve));
    };
  }
}
