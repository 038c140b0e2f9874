// A counting proxy in front of the Docker socket, for tests that claim the
// daemon did (or did not) ask Docker something: the daemon talks to the
// proxy's socket, the proxy pipes every byte to the real one and records each
// request line and when its answer began, and when events passed through.

import net from 'node:net';
import { rmSync } from 'node:fs';

export interface ProxiedRequest {
  method: string;
  path: string;
  /** Date.now() when the request line reached the proxy. */
  sentAt: number;
  /** Date.now() when the first byte of its answer came back (undefined: not yet). */
  answeredAt?: number;
}

export interface DockerProxy {
  socket: string;
  requests: ProxiedRequest[];
  /** Answers to requests whose path matches are held back until release() (the request still reaches Docker). */
  hold(path: RegExp): void;
  release(): void;
  /** When an event with this action about this container id (its own, or a network's naming it) first passed to the daemon (Date.now()). */
  eventSeen(action: string, id: string): number | undefined;
  /** How many events passed to the daemon so far, on every event stream it opened. */
  eventsPassed(): number;
  close(): Promise<void>;
}

const REQUEST_LINE = /(?:^|\r\n)(GET|POST|PUT|DELETE|HEAD) (\S+) HTTP\/1\.[01]\r\n/g;

/**
 * Starts a proxy on `socket` in front of `upstream`. Request lines are found by
 * scanning what the client sends (the daemon's requests have small bodies);
 * answers are matched to requests in order per connection (HTTP/1.1, no
 * pipelining by our client). The event stream is scanned as it passes: Docker
 * flushes each event as a line of its own.
 */
export async function startDockerProxy(socket: string, upstream = '/var/run/docker.sock'): Promise<DockerProxy> {
  rmSync(socket, { force: true });
  const requests: ProxiedRequest[] = [];
  const events: Array<{ at: number; text: string }> = [];
  /** Everything each event stream carried, to count events in (one may span chunks). */
  const streams: Array<{ text: string }> = [];
  const conns = new Set<net.Socket>();
  let holding: RegExp | undefined;
  const held: Array<() => void> = [];
  const server = net.createServer((client) => {
    const up = net.connect(upstream);
    conns.add(client);
    conns.add(up);
    const pending: ProxiedRequest[] = [];
    let streaming = false;
    const stream = { text: '' };
    /** The answer now coming back is held: its chunks wait for release(), in order. */
    let holdingThis = false;
    client.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      for (const m of text.matchAll(REQUEST_LINE)) {
        const r: ProxiedRequest = { method: m[1]!, path: m[2]!, sentAt: Date.now() };
        requests.push(r);
        pending.push(r);
      }
      up.write(chunk);
    });
    up.on('data', (chunk: Buffer) => {
      const now = Date.now();
      if (streaming) {
        events.push({ at: now, text: chunk.toString('utf8') });
        stream.text += chunk.toString('latin1');
      } else {
        const r = pending.shift();
        if (r) {
          holdingThis = holding?.test(r.path) === true;
          if (!holdingThis) r.answeredAt = now;
          else held.push(() => (r.answeredAt = Date.now()));
          streaming = r.path.startsWith('/events') || /\/v[\d.]+\/events/.test(r.path);
          if (streaming) {
            events.push({ at: now, text: chunk.toString('utf8') });
            stream.text += chunk.toString('latin1');
            streams.push(stream);
          }
        }
      }
      if (holdingThis) held.push(() => client.write(chunk));
      else client.write(chunk);
    });
    const end = (): void => {
      client.destroy();
      up.destroy();
      conns.delete(client);
      conns.delete(up);
    };
    client.on('close', end).on('error', end);
    up.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socket, resolve));
  return {
    socket,
    requests,
    hold(path) {
      holding = path;
    },
    release() {
      holding = undefined;
      for (const f of held.splice(0)) f();
    },
    eventSeen(action, id) {
      const hit = events.find((e) => e.text.includes(`"Action":"${action}"`) && (e.text.includes(`"ID":"${id}"`) || e.text.includes(`"container":"${id}"`)));
      return hit?.at;
    },
    eventsPassed() {
      // Each event is one JSON object with one top-level "Action" (a label value's quotes are escaped).
      return streams.reduce((n, st) => n + (st.text.match(/"Action":"/g)?.length ?? 0), 0);
    },
    async close() {
      for (const c of conns) c.destroy();
      await new Promise((r) => server.close(r));
      rmSync(socket, { force: true });
    },
  };
}

/** The inspects of one container among the proxied requests. */
export function inspectsOf(p: DockerProxy, id: string): ProxiedRequest[] {
  return p.requests.filter((r) => r.method === 'GET' && new RegExp(`/containers/${id}(?:[0-9a-f]*)/json`).test(r.path));
}
