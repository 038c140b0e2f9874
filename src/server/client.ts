// Talking to a running daemon's status server, for `twine status` and
// `twine healthcheck`: over its unix socket by default, or a URL.

import http from 'node:http';
import { TwineError, UnreachableError } from '../errors.js';

export interface Endpoint {
  /** Unix socket path; used unless url is set. */
  socket?: string;
  /** http://host:port base URL. */
  url?: string;
}

export interface Response<T> {
  status: number;
  body: T;
}

export function describeEndpoint(ep: Endpoint): string {
  return ep.url ? ep.url : `unix socket ${ep.socket}`;
}

/** GET a JSON document. Resolves for any HTTP status; rejects with UnreachableError when no answer came. */
export function getJson<T>(ep: Endpoint, path: string, timeoutMs = 5000): Promise<Response<T>> {
  return new Promise((resolve, reject) => {
    let req: http.ClientRequest;
    const onRes = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as T });
        } catch {
          reject(new TwineError(`${describeEndpoint(ep)}${path}: HTTP ${res.statusCode}, not JSON: ${text.slice(0, 200)}`));
        }
      });
      res.on('error', (err) => reject(new UnreachableError(`${describeEndpoint(ep)}: ${err.message}`)));
    };
    try {
      if (ep.url) {
        const u = new URL(path, ep.url.endsWith('/') ? ep.url : `${ep.url}/`);
        if (u.protocol !== 'http:') throw new TwineError(`--url ${ep.url}: only http:// is supported`);
        req = http.get(u, { timeout: timeoutMs, headers: { accept: 'application/json' } }, onRes);
      } else {
        req = http.get({ socketPath: ep.socket, path, timeout: timeoutMs, headers: { accept: 'application/json', host: 'twine' } }, onRes);
      }
    } catch (err) {
      reject(err instanceof TwineError ? err : new UnreachableError(`${describeEndpoint(ep)}: ${(err as Error).message}`));
      return;
    }
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? ' (is `twine start` running? see --socket / --url)' : '';
      reject(new UnreachableError(`cannot reach twine at ${describeEndpoint(ep)}: ${err.message}${hint}`));
    });
  });
}
