// An NftTransport over in-memory namespaces (./namespaces.ts): each batch is
// applied atomically to the namespace's twine table (create/add/insert/delete
// of the table, counters, chains and rules, with handles), and listTable
// answers in `nft -j list table` form, so the engine's diffs run as on a kernel.

import { NftError } from '../../src/errors.js';
import { TABLE_FAMILY, TABLE_NAME, type NftBatch } from '../../src/firewall/nft.js';
import type { NftTransport } from '../../src/firewall/transport.js';
import type { NsTarget } from '../../src/netns/types.js';
import type { Namespaces } from './namespaces.js';

type Obj = Record<string, unknown>;

export class FakeNft implements NftTransport {
  readonly name = 'lib' as const;
  readonly ordered = true;
  private handle = 1;
  /** Makes the next batches sent fail (NftError), e.g. to drive a rollback. */
  failNext = 0;

  constructor(private readonly spaces: Namespaces) {}

  async apply(ns: NsTarget, batch: NftBatch): Promise<void> {
    const n = this.spaces.enter('nft apply', ns, batch);
    if (this.failNext > 0) {
      this.failNext--;
      throw new NftError('nft: Error: injected failure', 'Error: injected failure', batch, 1);
    }
    n.table = this.run(n.table === null ? null : [...n.table], batch);
  }

  async listTable(ns: NsTarget, family: string, name: string): Promise<NftBatch | null> {
    const n = this.spaces.enter('nft list', ns);
    if (family !== TABLE_FAMILY || name !== TABLE_NAME || n.table === null) return null;
    return { nftables: [{ metainfo: { json_schema_version: 1 } }, ...n.table.map((o) => structuredClone(o))] };
  }

  /** The table after `batch`; throws (nothing changed) where nft would. */
  private run(start: Obj[] | null, batch: NftBatch): Obj[] | null {
    let t = start;
    const fail = (why: string): never => {
      throw new NftError(`nft: Error: ${why}`, `Error: ${why}`, batch, 1);
    };
    for (const cmd of batch.nftables as Obj[]) {
      const [verb, body] = Object.entries(cmd)[0] as [string, Obj];
      const [kind, o] = Object.entries(body)[0] as [string, Obj];
      if (kind === 'table') {
        if (verb === 'create' && t !== null) fail('Could not process rule: File exists');
        if (verb === 'delete') {
          if (t === null) fail('Could not process rule: No such file or directory');
          t = null;
        } else t ??= [{ table: { family: TABLE_FAMILY, name: TABLE_NAME, handle: this.handle++ } }];
        continue;
      }
      if (t === null) fail(`Could not process rule: No such file or directory (${verb} ${kind})`);
      const live = t!;
      const named = (k: string, name: unknown): number => live.findIndex((x) => (x[k] as Obj | undefined)?.name === name);
      if (kind === 'rule' && verb === 'delete') {
        const i = live.findIndex((x) => (x.rule as Obj | undefined)?.handle === o.handle);
        if (i < 0) fail('Could not process rule: No such file or directory (rule)');
        live.splice(i, 1);
      } else if (kind === 'rule') {
        // insert … handle H: before rule H; add: at the end.
        const before = verb === 'insert' ? live.findIndex((x) => (x.rule as Obj | undefined)?.handle === o.handle) : -1;
        const rule = { ...o, handle: this.handle++ };
        if (before >= 0) live.splice(before, 0, { rule });
        else live.push({ rule });
      } else if (verb === 'delete') {
        const i = named(kind, o.name);
        if (i < 0) fail(`Could not process rule: No such file or directory (${kind})`);
        live.splice(i, 1);
      } else if (named(kind, o.name) < 0) {
        // A named counter lists with what it counted: nothing, here.
        live.push({ [kind]: { ...o, handle: this.handle++, ...(kind === 'counter' ? { packets: 0, bytes: 0 } : {}) } });
      }
    }
    return t;
  }
}
