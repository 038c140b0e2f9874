// Where the Docker engine is and how to talk to it. One Engine API client
// (./api.ts) per daemon; every failure leaves this layer as a DockerError.

import { DockerError } from '../errors.js';
import { createApiClient, type DockerClient } from './api.js';

export type { DockerClient } from './api.js';

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/** How to reach the engine: a unix socket, or plain TCP (DOCKER_HOST=tcp://host:port). */
export type DockerEndpoint =
  | { kind: 'unix'; socketPath: string }
  | { kind: 'tcp'; host: string; port: number };

/**
 * Picks the engine endpoint. Precedence: the explicit value (`--docker-socket`,
 * which the CLI already merged with TWINE_DOCKER_SOCKET), then DOCKER_HOST,
 * then /var/run/docker.sock. A value may be a bare path, `unix://<path>` or
 * `tcp://<host>:<port>`.
 */
export function resolveDockerEndpoint(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): DockerEndpoint {
  const given = explicit?.trim();
  if (given) return parseDockerEndpoint(given);
  const fromEnv = env.DOCKER_HOST?.trim();
  if (!fromEnv) return parseDockerEndpoint(DEFAULT_DOCKER_SOCKET);
  try {
    return parseDockerEndpoint(fromEnv);
  } catch (err) {
    throw new DockerError(`DOCKER_HOST=${(err as Error).message.replace(/^docker endpoint /, '')}`);
  }
}

export function parseDockerEndpoint(raw: string): DockerEndpoint {
  if (raw.startsWith('/')) return { kind: 'unix', socketPath: raw };
  if (raw.startsWith('unix://')) {
    const p = raw.slice('unix://'.length);
    if (!p.startsWith('/')) throw new DockerError(`docker endpoint ${JSON.stringify(raw)}: unix:// needs an absolute path`);
    return { kind: 'unix', socketPath: p };
  }
  if (raw.startsWith('tcp://')) {
    let url: URL;
    try {
      url = new URL(`http://${raw.slice('tcp://'.length)}`);
    } catch {
      throw new DockerError(`docker endpoint ${JSON.stringify(raw)}: not a valid tcp://host:port`);
    }
    const port = url.port === '' ? 2375 : Number(url.port);
    return { kind: 'tcp', host: url.hostname.replace(/^\[|\]$/g, ''), port };
  }
  throw new DockerError(
    `docker endpoint ${JSON.stringify(raw)}: expected an absolute socket path, unix:///path or tcp://host:port`,
  );
}

export function describeEndpoint(e: DockerEndpoint): string {
  return e.kind === 'unix' ? `unix://${e.socketPath}` : `tcp://${e.host}:${e.port}`;
}

export function createDockerClient(endpoint: DockerEndpoint): DockerClient {
  return createApiClient(endpoint);
}

/**
 * The same endpoint as options for a dockerode client, for the dev tools
 * (bench/, tests) that still use dockerode; the daemon does not load it.
 */
export function dockerodeOptions(endpoint: DockerEndpoint): { socketPath: string } | { host: string; port: number; protocol: 'http' } {
  return endpoint.kind === 'unix'
    ? { socketPath: endpoint.socketPath }
    : { host: endpoint.host, port: endpoint.port, protocol: 'http' };
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
