// A NAT gateway's named counters (`killswitch`, `whitelist`) for the status API.
// Each is read from the gateway's namespace by the native reader, never through
// libnftables (the gateway may write into its table), and at most once per
// COUNTER_READ_MS per container and process: every API GET of a gateway asks,
// and any web page can make a browser on the host ask in a loop.

import { TABLE_FAMILY, TABLE_NAME } from '../firewall/nft.js';
import type { NetnsBackend, NftTableState } from '../netns/types.js';
import type { ContainerState } from './state.js';

/** How often one container's counter is read from its namespace at most (GETs in between get the last value). */
export const COUNTER_READ_MS = 2000;

/** Entries kept before old ones are dropped. */
const MAX_KEPT = 1024;

export class CounterReads {
  private readonly last = new Map<string, { at: number; pid: number; value: Promise<number | undefined> }>();

  constructor(private readonly netns: Pick<NetnsBackend, 'batch'>) {}

  /** The packets counter `name` of `c`'s table counted; undefined when its plan has none or the read failed. */
  packets(c: ContainerState, name: string): Promise<number | undefined> {
    const now = performance.now();
    const pid = c.applied?.container.pid ?? 0;
    const key = `${c.id}/${name}`;
    const last = this.last.get(key);
    if (last && last.pid === pid && now - last.at < COUNTER_READ_MS) return last.value;
    if (this.last.size >= MAX_KEPT) for (const [k, d] of this.last) if (now - d.at >= COUNTER_READ_MS) this.last.delete(k);
    const value = this.read(c, name).catch(() => undefined);
    this.last.set(key, { at: now, pid, value });
    return value;
  }

  private async read(c: ContainerState, name: string): Promise<number | undefined> {
    const plan = c.applied;
    if (!c.running || !plan?.table.counters?.includes(name)) return undefined;
    const out = await this.netns.batch({ pid: plan.container.pid }, [{ op: 'nftTableRead', table: { family: TABLE_FAMILY, name: TABLE_NAME } }]);
    if (out.failedAt !== undefined) throw out.error;
    const state = out.results[0] as NftTableState | null;
    return state?.counters.find((k) => k.name === name)?.packets;
  }
}
