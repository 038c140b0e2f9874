// A NAT gateway's named counters (`killswitch`, `whitelist`) for the status API.
// They are read from the gateway's namespace by the native reader, never through
// libnftables (the gateway may write into its table), and at most once per
// COUNTER_READ_MS per container and process, one read for all of them: every
// API GET of a gateway asks, and any web page can make a browser on the host
// ask in a loop.

import { TABLE_FAMILY, TABLE_NAME } from '../firewall/nft.js';
import type { NetnsBackend, NftTableState } from '../netns/types.js';
import type { ContainerState } from './state.js';

/** How often one container's counter is read from its namespace at most (GETs in between get the last value). */
export const COUNTER_READ_MS = 2000;

/** Entries kept before old ones are dropped. */
const MAX_KEPT = 1024;

export class CounterReads {
  /** The last read of each container's counters (one read serves every counter of its table). */
  private readonly last = new Map<string, { at: number; pid: number; counters: Promise<NftTableState['counters'] | undefined> }>();

  constructor(private readonly netns: Pick<NetnsBackend, 'batch'>) {}

  /** The packets counter `name` of `c`'s table counted; undefined when its plan has none or the read failed. */
  async packets(c: ContainerState, name: string): Promise<number | undefined> {
    const plan = c.applied;
    if (!c.running || !plan?.table.counters?.includes(name)) return undefined;
    const counters = await this.countersOf(c.id, plan.container.pid);
    return counters?.find((k) => k.name === name)?.packets;
  }

  private countersOf(id: string, pid: number): Promise<NftTableState['counters'] | undefined> {
    const now = performance.now();
    const last = this.last.get(id);
    if (last && last.pid === pid && now - last.at < COUNTER_READ_MS) return last.counters;
    if (this.last.size >= MAX_KEPT) for (const [k, d] of this.last) if (now - d.at >= COUNTER_READ_MS) this.last.delete(k);
    const counters = this.read(pid).catch(() => undefined);
    this.last.set(id, { at: now, pid, counters });
    return counters;
  }

  private async read(pid: number): Promise<NftTableState['counters'] | undefined> {
    const out = await this.netns.batch({ pid }, [{ op: 'nftTableRead', table: { family: TABLE_FAMILY, name: TABLE_NAME } }]);
    if (out.failedAt !== undefined) throw out.error;
    return (out.results[0] as NftTableState | null)?.counters;
  }
}
