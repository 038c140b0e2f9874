// NftTransport by spawning nft inside the namespace:
//   nsenter --net=<ns> nft -j '<json>'          (small batches)
//   nsenter --net=<ns> nft -j -f <file>         (large ones; 0600 temp file)
// `nft -j -f -` fails with ENXIO when stdin is a Node pipe (a socketpair), so
// stdin is never used. Argument arrays only: nothing goes through a shell.
//
// A namespace handle (an open namespace file, ../netns/handle.ts) is handed to
// the child as its fd 3 and entered as --net=/proc/self/fd/3: nsenter opens
// the file that fd already is (a magic link, not a lookup by pid), so the
// child lands in the handle's namespace even if the container's pid has been
// reused meanwhile. (Node cannot run setns between fork and exec; nsenter is
// that step.)

import { randomUUID } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NftError } from '../errors.js';
import type { NsTarget } from '../netns/types.js';
import type { NftBatch } from './nft.js';
import type { NftTransport } from './transport.js';

export interface ExecTransportOptions {
  nsenter?: string;
  nft?: string;
  /** Batches whose JSON is longer go through a temp file (one argv string may hold 128 KiB). */
  maxArgBytes?: number;
  tmpDir?: string;
}

/** The child's fd that carries a namespace handle. */
const NS_FD = 3;

/** The namespace file nsenter opens (in the child, for a handle). */
export function nsPath(ns: NsTarget): string {
  if ('fd' in ns) return `/proc/self/fd/${NS_FD}`;
  return 'pid' in ns ? `/proc/${ns.pid}/ns/net` : ns.path;
}

/** How errors name the namespace. */
function nsName(ns: NsTarget): string {
  return 'fd' in ns ? ns.name : nsPath(ns);
}

/** nft's "no such table" (not nsenter's "cannot open <ns>"). */
function isNoSuchTable(stderr: string): boolean {
  return /^Error: No such file or directory/m.test(stderr) && !/^nsenter:/m.test(stderr);
}

export function createExecTransport(opts: ExecTransportOptions = {}): NftTransport {
  const nsenter = opts.nsenter ?? 'nsenter';
  const nft = opts.nft ?? 'nft';
  const maxArg = opts.maxArgBytes ?? 100_000;

  // execa is loaded on first use: importing it costs ~100 ms of start-up, which the
  // lib transport (the default) never needs.
  const run = async (ns: NsTarget, args: string[]) => {
    const { execa } = await import('execa');
    // execa's types name fds 3-9 only; any of the parent's fds is passed on (Node's spawn does it).
    const stdio = 'fd' in ns ? (['ignore', 'pipe', 'pipe', ns.fd as 3] as const) : (['ignore', 'pipe', 'pipe'] as const);
    return execa(nsenter, [`--net=${nsPath(ns)}`, nft, ...args], { reject: false, stdio, stripFinalNewline: true });
  };

  return {
    name: 'exec',
    ordered: false,

    async apply(ns: NsTarget, batch: NftBatch): Promise<void> {
      if (batch.nftables.length === 0) return;
      const json = JSON.stringify(batch);
      let file: string | undefined;
      try {
        let args: string[];
        if (Buffer.byteLength(json) <= maxArg) args = ['-j', json];
        else {
          file = join(opts.tmpDir ?? tmpdir(), `twine-nft-${process.pid}-${randomUUID()}.json`);
          const fh = await open(file, 'wx', 0o600);
          try {
            await fh.writeFile(json);
          } finally {
            await fh.close();
          }
          args = ['-j', '-f', file];
        }
        const r = await run(ns, args);
        if (r.exitCode !== 0 || r.failed) {
          const stderr = String(r.stderr ?? '');
          throw new NftError(`nft -j in ${nsName(ns)} failed (exit ${r.exitCode ?? 'none'}): ${stderr.split('\n')[0] ?? ''}`, stderr, batch, r.exitCode);
        }
      } finally {
        if (file) await unlink(file).catch(() => undefined);
      }
    },

    async listTable(ns: NsTarget, family: string, name: string): Promise<NftBatch | null> {
      const r = await run(ns, ['-j', 'list', 'table', family, name]);
      const stderr = String(r.stderr ?? '');
      if (r.exitCode !== 0 || r.failed) {
        if (r.exitCode === 1 && isNoSuchTable(stderr)) return null;
        throw new NftError(`nft -j list table ${family} ${name} in ${nsName(ns)} failed (exit ${r.exitCode ?? 'none'}): ${stderr.split('\n')[0] ?? ''}`, stderr, null, r.exitCode);
      }
      try {
        return JSON.parse(String(r.stdout)) as NftBatch;
      } catch (e) {
        throw new NftError(`nft -j list table ${family} ${name}: unparsable output (${(e as Error).message})`, stderr, null, r.exitCode);
      }
    },
  };
}
