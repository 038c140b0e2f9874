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
