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

/** Why Twine will not write into a container's network namespace. */
export type NamespaceRefusal =
  /** Docker's network_mode is host or container:<x>: the namespace belongs to the host or to another container. */
  | 'network_mode'
  /** The namespace is the host's (its inode is the daemon's, PID 1's or the configured host namespace's). */
  | 'host'
  /** Another running container is in the same namespace. */
  | 'shared'
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

/** An error's message, or the thrown value as text. */
export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
