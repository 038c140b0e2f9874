// In-memory network namespaces for engine unit tests: what the fake netns
// backend and the fake nft transport read and write. A namespace is known by
// a key: `ino:<inode>` for a container's (the fake host opens it with its
// inode as the fd), `path:<file>` for one named by path (the host's).

import { NetlinkError } from '../../src/errors.js';
import type { NftBatch } from '../../src/firewall/nft.js';
import type { NsTarget, Route, Rule } from '../../src/netns/types.js';

export interface FakeNamespace {
  routes: Route[];
  rules: Rule[];
  sysctls: Map<string, string>;
  /** The twine table's objects as `nft -j list table` shows them; null: no table. */
  table: Record<string, unknown>[] | null;
}

/** One operation a fake made, in order: which, where, with what. */
export interface FakeCall {
  op: string;
  ns: string;
  arg?: unknown;
}

export class Namespaces {
  private readonly byKey = new Map<string, FakeNamespace>();
  /** Every operation of the netns backend and the nft transport, in order. */
  readonly calls: FakeCall[] = [];
  /** Keys whose namespace is gone: every operation there fails as the kernel's would (ESRCH). */
  readonly vanished = new Set<string>();
  /** Keys whose namespace holds more than a read may take: every read there fails as the native one would (ELIMIT). */
  readonly oversized = new Set<string>();
  /** pid → namespace key, for targets given by pid. */
  readonly pidKeys = new Map<number, string>();

  key(ns: NsTarget): string {
    if ('fd' in ns) return `ino:${ns.fd}`;
    if ('pid' in ns) return this.pidKeys.get(ns.pid) ?? `pid:${ns.pid}`;
    return `path:${ns.path}`;
  }

  get(key: string): FakeNamespace {
    let n = this.byKey.get(key);
    if (!n) {
      n = { routes: [], rules: [], sysctls: new Map(), table: null };
      this.byKey.set(key, n);
    }
    return n;
  }

  /** Records the call and returns its namespace; throws when that namespace vanished. */
  enter(op: string, target: NsTarget, arg?: unknown): FakeNamespace {
    const ns = this.key(target);
    this.calls.push({ op, ns, ...(arg !== undefined ? { arg } : {}) });
    // A pid with no process (pidKeys forgets a killed one) has no namespace to enter either.
    if (this.vanished.has(ns) || ns.startsWith('pid:')) throw new NetlinkError(`${op} in ${ns}: No such process`, 'ESRCH', 3, op, ns);
    return this.get(ns);
  }

  /** Calls made in one namespace (optionally only one kind). */
  callsIn(key: string, op?: string): FakeCall[] {
    return this.calls.filter((c) => c.ns === key && (op === undefined || c.op === op));
  }

  /** The nft batches sent to one namespace. */
  batchesIn(key: string): NftBatch[] {
    return this.callsIn(key, 'nft apply').map((c) => c.arg as NftBatch);
  }
}
