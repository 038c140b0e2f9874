// One all-or-nothing transaction for one namespace: observe → diff → apply →
// verify, rolling back to what was observed when a step fails.
//
// Order matters for the leak window: routes and sysctls (cheap, netlink) go
// first, the nft batch (atomic) last; if the batch fails, routes and sysctls
// are put back, so the namespace is left as it was.

import { addTableBatch, diffTable, freshTableBatch } from '../firewall/batch.js';
import { staleConntrack } from '../firewall/dnat.js';
import { TABLE_FAMILY, TABLE_NAME, type NftBatch, type TableDef } from '../firewall/nft.js';
import { expectedHashes, liveTable, ruleHashesOf, ruleHashesOfState, tableInSync, tableSignature, type RuleHashes } from '../firewall/live.js';
import type { NftTransport } from '../firewall/transport.js';
import { TWINE_RT_PROTO, type BatchOutcome, type ConntrackFilter, type NetnsBackend, type NftTableState, type NsStep, type NsTarget, type Route, type Rule } from '../netns/types.js';
import type { Plan, SysctlSetting } from '../plan/types.js';
import { TransactionError, TwineError, type TransactionStep } from '../errors.js';
import { openNsHandle } from '../netns/handle.js';
import { diffRoutes, diffRules, isEmpty, routeKey, type RouteChanges } from './route-diff.js';
import { applyRoutesBestEffort } from './route-apply.js';
import type { TxStages } from './state.js';

export interface TxOptions {
  /**
   * The namespace is new and Twine has never written to it (a start event):
   * nftables need not be listed, the first batch is add-only.
   */
  fresh: boolean;
  /**
   * The table Twine last committed there, when it knows it: the live rules whose
   * identity it holds need no listing of their statements (../firewall/live.ts).
   */
  known?: TableDef;
  /**
   * The routes Twine last committed there, when it knows them: the plan's routes
   * that differ from these are written in the observe batch itself, right after
   * its reads (a re-pointed route costs one round trip, not two); the diff then
   * starts from the routes read after those writes, and a rollback goes back to
   * the routes read before them.
   */
  lastRoutes?: Route[];
  /**
   * The hashes of Twine's rules as the kernel encoded them right after Twine's
   * last commit in this very namespace: a rule replaced in place since (its
   * comment kept, its statements changed) is then found and repaired.
   */
  knownHashes?: RuleHashes;
  /**
   * Called once the routes, rules and sysctls are in the kernel and verified;
   * the nft batch is committed once the promise it returns resolves (the
   * engine lets the next containers' routes go first, ./queue.ts).
   */
  routesDone?: () => Promise<void>;
}

export interface TxResult {
  routesReplaced: Route[];
  routesDeleted: Route[];
  sysctlsSet: SysctlSetting[];
  nftCommands: number;
  /** True when nothing had to change. */
  noop: boolean;
  stages: TxStages;
  /** Conntrack entries deleted after the table change (a forward's destination moved, went or came). */
  conntrackDeleted?: number;
  /** Why deleting them failed; the transaction itself stands (its table is committed). */
  conntrackError?: unknown;
  /** The hashes of Twine's rules now in the kernel (TxOptions.knownHashes of the next transaction); undefined: not known. */
  ruleHashes?: RuleHashes;
}

export interface Applier {
  netns: NetnsBackend;
  nft: NftTransport;
}

// Reads and writes over netlink go to the backend as one batch each: one entry into the
// namespace and one round trip through the (busy) main thread instead of one per operation.

/** Twine's routes (every table: its reply table too) and policy rules: what a transaction reads back. */
const TWINE_ROUTES: NsStep = { op: 'routeList', filter: { protocol: TWINE_RT_PROTO, table: 0 } };
const TWINE_RULES: NsStep = { op: 'ruleList', filter: { protocol: TWINE_RT_PROTO } };

/**
 * Twine's nft table over nfnetlink (chains, rules' handles, comments and
 * hashes, counters), or `true` when it is `desired` with the rules' hashes
 * `hashes` (the read compares it itself), or the rules' hashes (a string)
 * when it is `desired` by name and not every hash is known.
 */
function twineTable(desired: TableDef, hashes?: RuleHashes): NsStep {
  const expect = tableSignature(desired);
  const expectHashes = expect !== undefined && hashes ? expectedHashes(desired, hashes) : undefined;
  return { op: 'nftTableRead', table: { family: TABLE_FAMILY, name: TABLE_NAME }, ...(expect !== undefined ? { expect } : {}), ...(expectHashes !== undefined ? { expectHashes } : {}) };
}

/** The table a read gave (../netns/types.ts NsStep nftTableRead), as the rules' hashes it shows in sync with `desired`; undefined: it is not. */
function hashesInSync(desired: TableDef, read: unknown, known: RuleHashes | undefined): RuleHashes | undefined {
  if (read === true) return known;
  if (typeof read === 'string') return ruleHashesOf(desired, read);
  return undefined;
}

/**
 * Reads Twine's table back right after a commit: the kernel's encoding of the
 * rules just written is what later reads must find (result.ruleHashes). None
 * when the table is not the plan's by name (another writer got in between:
 * nothing is recorded, and the next read compares names only) or the read failed.
 */
async function recordHashes(a: Applier, ns: NsTarget, desired: TableDef, result: TxResult): Promise<void> {
  delete result.ruleHashes;
  if (desired.chains.length === 0) return;
  const out = await a.netns.batch(ns, [twineTable(desired)]).catch((): BatchOutcome => ({ results: [], failedAt: 0 }));
  const hashes = out.failedAt === undefined ? hashesInSync(desired, out.results[0], undefined) : undefined;
  if (hashes) result.ruleHashes = hashes;
}

function tableExists(err: unknown): boolean {
  const e = err as { stderr?: unknown; message?: unknown; code?: unknown };
  return e.code === 'EEXIST' || /File exists/i.test(`${String(e.stderr ?? '')} ${String(e.message ?? '')}`);
}

/** Twine's routes in the kernel that the plan wants and are not there, as an error; undefined when none. */
function missingRoutes(after: Route[], plan: Plan): TwineError | undefined {
  const missing = diffRoutes(after, plan.routes).replace.filter((r) => r.protocol === TWINE_RT_PROTO);
  return missing.length > 0 ? new TwineError(`routes not in the kernel after apply: ${missing.map(routeKey).join(', ')}`) : undefined;
}

/**
 * The batch found the table, or a chain it creates, already there (another writer
 * got there first, e.g. a second Twine): diff against what is there now instead of
 * adding a second copy. The table is read natively (libnftables only writes:
 * it parses nothing a container may have written). Returns the number of
 * commands sent.
 */
async function applyOverExisting(a: Applier, ns: NsTarget, plan: Plan): Promise<number> {
  const read = await a.netns.batch(ns, [twineTable(plan.table)]);
  if (read.failedAt !== undefined) throw read.error;
  const state = read.results[0];
  if (state === true || typeof state === 'string') return 0;
  const live = liveTable(state as NftTableState | null, [plan.table]).live;
  const again = live === null ? addTableBatch(plan.table) : diffTable(plan.table, live);
  if (again.nftables.length > 0) await a.nft.apply(ns, again);
  return again.nftables.length;
}

/**
 * Puts Twine's routes back as they were (`before`; Docker's default route where
 * Twine had replaced it) and every sysctl the plan changed back to the value read
 * before. Returns what failed on the way; it never throws.
 */
async function restore(a: Applier, plan: Plan, before: TwineRouting, oldValues: ReadonlyMap<string, string>): Promise<unknown[]> {
  const ns = plan.ns;
  const errors: unknown[] = [];
  try {
    const now = await a.netns.routeList(ns, { protocol: TWINE_RT_PROTO, table: 0 });
    const back = await applyRoutesBestEffort(a.netns, ns, diffRoutes(now, before.routes, plan.defaultRoutes));
    errors.push(...back.failures.map((f) => f.error));
  } catch (e) {
    errors.push(e);
  }
  try {
    const now = await a.netns.batch(ns, [TWINE_RULES]);
    if (now.failedAt !== undefined) throw now.error;
    const back = diffRules(now.results[0] as Rule[], before.rules);
    const steps = [...back.add.map((rule): NsStep => ({ op: 'ruleAdd', rule })), ...back.del.map((rule): NsStep => ({ op: 'ruleDel', rule }))];
    // One at a time, so one that fails does not keep the others from running.
    for (const st of steps) {
      const out = await a.netns.batch(ns, [st]).catch((e: unknown): BatchOutcome => ({ results: [], failedAt: 0, error: e }));
      if (out.failedAt !== undefined) errors.push(out.error);
    }
  } catch (e) {
    errors.push(e);
  }
  for (const s of plan.sysctls) {
    const old = oldValues.get(s.key);
    if (old !== undefined && old !== s.value) await a.netns.sysctlSet(ns, s.key, old).catch((e: unknown) => errors.push(e));
  }
  return errors;
}

function txError(step: TransactionStep, err: unknown, rollbackErrors: unknown[]): TransactionError {
  const msg = err instanceof Error ? err.message : String(err);
  return new TransactionError(`${step} failed: ${msg}`, step, err, rollbackErrors);
}

/**
 * Apply `plan` to its namespace. Throws TransactionError after rolling back.
 * Every step goes through one handle: plan.ns when it is one (the engine's,
 * already checked), else one opened here for the whole transaction.
 */
export async function applyPlan(a: Applier, plan: Plan, opts: TxOptions): Promise<TxResult> {
  if ('fd' in plan.ns) return apply(a, plan, opts.fresh ? FRESH : await observe(a, plan, opts), opts.routesDone);
  const handle = openNsHandle(plan.ns);
  try {
    return await applyPlan(a, { ...plan, ns: handle.target }, opts);
  } finally {
    // Every operation on it has settled: each step, and each failure path, is awaited.
    handle.close();
  }
}

/** Twine's routes and policy rules in a namespace. */
interface TwineRouting {
  routes: Route[];
  rules: Rule[];
}

/** None: a fresh namespace's, and what a rollback there restores. */
const NO_ROUTING: TwineRouting = { routes: [], rules: [] };

/**
 * What is known of the namespace before the transaction writes: nothing when it
 * is fresh (Twine has never written to it, a start event: there is no observe
 * round trip), else what the observe batch read.
 */
type Known = { kind: 'fresh' } | Observed;

const FRESH: Known = { kind: 'fresh' };

/** `routes` and `rules`: as found before the transaction wrote anything (what a rollback restores). */
interface Observed extends TwineRouting {
  kind: 'observed';
  /** Routes the observe batch already replaced (TxOptions.lastRoutes), and Twine's routes read right after. */
  early?: { replaced: Route[]; now: Route[] };
  /** The plan's sysctls as read. */
  sysctls: ReadonlyMap<string, string>;
  table: ObservedTable;
  observeMs: number;
}

/**
 * Twine's live table: the plan's already (no nft batch; `hashes`: the rules'
 * hashes the read found in sync, when known), or the one to diff against
 * (`live` null: there is none).
 */
type ObservedTable = { inSync: true; hashes?: RuleHashes } | { inSync: false; live: NftBatch | null };

/**
 * Twine's routes, rules, table and the plan's sysctls in one backend batch (one
 * entry into the namespace). The table comes without rule statements; those of
 * rules known by identity (the plan's, the last committed table's) are filled
 * in, and only when the table must change and holds a rule Twine does not know
 * is it listed through the nft transport (the conntrack clean-up reads the
 * statements of the rules that go).
 */
async function observe(a: Applier, plan: Plan, opts: TxOptions): Promise<Known> {
  const { known: last, lastRoutes, knownHashes } = opts;
  const t0 = performance.now();
  const keys = plan.sysctls.map((s) => s.key);
  const reads: NsStep[] = [TWINE_ROUTES, TWINE_RULES, twineTable(plan.table, knownHashes), ...keys.map((key): NsStep => ({ op: 'sysctlGet', key }))];
  // Only replacements of the plan's own routes: idempotent, and right whatever the reads find.
  const early = lastRoutes ? diffRoutes(lastRoutes, plan.routes).replace : [];
  const writes: NsStep[] = early.length > 0 ? [...early.map((route): NsStep => ({ op: 'routeReplace', route })), TWINE_ROUTES] : [];
  const out = await a.netns.batch(plan.ns, [...reads, ...writes]);
  if (out.failedAt !== undefined) {
    if (out.failedAt < reads.length) throw out.error;
    // An early write failed: put back the routes read before it, as any failed transaction does.
    const before: TwineRouting = { routes: out.results[0] as Route[], rules: out.results[1] as Rule[] };
    throw txError('netlink', out.error, await restore(a, { ...plan, sysctls: [] }, before, new Map()));
  }
  const sysctls = new Map(keys.map((k, i) => [k, String(out.results[i + 3]).trim()]));
  const routes = out.results[0] as Route[];
  const rules = out.results[1] as Rule[];
  const seenEarly = writes.length > 0 ? { early: { replaced: early, now: out.results[out.results.length - 1] as Route[] } } : {};
  const table = observedTable(plan.table, out.results[2], last, knownHashes);
  return { kind: 'observed', routes, rules, ...seenEarly, sysctls, table, observeMs: performance.now() - t0 };
}

/** The observe batch's read of Twine's table (../netns/types.ts NsStep nftTableRead), against the plan's. */
function observedTable(desired: TableDef, read: unknown, last: TableDef | undefined, knownHashes: RuleHashes | undefined): ObservedTable {
  // The common case (every resync, every confirmation): nothing to build or diff.
  if (read === true || typeof read === 'string') {
    const hashes = hashesInSync(desired, read, knownHashes);
    return { inSync: true, ...(hashes ? { hashes } : {}) };
  }
  const state = read as NftTableState | null;
  if (tableInSync(desired, state, knownHashes)) return { inSync: true, hashes: state ? ruleHashesOfState(state) : new Map<string, string>() };
  // Rules whose statements are not known (not the plan's, not the last table's) are deleted by
  // handle: their statements are not listed (libnftables parses nothing the container wrote).
  return { inSync: false, live: liveTable(state, [desired, last], knownHashes).live };
}

/**
 * diff → apply → verify, the same for every namespace; what is known of it
 * decides the rest. One backend batch does the netlink part in one entry into
 * the namespace: the sysctls (each read right before it is written when its
 * value is not known), the routes and rules, and the routes read back. The nft
 * batch follows once the routes are verified; in a fresh namespace with an
 * ordered transport it is submitted with the netlink batch and runs right after
 * it (the backend keeps one namespace's operations in submission order), so
 * the kernel sees the same order with no round trip between. Any failure rolls
 * everything back, a table this batch created included.
 */
async function apply(a: Applier, plan: Plan, known: Known, routesDone?: () => Promise<void>): Promise<TxResult> {
  const w = writesOf(plan, known);
  const result = resultOf(known, w);
  if (result.noop) return result;
  const run = await write(a, plan, known, w, routesDone);
  if (run.failed) throw await rollback(a, plan, known, w, run, run.failed);
  result.nftCommands = run.nftCommands;
  if (result.nftCommands > 0) await recordHashes(a, plan.ns, plan.table, result);
  if (known.kind === 'fresh') result.sysctlsSet = w.sysctls.filter((s) => run.oldValues.get(s.key) !== s.value);
  result.stages.netlinkMs = run.ms.netlink;
  result.stages.verifyMs = run.ms.verify;
  result.stages.nftMs = run.ms.nft;
  // A new table in a new namespace leaves no flow behind; otherwise flows may go to an old destination.
  if (known.kind === 'observed' && !known.table.inSync && w.batch.nftables.length > 0) {
    await flushStaleConntrack(a, plan.ns, staleConntrack(known.table.live, plan.table), result);
  }
  return result;
}

/** What the transaction writes to make the namespace the plan's, from what is known of it. */
interface Writes {
  routes: RouteChanges;
  rules: { add: Rule[]; del: Rule[] };
  sysctls: SysctlSetting[];
  batch: NftBatch;
  /** The batch creates Twine's table (there was none): a rollback deletes it. */
  createsTable: boolean;
  /** The netlink batch, ending with Twine's routes read back. */
  steps: NsStep[];
}

function writesOf(plan: Plan, known: Known): Writes {
  const fresh = known.kind === 'fresh';
  const routes = diffRoutes(fresh ? [] : (known.early?.now ?? known.routes), plan.routes, plan.defaultRoutes);
  const rules = diffRules(fresh ? [] : known.rules, plan.rules ?? []);
  // A fresh namespace's sysctls were not read: each is read right before it is written.
  const sysctls = fresh ? plan.sysctls : plan.sysctls.filter((s) => known.sysctls.get(s.key) !== s.value);
  const table: ObservedTable = fresh ? { inSync: false, live: null } : known.table;
  const batch = table.inSync ? { nftables: [] } : table.live === null ? freshTableBatch(plan.table) : diffTable(plan.table, table.live);
  const steps: NsStep[] = [
    ...sysctls.flatMap((s): NsStep[] => [...(fresh ? [{ op: 'sysctlGet', key: s.key } as const] : []), { op: 'sysctlSet', key: s.key, value: s.value }]),
    ...routes.replace.map((route): NsStep => ({ op: 'routeReplace', route })),
    ...rules.add.map((rule): NsStep => ({ op: 'ruleAdd', rule })),
    ...rules.del.map((rule): NsStep => ({ op: 'ruleDel', rule })),
    ...routes.del.map((route): NsStep => ({ op: 'routeDel', route })),
    TWINE_ROUTES,
  ];
  return { routes, rules, sysctls, batch, createsTable: !table.inSync && table.live === null, steps };
}

/** The result before anything is written (the stages' times, a fresh namespace's sysctls and a re-diffed table's commands are filled in after). */
function resultOf(known: Known, w: Writes): TxResult {
  const { routes, rules, sysctls, batch } = w;
  const fresh = known.kind === 'fresh';
  const replacedEarly = fresh ? [] : (known.early?.replaced ?? []);
  const hashes = !fresh && known.table.inSync ? known.table.hashes : undefined;
  return {
    routesReplaced: [...replacedEarly, ...routes.replace],
    routesDeleted: routes.del,
    sysctlsSet: fresh ? [] : sysctls,
    nftCommands: batch.nftables.length,
    noop: replacedEarly.length === 0 && isEmpty(routes) && rules.add.length + rules.del.length === 0 && sysctls.length === 0 && batch.nftables.length === 0,
    stages: { observeMs: fresh ? 0 : known.observeMs, netlinkMs: 0, nftMs: 0, verifyMs: 0 },
    ...(hashes ? { ruleHashes: hashes } : {}),
  };
}

interface Failure {
  step: TransactionStep;
  error: unknown;
}

/** How the writes went. */
interface Run {
  /** The first step that failed; undefined: everything is in the kernel. */
  failed?: Failure;
  /** The sysctls' values before the writes: what a rollback puts back. */
  oldValues: ReadonlyMap<string, string>;
  /** The nft batch's outcome; undefined: it was not run. */
  nft?: Timed<void>;
  /** The nft commands sent. */
  nftCommands: number;
  ms: { netlink: number; verify: number; nft: number };
}

/** Runs the netlink batch, verifies Twine's routes, then runs the nft batch; stops at the first failure (the caller rolls back). */
async function write(a: Applier, plan: Plan, known: Known, w: Writes, routesDone?: () => Promise<void>): Promise<Run> {
  const ns = plan.ns;
  const early = known.kind === 'observed' ? known.early : undefined;
  const t0 = performance.now();
  // Nothing left to write over netlink after the early writes: their read-back is the verification.
  const netlink = early && w.steps.length === 1 ? timed(Promise.resolve<BatchOutcome>({ results: [early.now] })) : timed(a.netns.batch(ns, w.steps));
  const runNft = (): Promise<Timed<void>> => timed(w.batch.nftables.length > 0 ? a.nft.apply(ns, w.batch) : Promise.resolve());
  const nftEarly = known.kind === 'fresh' && a.nft.ordered ? runNft() : undefined;

  const done = await netlink;
  const outcome = done.ok ? done.value : { results: [], failedAt: 0, error: done.error };
  const oldValues = known.kind === 'fresh' ? readBeforeWrites(w.sysctls, outcome) : known.sysctls;
  let failed = netlinkFailure(outcome, w.steps, plan);
  const verified = performance.now();
  // Otherwise the batch only once routes are verified.
  let nft: Timed<void> | undefined;
  if (nftEarly) nft = await nftEarly;
  else if (!failed) {
    // Other containers' routes first (TxOptions.routesDone).
    await routesDone?.();
    nft = await runNft();
  }
  let nftCommands = w.batch.nftables.length;
  if (!failed && nft && !nft.ok) {
    const again = await retryOverExisting(a, plan, nft.error);
    if (typeof again === 'number') nftCommands = again;
    else failed = again;
  }
  const end = performance.now();
  return { failed, oldValues, nft, nftCommands, ms: { netlink: done.at - t0, verify: verified - done.at, nft: Math.max(0, end - verified) } };
}

/** The netlink batch's failure, or the plan's routes it left out of the kernel; undefined: none. */
function netlinkFailure(outcome: BatchOutcome, steps: NsStep[], plan: Plan): Failure | undefined {
  if (outcome.failedAt !== undefined) return { step: 'netlink', error: outcome.error };
  const missing = missingRoutes(outcome.results[steps.length - 1] as Route[], plan);
  return missing ? { step: 'verify', error: missing } : undefined;
}

/** After the nft batch failed: the commands sent over a table another writer created first, or the failure. */
async function retryOverExisting(a: Applier, plan: Plan, error: unknown): Promise<number | Failure> {
  if (!tableExists(error)) return { step: 'nft', error };
  try {
    return await applyOverExisting(a, plan.ns, plan);
  } catch (err) {
    return { step: 'nft', error: err };
  }
}

/** Puts back what the writes changed and returns the error to throw. */
async function rollback(a: Applier, plan: Plan, known: Known, w: Writes, run: Run, failed: Failure): Promise<TransactionError> {
  const rollbackErrors: unknown[] = [];
  // Committed by this transaction (not by another writer): the batch created the table.
  if (w.createsTable && run.nft?.ok && w.batch.nftables.length > 0) {
    await a.nft.apply(plan.ns, { nftables: [{ delete: { table: { family: TABLE_FAMILY, name: TABLE_NAME } } }] }).catch((e: unknown) => rollbackErrors.push(e));
  }
  rollbackErrors.push(...(await restore(a, plan, known.kind === 'observed' ? known : NO_ROUTING, run.oldValues)));
  return txError(failed.step, failed.error, rollbackErrors);
}

/** The sysctls' values the netlink batch read right before writing them (a get before each set). */
function readBeforeWrites(sysctls: SysctlSetting[], outcome: BatchOutcome): Map<string, string> {
  const out = new Map<string, string>();
  sysctls.forEach((s, i) => {
    const v = outcome.results[2 * i];
    if (typeof v === 'string') out.set(s.key, v.trim());
  });
  return out;
}

/**
 * After a committed table change: the conntrack entries it left stale (./dnat.ts)
 * are deleted through the transaction's handle, so a continuing flow's next
 * packet is NAT'ed by the new rules. A failure is reported, not rolled back.
 */
async function flushStaleConntrack(a: Applier, ns: NsTarget, filters: ConntrackFilter[], result: TxResult): Promise<void> {
  if (filters.length === 0) return;
  try {
    const out = await a.netns.batch(ns, filters.map((filter): NsStep => ({ op: 'conntrackDelete', filter })));
    result.conntrackDeleted = out.results.reduce<number>((n, x) => n + (typeof x === 'number' ? x : 0), 0);
    if (out.failedAt !== undefined) result.conntrackError = out.error;
  } catch (err) {
    result.conntrackError = err;
  }
}

/** A promise's outcome and when (performance.now()) it settled. */
type Timed<T> = { ok: true; value: T; at: number } | { ok: false; error: unknown; at: number };

function timed<T>(p: Promise<T>): Promise<Timed<T>> {
  return p.then(
    (value) => ({ ok: true as const, value, at: performance.now() }),
    (error: unknown) => ({ ok: false as const, error, at: performance.now() }),
  );
}

