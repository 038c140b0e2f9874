// The status server: /healthz, /metrics and /api/containers, served on a TCP
// address (--listen, default 127.0.0.1:9117) and on a unix socket (--socket,
// default /run/twine/twine.sock) that doubles as the one-Twine-per-host guard.
// Everything is read-only: GET (and HEAD) only, JSON everywhere but /metrics.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import { readVersion } from '../cli/version.js';
import { containerDoc, type HealthDoc } from './api.js';
import { listenExclusive } from './instance.js';
import type { Metrics } from './metrics.js';
import type { DaemonView } from './view.js';

export const DEFAULT_PORT = 9117;
export const DEFAULT_LISTEN = `127.0.0.1:${DEFAULT_PORT}`;

export interface ServerOptions {
  view: DaemonView;
  metrics: Metrics;
  /** "host:port", ":port", "[v6]:port"; "" or "none" disables TCP. */
  listen: string;
  /** Unix socket path; "" or "none" disables it (and the instance guard with it). */
  socket: string;
  log?: Logger;
}

export interface RunningServer {
  /** The TCP address actually bound (port 0 → the kernel's choice), if any. */
  tcp?: { host: string; port: number };
  socket?: string;
  /** True when a stale socket of a crashed daemon was removed. */
  tookOverStale: boolean;
  close(): Promise<void>;
}

const startedAt = Date.now();

/** Parses --listen. Returns undefined when disabled. Throws on a malformed value. */
export function parseListen(value: string): { host: string; port: number } | undefined {
  const v = value.trim();
  if (v === '' || v === 'none') return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(v);
  if (!m) throw new Error(`--listen ${JSON.stringify(value)}: expected host:port, [ipv6]:port, :port or none`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`--listen ${JSON.stringify(value)}: port out of range`);
  const host = m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]!);
  return { host, port };
}

export function health(view: DaemonView): HealthDoc {
  const reconciled = view.reconciled;
  const dockerConnected = view.dockerConnected();
  const cs = view.containers();
  const doc: HealthDoc = {
    ok: reconciled && dockerConnected,
    reconciled,
    dockerConnected,
    containers: cs.filter((c) => c.running).length,
    errors: cs.filter((c) => c.lastError !== undefined || c.labelErrors.length > 0).length,
    version: readVersion(),
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
  };
  if (!dockerConnected) doc.reason = 'docker event stream not connected';
  else if (!reconciled) doc.reason = 'first reconcile not finished';
  return doc;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, head: boolean): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(head ? undefined : text);
}

/** The request handler alone (for tests that want no sockets). */
export function createHandler(view: DaemonView, metrics: Metrics, log?: Logger): http.RequestListener {
  return (req, res) => {
    void (async () => {
      const method = req.method ?? 'GET';
      let pathname: string;
      try {
        pathname = new URL(req.url ?? '/', 'http://twine').pathname;
      } catch {
        sendJson(res, 400, { error: 'bad request' }, false);
        return;
      }
      if (pathname.length > 1 && pathname.endsWith('/')) pathname = pathname.slice(0, -1);
      const known = pathname === '/healthz' || pathname === '/metrics' || pathname === '/api/containers' || pathname.startsWith('/api/containers/');
      if (!known) {
        sendJson(res, 404, { error: `not found: ${pathname}`, endpoints: ['/healthz', '/metrics', '/api/containers', '/api/containers/<name-or-id>'] }, method === 'HEAD');
        return;
      }
      if (method !== 'GET' && method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        sendJson(res, 405, { error: `method ${method} not allowed: the API is read-only` }, false);
        return;
      }
      const head = method === 'HEAD';
      if (pathname === '/healthz') {
        const h = health(view);
        sendJson(res, h.ok ? 200 : 503, h, head);
      } else if (pathname === '/metrics') {
        const text = await metrics.render();
        res.writeHead(200, { 'content-type': metrics.contentType(), 'content-length': Buffer.byteLength(text) });
        res.end(head ? undefined : text);
      } else if (pathname === '/api/containers') {
        sendJson(res, 200, view.containers().map(containerDoc), head);
      } else {
        const key = decodeURIComponent(pathname.slice('/api/containers/'.length));
        const c = key === '' ? undefined : view.container(key);
        if (c) sendJson(res, 200, containerDoc(c), head);
        else sendJson(res, 404, { error: `no container ${JSON.stringify(key)} known to twine (only containers with twine.* labels are tracked)` }, head);
      }
    })().catch((err: unknown) => {
      log?.error({ err, url: req.url }, 'status request failed');
      if (!res.headersSent) sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) }, false);
      else res.destroy();
    });
  };
}

function listenTcp(server: http.Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function closeServer(s: http.Server): Promise<void> {
  return new Promise((resolve) => {
    s.close(() => resolve());
    s.closeAllConnections();
  });
}

/**
 * Starts the status server. The unix socket is bound first: when another
 * Twine holds it this throws AlreadyRunningError (exit code 3) before
 * anything else was started.
 */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  opts.metrics.bind(opts.view);
  const handler = createHandler(opts.view, opts.metrics, opts.log);
  const servers: http.Server[] = [];
  const result: RunningServer = {
    tookOverStale: false,
    close: async () => {
      await Promise.all(servers.map(closeServer));
    },
  };
  const tcp = parseListen(opts.listen);
  const socket = opts.socket.trim() === 'none' ? '' : opts.socket.trim();
  try {
    if (socket !== '') {
      const s = http.createServer(handler);
      const r = await listenExclusive(s, socket);
      servers.push(s);
      result.socket = socket;
      result.tookOverStale = r.tookOverStale;
      if (r.tookOverStale) opts.log?.warn({ socket }, 'removed the stale socket of a twine that did not stop cleanly');
    }
    if (tcp) {
      const s = http.createServer(handler);
      const a = await listenTcp(s, tcp.host, tcp.port);
      servers.push(s);
      result.tcp = { host: a.address, port: a.port };
    }
  } catch (err) {
    await result.close();
    throw err;
  }
  opts.log?.info({ listen: result.tcp ? `${result.tcp.host}:${result.tcp.port}` : 'off', socket: result.socket ?? 'off' }, 'status server listening');
  return result;
}
