// How a batch reaches a namespace's nftables: by spawning nft (exec) or
// in-process through libnftables (lib). Both take and return the same JSON.

import type { NsTarget } from '../netns/types.js';
import type { NftBatch } from './nft.js';

export interface NftTransport {
  readonly name: 'exec' | 'lib';
  /**
   * Batches run in the native backend's queue for their namespace, after every
   * route and sysctl operation submitted before them (lib); exec spawns nft at once.
   */
  readonly ordered: boolean;
  /** nft -j -f <batch>, inside the namespace; atomic. Throws NftError. */
  apply(ns: NsTarget, batch: NftBatch): Promise<void>;
  /**
   * nft -j list table <family> <name>, inside the namespace.
   * Resolves null when the table does not exist.
   */
  listTable(ns: NsTarget, family: string, name: string): Promise<NftBatch | null>;
}
