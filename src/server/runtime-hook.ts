// The runtime wrapper's request: `POST /runtime/start` with {id, pid, timeoutMs,
// mode}, sent while runc holds the container's start; served on the daemon's
// unix socket only (root's, like the daemon); the TCP listener never routes it.
// The answer comes when the container's transaction is committed and verified
// (200), or says why not (503); the wrapper turns anything but 200 into a failed
// start, or in open mode into a warning that is logged here.

import type http from 'node:http';
import type { Logger } from '../log.js';
import type { HookOutcome } from '../engine/engine.js';

export const HOOK_PATH = '/runtime/start';

/** Applies container `id` whose process `pid` runc holds before it runs. */
export type HookApplier = (id: string, pid: number) => Promise<HookOutcome>;

export interface HookRequest {
  id: string;
  pid: number;
  /** What is left of the hook's own timeout. */
  timeoutMs: number;
  mode: 'closed' | 'open';
}

const MAX_BODY = 4096;
/** The answer must reach the hook before it gives up by itself. */
const ANSWER_MARGIN_MS = 250;

/** Validates the hook's JSON; throws an Error saying what is wrong. */
export function parseHookRequest(text: string): HookRequest {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error('body is not JSON');
  }
  const o = (v !== null && typeof v === 'object' ? v : {}) as Record<string, unknown>;
  const { id, pid, timeoutMs, mode } = o;
  if (typeof id !== 'string' || !/^[0-9a-f]{64}$/.test(id)) throw new Error('id: expected a 64-hex-digit container id');
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0 || pid > 4194304) throw new Error('pid: expected a process id');
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > 600_000) throw new Error('timeoutMs: expected 1 to 600000');
  if (mode !== 'closed' && mode !== 'open') throw new Error('mode: expected closed or open');
  return { id, pid, timeoutMs, mode };
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error(`body larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function answer(res: http.ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), connection: 'close' });
  res.end(text);
}

async function serveHook(req: http.IncomingMessage, res: http.ServerResponse, apply: HookApplier, log?: Logger): Promise<void> {
  let hr: HookRequest;
  try {
    hr = parseHookRequest(await readBody(req));
  } catch (err) {
    answer(res, 400, { error: `bad runtime hook request: ${(err as Error).message}` });
    return;
  }
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const budget = Math.max(1, hr.timeoutMs - ANSWER_MARGIN_MS);
  const late = new Promise<HookOutcome>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, error: `not applied within the hook's timeout (${hr.timeoutMs} ms)` }), budget);
  });
  const outcome = await Promise.race([apply(hr.id, hr.pid).catch((err: unknown): HookOutcome => ({ ok: false, error: (err as Error).message ?? String(err) })), late]);
  clearTimeout(timer);
  const ms = Math.round((performance.now() - t0) * 10) / 10;
  const who = { container: outcome.name, id: hr.id.slice(0, 12), pid: hr.pid, ms };
  if (outcome.ok) {
    log?.debug({ ...who, applied: outcome.applied }, outcome.applied ? 'runtime hook: applied, the container may start' : 'runtime hook: no twine labels, passed through');
    answer(res, 200, { ok: true, applied: outcome.applied });
    return;
  }
  if (hr.mode === 'open') log?.warn({ ...who, err: outcome.error }, 'runtime hook: the container starts without its network set-up (open mode)');
  else log?.error({ ...who, err: outcome.error }, 'runtime hook: the container\'s start fails (fail-closed runtime)');
  answer(res, 503, { ok: false, error: outcome.error });
}

/** Serves the hook's request with `apply`, everything else with `next` (the status API). */
export function withRuntimeHook(next: http.RequestListener, apply: HookApplier, log?: Logger): http.RequestListener {
  return (req, res) => {
    let pathname = '';
    try {
      pathname = new URL(req.url ?? '/', 'http://twine').pathname;
    } catch {
      // the status handler answers a malformed URL
    }
    if (pathname !== HOOK_PATH) {
      next(req, res);
      return;
    }
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      answer(res, 405, { error: `${HOOK_PATH} takes POST` });
      return;
    }
    serveHook(req, res, apply, log).catch((err: unknown) => {
      log?.error({ err }, 'runtime hook request failed');
      if (!res.headersSent) answer(res, 500, { error: (err as Error).message ?? String(err) });
      else res.destroy();
    });
  };
}
