// Where the Docker engine is: a unix socket, or TCP with the TLS the
// environment asks for, as the docker CLI reads DOCKER_HOST and its TLS
// variables.

import { DockerError } from '../errors.js';
import { dockerTlsFromEnv, tlsAskedFor, type DockerTls } from './tls.js';

export type { DockerTls } from './tls.js';

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/** The engine's TLS port, where the docker CLI goes when TLS is asked for and no host is named. */
export const DEFAULT_DOCKER_TLS_HOST = 'tcp://localhost:2376';

/** How to reach the engine: a unix socket, or TCP (DOCKER_HOST=tcp://host:port), with TLS when the environment asks for it. */
export type DockerEndpoint =
  | { kind: 'unix'; socketPath: string }
  | { kind: 'tcp'; host: string; port: number; tls?: DockerTls };

/**
 * Picks the engine endpoint. Precedence: the explicit value (`--docker-socket`,
 * which the CLI already merged with TWINE_DOCKER_SOCKET), then DOCKER_HOST,
 * then /var/run/docker.sock (tcp://localhost:2376 when DOCKER_TLS_VERIFY or
 * DOCKER_TLS is set, as for the docker CLI). A value may be a bare path,
 * `unix://<path>` or `tcp://<host>:<port>`; a tcp:// engine gets the TLS that
 * DOCKER_TLS_VERIFY / DOCKER_TLS / DOCKER_CERT_PATH ask for (./tls.ts), and its
 * certificate files are read now, so a missing one fails here.
 */
export function resolveDockerEndpoint(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): DockerEndpoint {
  const given = explicit?.trim();
  const fromEnv = env.DOCKER_HOST?.trim();
  let e: DockerEndpoint;
  if (given) e = parseDockerEndpoint(given);
  else if (!fromEnv) e = parseDockerEndpoint(tlsAskedFor(env) ? DEFAULT_DOCKER_TLS_HOST : DEFAULT_DOCKER_SOCKET);
  else {
    try {
      e = parseDockerEndpoint(fromEnv);
    } catch (err) {
      throw new DockerError(`DOCKER_HOST=${(err as Error).message.replace(/^docker endpoint /, '')}`);
    }
  }
  if (e.kind !== 'tcp') return e;
  const tls = dockerTlsFromEnv(env);
  return tls ? { ...e, tls } : e;
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
  if (raw.startsWith('ssh://')) {
    throw new DockerError(
      `docker endpoint ${JSON.stringify(raw)}: ssh:// is not supported: Twine runs on the Docker host it manages (it enters the containers' namespaces); ` +
        'use the engine\'s unix socket, or tcp:// with DOCKER_TLS_VERIFY',
    );
  }
  throw new DockerError(
    `docker endpoint ${JSON.stringify(raw)}: expected an absolute socket path, unix:///path or tcp://host:port`,
  );
}

export function describeEndpoint(e: DockerEndpoint): string {
  if (e.kind === 'unix') return `unix://${e.socketPath}`;
  const host = e.host.includes(':') ? `[${e.host}]` : e.host;
  const tls = e.tls === undefined ? '' : e.tls.verify ? ' (TLS, verified)' : ' (TLS, not verified: DOCKER_TLS without DOCKER_TLS_VERIFY)';
  return `tcp://${host}:${e.port}${tls}`;
}
