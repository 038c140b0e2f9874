// One all-or-nothing transaction for one namespace: observe → diff → apply →
// verify, rolling back to what was observed when a step fails.
//
// Order matters for the leak window: routes and sysctls (cheap, netlink) go
// first, the nft batch (atomic) last; if the batch fails, routes and sysctls
// are put back, so the namespace is left as it was.

import { addTableBatch, diffTable } from '../firewall/batch.js';
import { TABLE_FAMILY, TABLE_NAME, type NftBatch } from '../firewall/nft.js';
import type { NftTransport } from '../firewall/transport.js';
import { TWINE_RT_PROTO, type NetnsBackend, type NsTarget, type Route } from '../netns/types.js';
import type { Plan, SysctlSetting } from '../plan/types.js';
import { TwineError } from '../errors.js';
import { diffRoutes, isEmpty, routeKey, type RouteChanges } from './route-diff.js';
import type { TxStages } from './state.js';

export interface TxOptions {
  /**
   * The namespace is new and Twine has never written to it (a start event):
   * nftables need not be listed, the first batch is add-only.
   */
  fresh: boolean;
}

export interface TxResult {
  routesReplaced: Route[];
  routesDeleted: Route[];
  sysctlsSet: SysctlSetting[];
  nftCommands: number;
  /** True when nothing had to change. */
  noop: boolean;
  stages: TxStages;
}

export class TransactionError extends TwineError {
  override name = 'TransactionError';
  constructor(
    message: string,
    readonly step: string,
    override readonly cause: unknown,
    readonly rollbackErrors: unknown[],
  ) {
    super(message);
  }
}

export interface Applier {
  netns: NetnsBackend;
  nft: NftTransport;
}

// The backend runs one namespace's operations one at a time, in the order they were
// submitted; submitting them all at once saves a round trip through the (busy) main
// thread per operation without changing their order.

async function applyRoutes(netns: NetnsBackend, ns: NsTarget, changes: RouteChanges): Promise<void> {
  await settleAll([...changes.replace.map((r) => netns.routeReplace(ns, r)), ...changes.del.map((r) => netns.routeDel(ns, r))]);
}

async function observeSysctls(netns: NetnsBackend, ns: NsTarget, keys: string[]): Promise<Map<string, string>> {
  const values = await settleAll(keys.map((k) => netns.sysctlGet(ns, k)));
  return new Map(keys.map((k, i) => [k, values[i]!.trim()]));
}

/** Like Promise.all, but waits for every operation before rejecting with the first error. */
async function settleAll<T>(ops: Promise<T>[]): Promise<T[]> {
  const r = await Promise.allSettled(ops);
  const failed = r.find((x): x is PromiseRejectedResult => x.status === 'rejected');
  if (failed) throw failed.reason;
  return r.map((x) => (x as PromiseFulfilledResult<T>).value);
}

/**
 * The add-only batch with `create table` instead of `add table`: the batch (atomic)
 * then fails instead of appending a second copy of every rule when the table exists.
 */
export function exclusive(batch: NftBatch): NftBatch {
  const [first, ...rest] = batch.nftables;
  const table = (first as { add?: { table?: unknown } } | undefined)?.add?.table;
  if (table === undefined) return batch;
  return { nftables: [{ create: { table } } as NftBatch['nftables'][number], ...rest] };
}

function tableExists(err: unknown): boolean {
  const e = err as { stderr?: unknown; message?: unknown; code?: unknown };
  return e.code === 'EEXIST' || /File exists/i.test(`${String(e.stderr ?? '')} ${String(e.message ?? '')}`);
}

/** Apply `plan` to its namespace. Throws TransactionError after rolling back. */
export async function applyPlan(a: Applier, plan: Plan, opts: TxOptions): Promise<TxResult> {
  const ns = plan.ns;
  const t0 = performance.now();

  // observe
  const [before, sysBefore, liveTable] = await Promise.all([
    a.netns.routeList(ns, { protocol: TWINE_RT_PROTO }),
    observeSysctls(a.netns, ns, plan.sysctls.map((s) => s.key)),
    opts.fresh ? null : a.nft.listTable(ns, TABLE_FAMILY, TABLE_NAME),
  ]);
  const t1 = performance.now();

  // diff
  const routes = diffRoutes(before, plan.routes, plan.defaultRoutes);
  const sysctls = plan.sysctls.filter((s) => sysBefore.get(s.key) !== s.value);
  let batch: NftBatch;
  if (liveTable === null) batch = plan.table.chains.length > 0 ? exclusive(addTableBatch(plan.table)) : { nftables: [] };
  else batch = diffTable(plan.table, liveTable);

  const result: TxResult = {
    routesReplaced: routes.replace,
    routesDeleted: routes.del,
    sysctlsSet: sysctls,
    nftCommands: batch.nftables.length,
    noop: isEmpty(routes) && sysctls.length === 0 && batch.nftables.length === 0,
    stages: { observeMs: t1 - t0, netlinkMs: 0, nftMs: 0, verifyMs: 0 },
  };
  if (result.noop) return result;

  const rollback = async (): Promise<unknown[]> => {
    const errors: unknown[] = [];
    try {
      const now = await a.netns.routeList(ns, { protocol: TWINE_RT_PROTO });
      const back = diffRoutes(now, before, plan.defaultRoutes);
      for (const r of back.replace) await a.netns.routeReplace(ns, r).catch((e: unknown) => errors.push(e));
      for (const r of back.del) await a.netns.routeDel(ns, r).catch((e: unknown) => errors.push(e));
    } catch (e) {
      errors.push(e);
    }
    for (const s of sysctls) {
      const old = sysBefore.get(s.key);
      if (old !== undefined) await a.netns.sysctlSet(ns, s.key, old).catch((e: unknown) => errors.push(e));
    }
    return errors;
  };

  const fail = async (step: string, err: unknown): Promise<never> => {
    const rollbackErrors = await rollback();
    const msg = err instanceof Error ? err.message : String(err);
    throw new TransactionError(`${step} failed: ${msg}`, step, err, rollbackErrors);
  };

  // apply: netlink first
  const t2 = performance.now();
  try {
    await Promise.all([applyRoutes(a.netns, ns, routes), settleAll(sysctls.map((s) => a.netns.sysctlSet(ns, s.key, s.value)))]);
  } catch (err) {
    return fail('netlink', err);
  }
  const t3 = performance.now();

  // verify the routes read back as planned before committing the firewall
  try {
    const after = await a.netns.routeList(ns, { protocol: TWINE_RT_PROTO });
    const missing = diffRoutes(after, plan.routes).replace.filter((r) => r.protocol === TWINE_RT_PROTO);
    if (missing.length > 0) {
      throw new TwineError(`routes not in the kernel after apply: ${missing.map(routeKey).join(', ')}`);
    }
  } catch (err) {
    return fail('verify', err);
  }
  const t4 = performance.now();

  if (batch.nftables.length > 0) {
    try {
      try {
        await a.nft.apply(ns, batch);
      } catch (err) {
        if (liveTable !== null || !tableExists(err)) throw err;
        // The add-only batch found the table already there (another writer got there
        // first, e.g. a second Twine): diff against it instead of adding a second copy.
        const live = await a.nft.listTable(ns, TABLE_FAMILY, TABLE_NAME);
        const again = live === null ? addTableBatch(plan.table) : diffTable(plan.table, live);
        if (again.nftables.length > 0) await a.nft.apply(ns, again);
        result.nftCommands = again.nftables.length;
      }
    } catch (err) {
      return fail('nft', err);
    }
  }
  const t5 = performance.now();
  result.stages.netlinkMs = t3 - t2;
  result.stages.verifyMs = t4 - t3;
  result.stages.nftMs = t5 - t4;
  return result;
}
