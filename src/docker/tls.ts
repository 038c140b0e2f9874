// TLS to a Docker engine on tcp://, from the environment the docker CLI reads:
// - DOCKER_TLS_VERIFY (any non-empty value, as for the CLI): https, the
//   engine's certificate checked against ca.pem and the host name, and our
//   client certificate (cert.pem, key.pem) presented. All three files must be
//   there: a missing one is an error, never a connection without them (and
//   never plain HTTP).
// - DOCKER_TLS (non-empty), without DOCKER_TLS_VERIFY: https without checking
//   the engine's certificate (the CLI's --tls); cert.pem/key.pem are presented
//   when both are there.
// - DOCKER_CERT_PATH: where the files are; default $DOCKER_CONFIG, else
//   ~/.docker, as for the CLI.

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { DockerError } from '../errors.js';

export interface DockerTls {
  /** DOCKER_TLS_VERIFY: check the engine's certificate against `ca` and its name. */
  verify: boolean;
  /** The directory the files came from (for messages). */
  certPath: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

const FILES = ['ca.pem', 'cert.pem', 'key.pem'] as const;

/** DOCKER_TLS_VERIFY or DOCKER_TLS is set (non-empty, as the CLI reads them). */
export function tlsAskedFor(env: NodeJS.ProcessEnv): boolean {
  return (env.DOCKER_TLS_VERIFY ?? '') !== '' || (env.DOCKER_TLS ?? '') !== '';
}

/** TLS settings for a tcp:// engine, or undefined when neither DOCKER_TLS_VERIFY nor DOCKER_TLS asks for TLS. Reads the files now. */
export function dockerTlsFromEnv(env: NodeJS.ProcessEnv): DockerTls | undefined {
  if (!tlsAskedFor(env)) return undefined;
  const verify = (env.DOCKER_TLS_VERIFY ?? '') !== '';
  const certPath = certDir(env);
  const read = new Map<string, Buffer>();
  const missing: string[] = [];
  for (const f of FILES) {
    const p = path.join(certPath, f);
    try {
      read.set(f, readFileSync(p));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw new DockerError(`docker TLS: cannot read ${p}: ${(err as Error).message}`);
      missing.push(f);
    }
  }
  const cert = read.get('cert.pem');
  const key = read.get('key.pem');
  if (verify && missing.length > 0) {
    throw new DockerError(
      `docker TLS: DOCKER_TLS_VERIFY is set but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing in ${certPath} ` +
        '(DOCKER_CERT_PATH; default ~/.docker): Twine does not connect without them, nor without TLS',
    );
  }
  if ((cert === undefined) !== (key === undefined)) {
    throw new DockerError(`docker TLS: ${cert === undefined ? 'cert.pem' : 'key.pem'} is missing in ${certPath}: the client certificate needs both cert.pem and key.pem`);
  }
  const tls: DockerTls = { verify, certPath };
  if (verify) tls.ca = read.get('ca.pem');
  if (cert !== undefined && key !== undefined) {
    tls.cert = cert;
    tls.key = key;
  }
  return tls;
}

function certDir(env: NodeJS.ProcessEnv): string {
  const explicit = env.DOCKER_CERT_PATH?.trim();
  if (explicit) return explicit;
  const config = env.DOCKER_CONFIG?.trim();
  if (config) return config;
  return path.join(env.HOME?.trim() || homedir(), '.docker');
}
