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

/** The oldest Engine API Twine is tested against (Docker 20.10); older engines are refused. */
export const OLDEST_API = '1.41';

export interface EngineInfo {
  version: string;
  apiVersion: string;
}

/** "1.41" < "1.52", compared as numbers part by part; NaN parts count as 0. */
export function compareApiVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] || 0) - (pb[i] || 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** GET /version: the engine's version, refused (a DockerError saying so) when its API is older than OLDEST_API. */
export async function engineInfo(docker: DockerClient): Promise<EngineInfo> {
  let v: EngineInfo;
  try {
    const r = await docker.version();
    v = { version: String(r.Version ?? ''), apiVersion: String(r.ApiVersion ?? '') };
  } catch (err) {
    throw dockerError('version', err);
  }
  if (!/^\d+\.\d+$/.test(v.apiVersion) || compareApiVersions(v.apiVersion, OLDEST_API) < 0) {
    throw dockerError('version', new Error(`Docker ${v.version || '(unknown version)'} speaks Engine API ${v.apiVersion || '(unknown)'}, older than ${OLDEST_API} (Docker 20.10), the oldest Twine is tested with: refusing to apply anything until the engine is upgraded`));
  }
  return v;
}
