// NftTransport in-process: the addon runs the JSON through libnftables on a
// worker thread that entered the namespace (no process spawn), and frees the
// nft context off the hot path, late enough not to stall the namespace
// (closing it after a deleting batch waits for an RCU grace period and holds
// the namespace's commits meanwhile, native/nft_reaper.h). Same JSON in, same
// JSON out as exec.

import { NftError } from '../errors.js';
import { loadAddon } from '../netns/addon.js';
import { describeNs, toNetlinkError } from '../netns/backend.js';
import type { NativeBinding, NativeError } from '../netns/native.js';
import type { NsTarget } from '../netns/types.js';
import type { NftBatch } from './nft.js';
import type { NftTransport } from './transport.js';
import { serialQueue } from '../util/serial.js';

/** True when the addon loads and was built with libnftables. */
export function libTransportAvailable(): boolean {
  try {
    return loadAddon().nftAvailable && typeof loadAddon().nftRun === 'function';
  } catch {
    return false;
  }
}

/** nft's answer to listing a table that does not exist (not a namespace or rule error). */
function isNoSuchTable(text: string): boolean {
  return /^(?:\S+:\d+:\d+-\d+: )?Error: No such file or directory/.test(text.split('\n')[0] ?? '');
}

function nftText(err: unknown): string | undefined {
  const e = err as Partial<NativeError>;
  return e?.code === 'ENFT' ? (e.nftMessage ?? (err as Error).message) : undefined;
}

export function createLibTransport(): NftTransport {
  let binding: NativeBinding | undefined;
  // libnftables runs one at a time (its lock, native/nft_reaper.h): a second run
  // handed to the addon would only hold a worker, waiting, that the namespaces'
  // netlink batches need. So the runs wait here, in order, one in the addon at once.
  const oneAtATime = serialQueue();
  const nftRun = (ns: NsTarget, input: string): Promise<string> => {
    binding ??= loadAddon();
    const b = binding;
    if (!b.nftAvailable || !b.nftRun) throw new NftError('the native addon was built without libnftables; use the exec transport', '', null);
    return oneAtATime(() => b.nftRun!(ns, input));
  };

  /** Any addon failure as NftError: nft's own text, or the namespace error (kept as cause). */
  const fail = (what: string, ns: NsTarget, err: unknown, batch: unknown): NftError => {
    if (err instanceof NftError) return err;
    const text = nftText(err);
    if (text !== undefined) {
      return new NftError(`${what} in ${describeNs(ns)} failed: ${text.split('\n')[0] ?? ''}`, text, batch);
    }
    const cause = toNetlinkError(err, 'nftRun', ns);
    const message = cause instanceof Error ? cause.message : String(cause);
    const e = new NftError(`${what} in ${describeNs(ns)} failed: ${message}`, message, batch);
    (e as Error).cause = cause;
    return e;
  };

  return {
    name: 'lib',
    ordered: true,

    async apply(ns: NsTarget, batch: NftBatch): Promise<void> {
      if (batch.nftables.length === 0) return;
      try {
        await nftRun(ns, JSON.stringify(batch));
      } catch (err) {
        throw fail('nft batch', ns, err, batch);
      }
    },

    async listTable(ns: NsTarget, family: string, name: string): Promise<NftBatch | null> {
      const cmd = JSON.stringify({ nftables: [{ list: { table: { family, name } } }] });
      let out: string;
      try {
        out = await nftRun(ns, cmd);
      } catch (err) {
        const text = nftText(err);
        if (text !== undefined && isNoSuchTable(text)) return null;
        throw fail(`nft list table ${family} ${name}`, ns, err, null);
      }
      try {
        return JSON.parse(out) as NftBatch;
      } catch (e) {
        throw new NftError(`nft list table ${family} ${name}: unparsable output (${(e as Error).message})`, out, null);
      }
    },
  };
}
