// Why a container's job runs: one Reason per request, gathered by the queue
// while the key waits (./queue.ts), so one job may hold several. Each kind
// says what the job must do; the helpers below decide what a set of them asks
// for together.

import type { ContainerInfo } from '../docker/container.js';
import type { FrontStages } from './state.js';

/** What the runtime hook is told: go on (applied, or nothing to apply), or why the start must fail. */
export type HookOutcome = { ok: true; applied: boolean; name: string } | { ok: false; error: string; name?: string };

/** What Docker said of a container, read before the job was queued; `mark` is the store's mark when the read began. */
export interface EarlyRead {
  /** Undefined: Docker no longer knows the container. */
  info: ContainerInfo | undefined;
  mark: number;
}

interface Common {
  /** For the log and the TxEvent: a Docker action, "dependency … changed", "resync"… */
  why: string;
  /** Docker's timestamp of the event behind it (ms since epoch). */
  eventMs?: number;
  /** When Twine received that event (ms since epoch), to split Docker's delay from Twine's. */
  receivedMs?: number;
}

export type Reason =
  /** Plan again from the inventory as it is; `resync`: every container's, a full re-sync (start-up, reconnect, drift check). */
  | (Common & { kind: 'replan'; resync?: boolean })
  /** Re-read the container from Docker first (a network connect or rename). */
  | (Common & { kind: 'inspect' })
  /** The container (re)started: its namespace is new. `name` is the start event's. */
  | (Common & { kind: 'start'; name?: string })
  /** Docker's view, read after a start applied without it: no transaction when the plan is the same. */
  | (Common & { kind: 'confirm'; read: EarlyRead })
  /** Docker finished setting up the namespace of a container it is starting (./prestart.ts). */
  | (Common & { kind: 'prestart'; info: ContainerInfo; ino: number })
  /** Twine's runtime hook holds the container's start until `answer` is called (./start-paths.ts). */
  | (Common & { kind: 'runtime'; info: ContainerInfo; ino: number; answer(o: HookOutcome): void });

export type ReasonKind = Reason['kind'];
export type ReasonOf<K extends ReasonKind> = Extract<Reason, { kind: K }>;

export function ofKind<K extends ReasonKind>(reasons: readonly Reason[], kind: K): ReasonOf<K>[] {
  return reasons.filter((r): r is ReasonOf<K> => r.kind === kind);
}

/** Some reason is of one of these kinds. */
export function hasKind(reasons: readonly Reason[], ...kinds: ReasonKind[]): boolean {
  return reasons.some((r) => kinds.includes(r.kind));
}

export function withoutKind(reasons: readonly Reason[], ...kinds: ReasonKind[]): Reason[] {
  return reasons.filter((r) => !kinds.includes(r.kind));
}

/** A job's reasons sorted by what the job does with them, in order. */
export interface JobReasons {
  /** Runtime hooks waiting for this job's answer: the last one's reading is applied first. */
  hooks: ReasonOf<'runtime'>[];
  /** The early path's cue, when it still applies: no hook came with it, and no start event. */
  prestart: ReasonOf<'prestart'> | undefined;
  /** A start event is among them. */
  started: boolean;
  /** The rest, for the read from Docker and the transaction after a start path (empty: nothing more to do). */
  rest: Reason[];
  /** The rest without confirmations when real work came with them: a confirmation alone only checks. */
  txReasons: Reason[];
}

export function sortReasons(reasons: readonly Reason[]): JobReasons {
  const hooks = ofKind(reasons, 'runtime');
  const started = hasKind(reasons, 'start');
  const rest = withoutKind(reasons, 'runtime', 'prestart');
  return {
    hooks,
    prestart: hooks.length === 0 && !started ? ofKind(reasons, 'prestart')[0] : undefined,
    started,
    rest,
    txReasons: onlyConfirms(rest) ? rest : withoutKind(rest, 'confirm'),
  };
}

/** Every reason is a confirmation: the job only checks what a start already applied. */
export function onlyConfirms(reasons: readonly Reason[]): boolean {
  return reasons.every((r) => r.kind === 'confirm');
}

/** The job reads the container from Docker: a start (unless the start path can do without) or an explicit inspect. */
export function wantsInspect(reasons: readonly Reason[]): boolean {
  return hasKind(reasons, 'inspect', 'start');
}

/** The read that began last among the confirmations. */
export function newestRead(reasons: readonly Reason[]): EarlyRead | undefined {
  let m: EarlyRead | undefined;
  for (const r of ofKind(reasons, 'confirm')) if (!m || r.read.mark > m.mark) m = r.read;
  return m;
}

/** The start event's name for the container, when one says. */
export function startName(reasons: readonly Reason[]): string | undefined {
  return ofKind(reasons, 'start').find((r) => r.name !== undefined)?.name;
}

export function whys(reasons: readonly Reason[]): string[] {
  return reasons.map((r) => r.why);
}

export function minEventMs(reasons: readonly Reason[]): number | undefined {
  let m: number | undefined;
  for (const r of reasons) if (r.eventMs !== undefined && (m === undefined || r.eventMs < m)) m = r.eventMs;
  return m;
}

export function minReceived(reasons: readonly Reason[]): number | undefined {
  let m: number | undefined;
  for (const r of reasons) if (r.receivedMs !== undefined && (m === undefined || r.receivedMs < m)) m = r.receivedMs;
  return m;
}

/** Docker's event timestamp → Twine has the event; → its job starts (`jobStart`); the job's read of the container. */
export function frontStages(reasons: readonly Reason[], jobStart: number, read: Pick<FrontStages, 'inspectMs' | 'startInfoMs'>): FrontStages {
  const received = minReceived(reasons);
  const eventMs = minEventMs(reasons);
  return {
    eventDelayMs: received !== undefined && eventMs !== undefined ? received - eventMs : undefined,
    queueMs: received !== undefined ? jobStart - received : undefined,
    ...read,
  };
}

/** Only a full re-sync asks for this job: a re-check, not a change anyone made. */
export function onlyResync(reasons: readonly Reason[]): boolean {
  return reasons.every((r) => r.kind === 'replan' && r.resync === true);
}
