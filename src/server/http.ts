// The status server: /healthz, /metrics and /api/containers, served on a TCP
// address (--listen, default 127.0.0.1:9117) and on a unix socket (--socket,
// default /run/twine/twine.sock) that doubles as the one-Twine-per-host guard.
// Everything is read-only: GET (and HEAD) only, JSON everywhere but /metrics;
// the one exception is the twine runtime's hook, on the unix socket only
// (./runtime-hook.ts).
// Both listeners bound their connections and the time a request may take; the
// TCP one also answers only requests whose Host names it (./host-check.ts).

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import { readVersion } from '../util/version.js';
import { containerDetailDoc, containerDoc, hasError, type HealthDoc } from './api.js';
import { DASHBOARD_HEADERS, DASHBOARD_PATHS, dashboardFile } from './dashboard.js';
import { hostCheck, type HostCheck } from './host-check.js';
import { listenExclusive } from './instance.js';
import { withRuntimeHook, type HookApplier } from './runtime-hook.js';
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
  /** Extra names the TCP listener answers to (--listen-allowed-hosts). */
  allowedHosts?: readonly string[];
  /** Defaults: SERVER_LIMITS. */
  limits?: Partial<ServerLimits>;
  /** Serves the twine runtime's hook on the unix socket (never on TCP). */
  runtimeHook?: HookApplier;
  log?: Logger;
}

/** What one client may hold of a listener. */
export interface ServerLimits {
  /** Until the request's headers are in (slow or silent clients); answered 408. */
  headersTimeoutMs: number;
  /** Until the whole request is in; answered 408. */
  requestTimeoutMs: number;
  /** An idle kept-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** A connection with no traffic at all (e.g. a client that stopped reading) is closed after this. */
  idleTimeoutMs: number;
  /** Open connections per listener; more are closed as they arrive. */
  maxConnections: number;
}

export const SERVER_LIMITS: ServerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 60_000,
  maxConnections: 64,
};

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
    errors: cs.filter(hasError).length,
    version: readVersion(),
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
  };
  const activity = view.activity?.();
  if (activity) {
    doc.events = activity.events;
    doc.busy = activity.busy;
  }
  const down = dockerConnected ? undefined : view.dockerDown?.();
  if (down) {
    doc.dockerDownSince = isoSeconds(down.since);
    if (down.reason !== undefined) doc.dockerError = down.reason;
  }
  if (!dockerConnected) doc.reason = `docker event stream not connected${down ? ` since ${doc.dockerDownSince}${down.reason ? ` (${down.reason})` : ''}` : ''}`;
  else if (!reconciled) doc.reason = 'first reconcile not finished';
  return doc;
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, head: boolean): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(head ? undefined : text);
}

/**
 * The request handler alone (for tests that want no sockets). With `allowHost`,
 * a request whose Host header it refuses is answered 421 and nothing else.
 */
export function createHandler(view: DaemonView, metrics: Metrics, log?: Logger, allowHost?: () => HostCheck): http.RequestListener {
  return (req, res) => {
    void (async () => {
      const method = req.method ?? 'GET';
      if (allowHost && !allowHost()(req.headers.host)) {
        res.setHeader('connection', 'close');
        sendJson(res, 421, { error: `Host ${JSON.stringify(req.headers.host ?? '')} does not name this listener (DNS rebinding guard); use its address, or add the name with --listen-allowed-hosts` }, method === 'HEAD');
        return;
      }
      let pathname: string;
      try {
        pathname = new URL(req.url ?? '/', 'http://twine').pathname;
      } catch {
        sendJson(res, 400, { error: 'bad request' }, false);
        return;
      }
      if (pathname.length > 1 && pathname.endsWith('/')) pathname = pathname.slice(0, -1);
      const page = DASHBOARD_PATHS.includes(pathname);
      const known = page || pathname === '/healthz' || pathname === '/metrics' || pathname === '/api/containers' || pathname.startsWith('/api/containers/');
      if (!known) {
        sendJson(res, 404, { error: `not found: ${pathname}`, endpoints: ['/ (dashboard)', '/healthz', '/metrics', '/api/containers', '/api/containers/<name-or-id>'] }, method === 'HEAD');
        return;
      }
      if (method !== 'GET' && method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        sendJson(res, 405, { error: `method ${method} not allowed: the API is read-only` }, false);
        return;
      }
      const head = method === 'HEAD';
      if (page) {
        const f = dashboardFile(pathname);
        if (!f) throw new Error(`dashboard file for ${pathname} missing`);
        res.writeHead(200, { ...DASHBOARD_HEADERS, 'content-type': f.contentType, 'content-length': f.body.length });
        res.end(head ? undefined : f.body);
      } else if (pathname === '/healthz') {
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
        if (c) {
          const doc = containerDetailDoc(c);
          const dropped = await view.killSwitchDrops?.(c).catch(() => undefined);
          if (dropped !== undefined) doc.killSwitchDropped = dropped;
          const denied = await view.whitelistDrops?.(c).catch(() => undefined);
          if (denied !== undefined) doc.whitelistDropped = denied;
          sendJson(res, 200, doc, head);
        }
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

function createLimitedServer(handler: http.RequestListener, limits: ServerLimits, log: Logger | undefined, what: string): http.Server {
  const s = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // How often those two are checked (Node's default, 30 s, would let them run over).
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    handler,
  );
  s.keepAliveTimeout = limits.keepAliveTimeoutMs;
  s.timeout = limits.idleTimeoutMs;
  s.maxConnections = limits.maxConnections;
  let lastWarn = 0;
  let dropped = 0;
  s.on('drop', () => {
    dropped++;
    const now = Date.now();
    if (now - lastWarn < 60_000) return;
    lastWarn = now;
    log?.warn({ listener: what, maxConnections: limits.maxConnections, dropped }, 'status server: connection limit reached; new connections are closed');
    dropped = 0;
  });
  return s;
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
  const limits = { ...SERVER_LIMITS, ...opts.limits };
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
      const status = createHandler(opts.view, opts.metrics, opts.log);
      const s = createLimitedServer(opts.runtimeHook ? withRuntimeHook(status, opts.runtimeHook, opts.log) : status, limits, opts.log, socket);
      const r = await listenExclusive(s, socket);
      servers.push(s);
      result.socket = socket;
      result.tookOverStale = r.tookOverStale;
      if (r.tookOverStale) opts.log?.warn({ socket }, 'removed the stale socket of a twine that did not stop cleanly');
    }
    if (tcp) {
      // Refuses everything until the bound address (port 0: the kernel's choice) is known.
      let check: HostCheck = () => false;
      const s = createLimitedServer(createHandler(opts.view, opts.metrics, opts.log, () => check), limits, opts.log, opts.listen);
      const a = await listenTcp(s, tcp.host, tcp.port);
      check = hostCheck({ configured: tcp.host, address: a.address, port: a.port }, opts.allowedHosts);
      servers.push(s);
      result.tcp = { host: a.address, port: a.port };
    }
  } catch (err) {
    await result.close();
    throw err;
  }
  opts.log?.debug({ listen: result.tcp ? `${result.tcp.host}:${result.tcp.port}` : 'off', socket: result.socket ?? 'off' }, 'status server listening');
  return result;
}
