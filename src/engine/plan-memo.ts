// A container's plan is a pure function of its inventory entry, the inventory
// snapshot it resolves against (./planner.ts: labels, networks, every name a
// reference may answer to, swarm tasks on other nodes) and Twine's options and
// build. A full re-sync (start-up, reconnect, --resync-interval) re-plans every
// container; while that snapshot is the one a plan was made from, the plan
// made then is the answer, and planning again (labels, resolve, compile: most
// of an in-sync container's CPU) would only rebuild it. The memo keys each
// container's last plan by a digest of exactly those inputs and persists
// across Twine's restarts beside the inspect cache, so a restart with nothing
// changed re-plans nothing. The transaction still observes the namespace and
// diffs it against the plan: the memo replaces planning, never the kernel
// read, so drift is still found. Containers with host routes are not memoized
// (their plan also depends on the host's addresses, read per transaction).

import { createHash } from 'node:crypto';
import type { ContainerInfo, Inventory } from '../docker/container.js';
import type { LabelWarning } from '../labels/spec.js';
import type { Plan } from '../plan/types.js';
import { internTable, type TableDef } from '../firewall/nft.js';
import type { DesiredState } from '../resolve/desired.js';
import { SavedMap } from '../util/saved-map.js';
import type { Dependencies } from './graph.js';

/** What the engine keeps of a plan outcome (./planner.ts PlanOutcome). */
export interface Planned {
  plan: Plan;
  desired: DesiredState;
  deps: Dependencies;
  warnings: LabelWarning[];
}

const FORMAT = 1;

/** What a snapshot's digest was computed from: the entries it covers. */
interface Digested {
  remote: Inventory['remoteTasks'];
  noDns: Inventory['noDns'];
  portFiles: Inventory['portFiles'];
  digest: string;
  members: ReadonlySet<ContainerInfo>;
}

/** One digest per snapshot (the store keeps the array until something changes), computed when first asked. */
const snapshotDigests = new WeakMap<readonly ContainerInfo[], Digested>();

/** The namespace inode is re-read at every start of Twine, and no plan depends on it. */
function entryText({ netnsIno: _ino, ...rest }: ContainerInfo): string {
  return JSON.stringify(rest);
}

function digested(inv: Inventory): Digested {
  const cached = snapshotDigests.get(inv.containers);
  if (cached && cached.remote === inv.remoteTasks && cached.noDns === inv.noDns && cached.portFiles === inv.portFiles) return cached;
  const h = createHash('sha1');
  // By id, so that the store's order does not matter.
  for (const c of [...inv.containers].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) h.update(entryText(c));
  h.update(JSON.stringify(inv.remoteTasks ?? []));
  h.update(JSON.stringify([...(inv.noDns ?? [])].sort()));
  // Only when there are readings, so that digests (and plans kept across restarts) without any stay as they were.
  if (inv.portFiles && inv.portFiles.size > 0) h.update(JSON.stringify([...inv.portFiles].sort(([a], [b]) => (a < b ? -1 : 1))));
  const d: Digested = { remote: inv.remoteTasks, noDns: inv.noDns, portFiles: inv.portFiles, digest: h.digest('base64'), members: new Set(inv.containers) };
  snapshotDigests.set(inv.containers, d);
  return d;
}

/** A digest of everything in `inv` a plan may depend on. */
export function snapshotDigest(inv: Inventory): string {
  return digested(inv).digest;
}

/**
 * The plan inputs of `info` in `inv` under `salt` (Twine's build and the
 * planner's options); undefined when `info` is not the snapshot's entry (then
 * the memo is not used).
 */
export function planInputs(info: ContainerInfo, inv: Inventory, salt: string): string | undefined {
  const d = digested(inv);
  if (!d.members.has(info)) return undefined;
  // Of the bridges' MACs, a plan depends on its own gateways' only (the reply mark of its published ports).
  const macs = info.networks.flatMap((n) => [n.gatewayV4, n.gatewayV6]).map((g) => (g === undefined ? '' : (inv.bridgeMacs?.get(g) ?? '')));
  return `${salt}|${d.digest}|${info.id}|${macs.join(',')}`;
}

export class PlanMemo extends SavedMap<{ inputs: string; planned: Planned }> {
  constructor() {
    super(FORMAT);
  }

  /** The plan made from exactly these inputs, if it is the one kept. */
  get(id: string, inputs: string): Planned | undefined {
    const e = this.byId.get(id);
    return e?.inputs === inputs ? e.planned : undefined;
  }

  set(id: string, inputs: string, planned: Planned): void {
    this.put(id, { inputs, planned });
  }

  /**
   * Containers with the same labels on the same networks have the same table
   * (the bulk of a plan): each distinct table is written once and the entries
   * refer to it by index, so the file is smaller and quicker to read at start,
   * and the plans read from it share their table objects again.
   */
  protected saved(): { entries: unknown[]; shared: TableDef[] } {
    const tables: TableDef[] = [];
    const index = new Map<TableDef | string, number>();
    const entries = [...this.byId].map(([id, { inputs, planned }]) => {
      const t = planned.plan.table;
      let at = index.get(t);
      if (at === undefined) {
        const text = JSON.stringify(t);
        at = index.get(text);
        if (at === undefined) {
          at = tables.push(t) - 1;
          index.set(text, at);
        }
        index.set(t, at);
      }
      return { id, inputs, planned: { ...planned, plan: { ...planned.plan, table: at } } };
    });
    return { entries, shared: tables };
  }

  protected adopt(e: unknown, shared: unknown): void {
    const x = e as { id?: unknown; inputs?: unknown; planned?: { plan?: { table?: unknown } } };
    const at = x?.planned?.plan?.table;
    const table = Array.isArray(shared) && typeof at === 'number' ? (shared[at] as unknown) : undefined;
    if (table === undefined || typeof x.id !== 'string' || typeof x.inputs !== 'string' || this.byId.has(x.id)) return;
    const planned = { ...x.planned, plan: { ...x.planned!.plan, table } };
    if (!wellFormed(planned)) return;
    planned.plan.table = interned(planned.plan.table);
    this.byId.set(x.id, { inputs: x.inputs, planned });
  }
}

const isArr = Array.isArray;

/** The file's tables, each made the shared object compiled plans use (firewall/nft.ts internTable), once per table read. */
const internedFrom = new WeakMap<TableDef, TableDef>();

function interned(t: TableDef): TableDef {
  let i = internedFrom.get(t);
  if (i === undefined) {
    // internTable reads every chain's rules: only a table whose rules are objects.
    const ok = t.chains.every((c) => typeof c === 'object' && c !== null && isArr(c.rules) && c.rules.every((r) => typeof r === 'object' && r !== null));
    i = ok ? internTable(t) : t;
    internedFrom.set(t, i);
  }
  return i;
}

/** Enough of a Planned's shape that the transaction and the status can read it. */
function wellFormed(p: unknown): p is Planned {
  const x = p as Partial<Record<keyof Planned, unknown>>;
  if (typeof x !== 'object' || x === null || typeof x.desired !== 'object' || x.desired === null || !isArr(x.warnings)) return false;
  const d = x.deps as Partial<Dependencies> | undefined;
  if (!d || !isArr(d.refs) || !isArr(d.ids)) return false;
  const plan = x.plan as Partial<Plan> | undefined;
  if (!plan || typeof plan.container !== 'object' || typeof plan.ns !== 'object' || !isArr(plan.sysctls) || !isArr(plan.routes)) return false;
  if (!isArr(plan.defaultRoutes) || !isArr(plan.hostRoutes) || !(plan.rules === undefined || isArr(plan.rules))) return false;
  return typeof plan.table === 'object' && plan.table !== null && isArr(plan.table.chains);
}
