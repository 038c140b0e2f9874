// Which conntrack entries a table change leaves stale. A DNAT rule only acts on
// a connection's first packet: once the entry exists, later packets follow it
// for as long as they keep it alive (a UDP flow sending every few seconds,
// forever). So when a table change drops a DNAT target (the forward's
// destination moved or went away), the entries DNAT'ed to it must go; and when
// a forward appears, entries of the same port that were not DNAT'ed (packets
// sent while the destination was down) must go too. Both lists come from the
// DNAT statements of the live table and of the desired one, so they hold after
// a Twine restart as well.

import type { ConntrackFilter } from '../netns/types.js';
import type { Family } from '../net/ip.js';
import { TABLE_FAMILY, TABLE_NAME, type NftBatch, type NftExpr, type TableDef } from './nft.js';

/** What one DNAT rule does: the connections it matches and where it sends them. */
export interface DnatTarget {
  family: Family;
  proto?: 'tcp' | 'udp';
  /** The destination port(s) matched. */
  dport?: [number, number];
  /** A destination prefix or address matched (e.g. 127.0.0.0/8 for a forward on lo). */
  origDst?: string;
  /** The address and port(s) the rule DNATs to. */
  addr: string;
  port?: [number, number];
}

function portRange(v: unknown): [number, number] | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return [v, v];
  const r = (v as { range?: unknown } | null)?.range;
  if (Array.isArray(r) && r.length === 2 && r.every((x) => typeof x === 'number' && Number.isInteger(x))) return [r[0] as number, r[1] as number];
  return undefined;
}

function cidrOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  const p = (v as { prefix?: { addr?: unknown; len?: unknown } } | null)?.prefix;
  if (p && typeof p.addr === 'string' && typeof p.len === 'number') return `${p.addr}/${p.len}`;
  return undefined;
}

/** The DNAT target of one rule's statements, or undefined when it has no DNAT to a plain address. */
export function dnatOf(expr: readonly NftExpr[]): DnatTarget | undefined {
  const stmt = expr.find((e) => e.dnat !== undefined)?.dnat as { family?: unknown; addr?: unknown; port?: unknown } | undefined;
  if (!stmt || typeof stmt.addr !== 'string') return undefined;
  const family: Family = stmt.family === 'ip6' || stmt.addr.includes(':') ? 6 : 4;
  const t: DnatTarget = { family, addr: stmt.addr };
  const port = portRange(stmt.port);
  if (port) t.port = port;
  for (const e of expr) {
    const m = e.match as { op?: unknown; left?: { payload?: { protocol?: unknown; field?: unknown } }; right?: unknown } | undefined;
    const p = m?.left?.payload;
    if (!m || m.op !== '==' || !p) continue;
    if ((p.protocol === 'tcp' || p.protocol === 'udp') && p.field === 'dport') {
      t.proto = p.protocol;
      const d = portRange(m.right);
      if (d) t.dport = d;
    } else if ((p.protocol === 'ip' || p.protocol === 'ip6') && p.field === 'daddr') {
      const c = cidrOf(m.right);
      if (c) t.origDst = c;
    }
  }
  return t;
}

function targetsOfDesired(t: TableDef): DnatTarget[] {
  return t.chains.flatMap((c) => c.rules.flatMap((r) => dnatOf(r.expr) ?? []));
}

function targetsOfLive(live: NftBatch): DnatTarget[] {
  const out: DnatTarget[] = [];
  for (const item of live.nftables) {
    const rule = (item as { rule?: { family?: unknown; table?: unknown; expr?: unknown } }).rule;
    if (!rule || rule.family !== TABLE_FAMILY || rule.table !== TABLE_NAME || !Array.isArray(rule.expr)) continue;
    const t = dnatOf(rule.expr as NftExpr[]);
    if (t) out.push(t);
  }
  return out;
}

const range = (r: [number, number] | undefined) => (r ? `${r[0]}-${r[1]}` : '*');
/** Where a rule sends connections. */
const toKey = (t: DnatTarget) => `${t.family}|${t.proto ?? '*'}|${t.addr}|${range(t.port)}`;
/** Which connections a rule takes. */
const fromKey = (t: DnatTarget) => `${t.family}|${t.proto ?? '*'}|${range(t.dport)}|${t.origDst ?? '*'}`;

/**
 * The conntrack deletions a table change calls for (after it is committed):
 * entries DNAT'ed to a target no desired rule has any more, entries DNAT'ed
 * from ports no desired rule takes any more (to a target still in use), and entries not
 * DNAT'ed that a newly added DNAT rule would have taken. `live` null: there is
 * no table (a namespace's first transaction has nothing to delete, and the
 * fresh path does not ask).
 */
export function staleConntrack(live: NftBatch | null, desired: TableDef): ConntrackFilter[] {
  // No table (never written, or deleted when the last rule went): every forward is new.
  const before = live ? targetsOfLive(live) : [];
  const after = targetsOfDesired(desired);
  const out: ConntrackFilter[] = [];
  const seen = new Set<string>();
  const push = (f: ConntrackFilter) => {
    const k = JSON.stringify(f);
    if (!seen.has(k)) {
      seen.add(k);
      out.push(f);
    }
  };
  const stillTo = new Set(after.map(toKey));
  const stillFrom = new Set(after.map(fromKey));
  for (const t of before) {
    if (!stillTo.has(toKey(t))) {
      push({ family: t.family, ...(t.proto ? { proto: t.proto } : {}), replySrc: t.addr, ...(t.port ? { replySport: t.port } : {}), dnat: true });
    } else if (!stillFrom.has(fromKey(t)) && t.proto && t.dport) {
      // Still a target, but no longer of these ports (a forwarded port that moved to another number).
      push({ family: t.family, proto: t.proto, origDport: t.dport, ...(t.origDst ? { origDst: t.origDst } : {}), dnat: true });
    }
  }
  const hadFrom = new Set(before.map(fromKey));
  for (const t of after) {
    if (hadFrom.has(fromKey(t)) || !t.proto || !t.dport) continue;
    push({ family: t.family, proto: t.proto, origDport: t.dport, ...(t.origDst ? { origDst: t.origDst } : {}), dnat: false });
  }
  return out;
}
