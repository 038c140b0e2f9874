// A minimal Docker Engine API client over node:http: the five calls Twine
// makes (GET /_ping, /version, /containers/json, /containers/<id>/json and the
// /events stream), on a unix socket, TCP, or TCP with TLS (https, with the
// client certificate DOCKER_CERT_PATH holds: ./tls.ts). It replaces dockerode in the
// daemon, whose import alone (gRPC, protobufjs and ssh2 for BuildKit sessions
// and ssh:// hosts Twine never uses) costs ~30 MB of resident memory.
//
// Paths are unversioned: the engine serves them at its own API version, and
// Twine reads only fields that every version since 1.24 has. Failures are
// DockerApiErrors carrying the HTTP status (`statusCode`, so a 404 stays
// recognisable through dockerError()/isNotFound()) or the socket's errno `code`.

import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { DockerEndpoint } from './endpoint.js';
import { DockerApiError } from '../errors.js';

/** Default time a JSON GET may take, connect to last byte. */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Larger answers are refused (1000 containers' /containers/json is ~2 MB). */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** GET /version, the fields Twine reads. */
export interface EngineVersion {
  Version: string;
  ApiVersion: string;
  [k: string]: unknown;
}

/** One element of GET /containers/json, the fields Twine reads. */
export interface ContainerSummary {
  Id: string;
  Names?: string[];
  Labels?: Record<string, string> | null;
  State?: string;
  [k: string]: unknown;
}

/** Docker's filter syntax: `{ type: ['container', 'network'] }`. */
export type EngineFilters = Record<string, string[]>;

export interface RequestOptions {
  timeoutMs?: number;
}

export interface EventsOptions {
  /** How long the engine may take to answer (not how long the stream lasts). */
  timeoutMs?: number;
  /** Aborting rejects a request that has not been answered yet. */
  signal?: AbortSignal;
}

/** The engine, as the daemon and the CLI see it. */
export interface DockerClient {
  readonly endpoint: DockerEndpoint;
  /** GET /_ping; resolves when the engine answers OK. */
  ping(opts?: RequestOptions): Promise<void>;
  /** GET /version. */
  version(opts?: RequestOptions): Promise<EngineVersion>;
  /** GET /containers/json: the running containers (`docker ps`). */
  listContainers(opts?: RequestOptions & { filters?: EngineFilters }): Promise<ContainerSummary[]>;
  /** GET /containers/<id>/json (`docker inspect`); a 404 when it is gone. */
  inspectContainer(idOrName: string, opts?: RequestOptions): Promise<unknown>;
  /**
   * GET /events?filters=…: resolves once the engine has answered 200 with the
   * open stream of JSON lines. Destroying the stream ends the request.
   */
  events(filters?: EngineFilters, opts?: EventsOptions): Promise<Readable>;
  /** Any JSON GET (for what the named calls do not cover). */
  getJson<T>(path: string, opts?: RequestOptions): Promise<T>;
  /** Closes idle keep-alive connections; in-flight requests finish. */
  close(): void;
}

export function createApiClient(endpoint: DockerEndpoint): DockerClient {
  return new EngineApiClient(endpoint);
}

interface Answer {
  status: number;
  body: Buffer;
}

class EngineApiClient implements DockerClient {
  // Keep-alive: the start-up sync inspects every container, one connection
  // per concurrent worker instead of one per request. Idle sockets are unref'd
  // by the agent, so they never keep a CLI process alive.
  private readonly agent: http.Agent;

  constructor(readonly endpoint: DockerEndpoint) {
    const tls = endpoint.kind === 'tcp' ? endpoint.tls : undefined;
    this.agent = tls
      ? new https.Agent({
          keepAlive: true,
          maxFreeSockets: 8,
          // Without verify (DOCKER_TLS alone) the engine's certificate is not checked, as with the CLI's --tls.
          rejectUnauthorized: tls.verify,
          ca: tls.ca,
          cert: tls.cert,
          key: tls.key,
        })
      : new http.Agent({ keepAlive: true, maxFreeSockets: 8 });
  }

  async ping(opts?: RequestOptions): Promise<void> {
    const a = await this.get('/_ping', opts);
    const text = a.body.toString('utf8').trim();
    if (text !== 'OK') throw new DockerApiError(`GET /_ping: unexpected answer ${JSON.stringify(text.slice(0, 100))}`, a.status);
  }

  version(opts?: RequestOptions): Promise<EngineVersion> {
    return this.getJson<EngineVersion>('/version', opts);
  }

  listContainers(opts?: RequestOptions & { filters?: EngineFilters }): Promise<ContainerSummary[]> {
    const q = opts?.filters === undefined ? '' : `?filters=${encodeURIComponent(JSON.stringify(opts.filters))}`;
    return this.getJson<ContainerSummary[]>(`/containers/json${q}`, opts);
  }

  inspectContainer(idOrName: string, opts?: RequestOptions): Promise<unknown> {
    return this.getJson<unknown>(`/containers/${encodeURIComponent(idOrName)}/json`, opts);
  }

  async getJson<T>(path: string, opts?: RequestOptions): Promise<T> {
    const a = await this.get(path, opts);
    try {
      return JSON.parse(a.body.toString('utf8')) as T;
    } catch {
      throw new DockerApiError(`GET ${shown(path)}: HTTP ${a.status}, not JSON: ${a.body.toString('utf8').slice(0, 200)}`, a.status);
    }
  }

  events(filters?: EngineFilters, opts?: EventsOptions): Promise<Readable> {
    const path = filters === undefined ? '/events' : `/events?filters=${encodeURIComponent(JSON.stringify(filters))}`;
    const timeoutMs = opts?.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const signal = opts?.signal;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(new DockerApiError(`GET ${shown(path)}: aborted`, undefined, 'ABORT_ERR'));
        return;
      }
      const req = this.request(path);
      let settled = false;
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        return true;
      };
      const fail = (err: DockerApiError): void => {
        if (settle()) reject(err);
        req.destroy();
      };
      // The deadline covers the engine's answer (headers), not the stream after it.
      const timer = setTimeout(
        () => fail(new DockerApiError(`GET ${shown(path)}: no answer within ${timeoutMs} ms`, undefined, 'ETIMEDOUT')),
        timeoutMs,
      );
      const onAbort = (): void => fail(new DockerApiError(`GET ${shown(path)}: aborted`, undefined, 'ABORT_ERR'));
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => fail(err instanceof DockerApiError ? err : transportError(path, err)));
      req.on('response', (res) => {
        if (res.statusCode === 200) {
          // From here on, failures reach the owner as the stream's 'error'/'close'.
          if (settle()) resolve(res);
          else res.destroy();
          return;
        }
        readBody(res, path).then(
          (body) => fail(statusError(path, res.statusCode ?? 0, body)),
          (err: unknown) => fail(err instanceof DockerApiError ? err : transportError(path, err as Error)),
        );
      });
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }

  /** One GET with a deadline; a 2xx answer resolves, anything else rejects. */
  private async get(path: string, opts?: RequestOptions): Promise<Answer> {
    try {
      return await this.getOnce(path, opts?.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    } catch (err) {
      // A kept-alive socket the engine closed while it sat idle fails at once
      // with ECONNRESET; a GET is safe to send again on a fresh one.
      if (!(err instanceof RetryableReset)) throw err;
    }
    try {
      return await this.getOnce(path, opts?.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    } catch (err) {
      if (err instanceof RetryableReset) throw new DockerApiError(`GET ${shown(path)}: connection reset twice`, undefined, 'ECONNRESET');
      throw err;
    }
  }

  private getOnce(path: string, timeoutMs: number): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = this.request(path);
      let timedOut: DockerApiError | undefined;
      let settled = false;
      const timer = setTimeout(() => {
        timedOut = new DockerApiError(`GET ${shown(path)}: no answer within ${timeoutMs} ms`, undefined, 'ETIMEDOUT');
        req.destroy(timedOut);
      }, timeoutMs);
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(timedOut ?? err);
      };
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err instanceof DockerApiError) fail(err);
        else if (req.reusedSocket && err.code === 'ECONNRESET') fail(new RetryableReset());
        else fail(transportError(path, err));
      });
      req.on('response', (res) => {
        readBody(res, path).then(
          (body) => {
            const status = res.statusCode ?? 0;
            if (status < 200 || status >= 300) return fail(statusError(path, status, body));
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            resolve({ status, body });
          },
          (err: unknown) => fail(err instanceof DockerApiError ? err : transportError(path, err as Error)),
        );
      });
      req.end();
    });
  }

  private request(path: string): http.ClientRequest {
    const e = this.endpoint;
    const base: http.RequestOptions = { method: 'GET', path, agent: this.agent, headers: { accept: 'application/json' } };
    if (e.kind === 'unix') return http.request({ ...base, socketPath: e.socketPath });
    // With TLS asked for, only https: the agent above carries the CA and the client certificate.
    return (e.tls ? https : http).request({ ...base, host: e.host, port: e.port });
  }
}

class RetryableReset extends Error {}

/** The path as errors quote it: without the query, whose URL-encoded filters only obscure what failed. */
function shown(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

function readBody(res: http.IncomingMessage, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        res.destroy(new DockerApiError(`GET ${shown(path)}: answer larger than ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(c);
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
    res.on('close', () => {
      if (!res.complete) reject(new DockerApiError(`GET ${shown(path)}: connection closed mid-answer`, undefined, 'ECONNRESET'));
    });
  });
}

/** The engine's own words: its error bodies are `{"message": "..."}`. */
function statusError(path: string, status: number, body: Buffer): DockerApiError {
  const text = body.toString('utf8').trim();
  let message = text;
  try {
    const j = JSON.parse(text) as { message?: unknown };
    if (typeof j.message === 'string') message = j.message;
  } catch {
    // Not JSON (a proxy's page, an empty body): quote what came.
  }
  const detail = message === '' ? http.STATUS_CODES[status] ?? 'error' : message.slice(0, 500);
  return new DockerApiError(`GET ${shown(path)}: HTTP ${status}: ${detail}`, status);
}

function transportError(path: string, err: Error): DockerApiError {
  const code = (err as NodeJS.ErrnoException).code;
  return new DockerApiError(`GET ${shown(path)}: ${err.message}${tlsHint(code)}`, undefined, code);
}

/** What a TLS failure usually means for a Docker engine. */
function tlsHint(code: string | undefined): string {
  if (code === undefined) return '';
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') return ' (TLS was asked for, but the engine at this address does not speak TLS)';
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT_ALTNAME/.test(code)) return ' (the engine\'s certificate does not verify against ca.pem in DOCKER_CERT_PATH, or does not name this host)';
  if (/ALERT_BAD_CERTIFICATE|ALERT_CERTIFICATE_REQUIRED|ALERT_UNKNOWN_CA/.test(code)) return ' (the engine refused our client certificate, cert.pem in DOCKER_CERT_PATH)';
  return '';
}
