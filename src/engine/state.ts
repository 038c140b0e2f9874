// What the engine remembers per container, and what it reports per transaction.

import type { LabelIssue, NamespaceRefusal } from '../errors.js';
import type { LabelWarning } from '../labels/spec.js';
import type { Plan } from '../plan/types.js';
import type { Dependencies } from './graph.js';

/** What a transaction's job did before planning: Docker's event delay, queueing, reading the container. */
export interface FrontStages {
  eventDelayMs?: number;
  queueMs?: number;
  /** docker inspect (0 on the start path). */
  inspectMs: number;
  /** The start path's read of the container's cgroup and /proc/<pid>/net instead. */
  startInfoMs?: number;
}

export interface TxStages {
  observeMs: number;
  netlinkMs: number;
  nftMs: number;
  verifyMs: number;
}

export interface ContainerState {
  id: string;
  name: string;
  running: boolean;
  /** Only `twine.*` and the compose and swarm names (labels/visible.ts): this is what the API shows. */
  labels: Record<string, string>;
  /** The resolved desired state of the last plan (names → addresses). */
  desired?: unknown;
  /** The last plan computed from valid labels. */
  plan?: Plan;
  /** The last plan committed to the namespace (cleared when the container stops). */
  applied?: Plan;
  dependencies?: Dependencies;
  lastError?: string;
  /** Set while a host route of this container's labels could not be applied (retried with backoff). */
  hostRoutesError?: string;
  /** Set while Twine refuses the container's namespace (not its own); lastError carries the same message. */
  refusal?: { reason: NamespaceRefusal; message: string; sharedWith?: string };
  labelErrors: LabelIssue[];
  warnings: LabelWarning[];
  lastApplyAt?: string;
  /** Docker event → commit, of the last transaction caused by an event. */
  lastLatencyMs?: number;
}

/**
 * refused: the namespace is not the container's own (host's or shared), nothing written.
 * gone: the container's namespace vanished under the transaction (it stopped meanwhile: churn, not a failure).
 */
export type TxResultKind = 'applied' | 'noop' | 'failed' | 'invalid' | 'refused' | 'gone';

export interface TxEvent {
  container: string;
  id: string;
  txId: string;
  result: TxResultKind;
  /** Docker event timestamp → commit, when an event caused the transaction. */
  latencyMs: number | undefined;
  eventMs: number | undefined;
  /** Why it ran: Docker actions, "dependency … changed", "start-up", "reconnect" or "resync" (drift check). */
  reasons: string[];
  /**
   * Where the time went: Docker's event delay, queueing, reading the container (docker inspect,
   * or on the start path its cgroup and namespace: startInfoMs), plan, then the transaction's own stages.
   */
  stages?: TxStages & FrontStages & { planMs: number };
}
