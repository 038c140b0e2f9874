// One base class; each layer throws its own subclass so callers can tell a
// bad label from a kernel refusal from a Docker outage without parsing text.

export class TwineError extends Error {
  override name = 'TwineError';
}

/** One problem with one label of one container. */
export interface LabelIssue {
  container: string;
  key: string;
  value: string;
  reason: string;
}

/** Every problem found in a container's labels, reported at once. */
export class LabelError extends TwineError {
  override name = 'LabelError';
  constructor(
    readonly container: string,
    readonly issues: LabelIssue[],
  ) {
    super(
      `container ${container}: ${issues.length} invalid label${issues.length === 1 ? '' : 's'}:\n` +
        issues.map((i) => `  ${i.key}=${JSON.stringify(i.value)}: ${i.reason}`).join('\n'),
    );
  }
}

/** A kernel refusal from the native backend (netlink, setns, sysctl). */
export class NetlinkError extends TwineError {
  override name = 'NetlinkError';
  constructor(
    message: string,
    readonly code: string,
    readonly errno: number,
    readonly op: string,
    readonly ns: string,
    readonly kernelMessage?: string,
  ) {
    super(message);
  }
}

/** nft refused a batch. */
export class NftError extends TwineError {
  override name = 'NftError';
  constructor(
    message: string,
    readonly stderr: string,
    readonly batch: unknown,
    readonly exitCode?: number,
  ) {
    super(message);
  }
}

/** The Docker engine failed or is unreachable. */
export class DockerError extends TwineError {
  override name = 'DockerError';
}

/**
 * What the engine answered with, or why it could not answer: the API client's
 * own error (docker/api.ts). The client's callers turn it into a DockerError
 * saying what was attempted (docker/client.ts `dockerError`).
 */
export class DockerApiError extends TwineError {
  override name = 'DockerApiError';
  constructor(
    message: string,
    /** The HTTP status, when the engine answered (404: no such container). */
    readonly statusCode?: number,
    /** The errno-style code, when it did not (ENOENT, ECONNREFUSED, ETIMEDOUT, ...). */
    readonly code?: string,
  ) {
    super(message);
  }
}

/** A mistake on the command line or in an option's environment variable: exit code 2. */
export class UsageError extends TwineError {
  override name = 'UsageError';
}

/** A label value that cannot be split into words (an unterminated quote, a trailing backslash). */
export class TokenizeError extends TwineError {
  override name = 'TokenizeError';
}

/** A container reference in a firewall rule that cannot be resolved (now): the rule cannot be applied. */
export class UnresolvedRefError extends TwineError {
  override name = 'UnresolvedRefError';
  constructor(
    readonly ref: string,
    reason: string,
  ) {
    super(`container reference "${ref}": ${reason}`);
  }
}

/** One label that makes firewall rules, with at most how many (before identical rules are merged). */
export interface LabelRules {
  label: string;
  rules: number;
}

/** The labels expand to more firewall rules than the limit allows. */
export class RuleLimitError extends TwineError {
  override name = 'RuleLimitError';
  constructor(
    readonly limit: number,
    /** Each label that makes rules, with at most how many, most first. */
    readonly bounds: LabelRules[],
  ) {
    super(`the labels expand to more than ${limit} firewall rules`);
  }
}

/**
 * The step of a transaction that failed: the netlink batch (routes, rules,
 * sysctls), the read-back of the routes it wrote, or the nft batch.
 */
export type TransactionStep = 'netlink' | 'verify' | 'nft';

/** A transaction failed at `step` and was rolled back; what the rollback could not undo is in rollbackErrors. */
export class TransactionError extends TwineError {
  override name = 'TransactionError';
  constructor(
    message: string,
    readonly step: TransactionStep,
    override readonly cause: unknown,
    readonly rollbackErrors: unknown[],
  ) {
    super(message);
  }
}

/** Why Twine will not write into a container's network namespace. */
export type NamespaceRefusal =
  /** Docker's network_mode is host or container:<x>: the namespace belongs to the host or to another container. */
  | 'network_mode'
  /** The namespace is the host's (its inode is the daemon's, PID 1's or the configured host namespace's). */
  | 'host'
  /** Another running container is in the same namespace. */
  | 'shared'
  /**
   * The namespace holds more routes, rules, links or nft objects than one read
   * may take (a process in it filled it): Twine does not read or write it.
   */
  | 'oversized'
  /** The namespace's inode could not be read when Docker named the process: whose it is cannot be told. */
  | 'unknown';

/** Twine writes only into a container's own network namespace: this one is not, and nothing was written. */
export class NamespaceRefusedError extends TwineError {
  override name = 'NamespaceRefusedError';
  constructor(
    message: string,
    readonly container: string,
    readonly reason: NamespaceRefusal,
    /** The other container in the namespace (reason shared, or network_mode container:<x>). */
    readonly sharedWith?: string,
  ) {
    super(message);
  }
}

/**
 * The namespace a transaction was to use is not there: its process is gone
 * (`gone`), or the pid now shows a namespace other than the one recorded for
 * the container (`changed`: it died and the pid was reused). Nothing was written.
 */
export class NamespaceGoneError extends TwineError {
  override name = 'NamespaceGoneError';
  constructor(
    message: string,
    readonly kind: 'gone' | 'changed',
    /** "pid 42" or the namespace path. */
    readonly ns: string,
  ) {
    super(message);
  }
}

/** `twine start` exits with this code when another Twine already runs on the host. */
export const EXIT_ALREADY_RUNNING = 3;

/** Another daemon answers on the socket this one was to listen on. */
export class AlreadyRunningError extends TwineError {
  override name = 'AlreadyRunningError';
  readonly exitCode = EXIT_ALREADY_RUNNING;
  constructor(readonly socketPath: string) {
    super(`another twine is already running (socket ${socketPath} answers); stop it first, or give this one another --socket`);
  }
}

/** A running daemon's status server could not be reached at all (not running, wrong socket, timeout). */
export class UnreachableError extends TwineError {
  override name = 'UnreachableError';
}

/** An error's message, or the thrown value as text. */
export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
