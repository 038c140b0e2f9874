// How to talk to the Docker engine (./endpoint.ts says where it is). One
// Engine API client (./api.ts) per daemon; every failure leaves this layer as
// a DockerError.

import { DockerError } from '../errors.js';
import { createApiClient, type DockerClient } from './api.js';
import type { DockerEndpoint } from './endpoint.js';

export type { DockerClient } from './api.js';

export function createDockerClient(endpoint: DockerEndpoint): DockerClient {
  return createApiClient(endpoint);
}

/**
 * The same endpoint as options for a dockerode client, for the dev tools
 * (bench/, tests) that still use dockerode; the daemon does not load it.
 */
export function dockerodeOptions(
  endpoint: DockerEndpoint,
): { socketPath: string } | { host: string; port: number; protocol: 'http' | 'https'; ca?: Buffer; cert?: Buffer; key?: Buffer } {
  if (endpoint.kind === 'unix') return { socketPath: endpoint.socketPath };
  const { host, port, tls } = endpoint;
  if (!tls) return { host, port, protocol: 'http' };
  if (!tls.verify) throw new DockerError('dockerode options: DOCKER_TLS without DOCKER_TLS_VERIFY is not supported here');
  return { host, port, protocol: 'https', ca: tls.ca, cert: tls.cert, key: tls.key };
}

/** Wraps anything thrown by the API client into a DockerError that says what was attempted. */
export function dockerError(what: string, err: unknown): DockerError {
  if (err instanceof DockerError) return err;
  const e = err as { message?: string; statusCode?: number; code?: string } | undefined;
  const detail = e?.message ?? String(err);
  const de = new DockerError(`docker: ${what}: ${detail}`);
  (de as DockerError & { statusCode?: number; code?: string }).statusCode = e?.statusCode;
  (de as DockerError & { statusCode?: number; code?: string }).code = e?.code;
  return de;
}

/** True when the error is Docker's 404 (the container or network is gone). */
export function isNotFound(err: unknown): boolean {
  return (err as { statusCode?: number } | undefined)?.statusCode === 404;
}

/** GET /_ping and /version: proves the engine answers. */
export async function pingDocker(docker: DockerClient): Promise<{ version: string; apiVersion: string }> {
  try {
    await docker.ping();
    const v = await docker.version();
    return { version: v.Version, apiVersion: v.ApiVersion };
  } catch (err) {
    throw dockerError('ping', err);
  }
}
