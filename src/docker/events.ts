// Docker's event stream (container, network, and swarm's service and node
// events, which only managers send), kept open: on any
// disconnect it reconnects with exponential backoff (capped, default 5 s) and
// calls `onConnect` after every (re)connect, so the owner can re-sync what it
// may have missed. Events carry Docker's own timestamp in nanoseconds. Lines
// are split in bytes and decoded whole (./json-lines.ts): a UTF-8 character cut
// between two chunks survives, and a line over 1 MiB is dropped, not buffered.

import type { Readable } from 'node:stream';
import { dockerError, type DockerClient } from './client.js';
import { LineSplitter, MAX_LINE_BYTES } from './json-lines.js';
import type { DockerError } from '../errors.js';

export type DockerEventType = 'container' | 'network' | 'service' | 'node';

const EVENT_TYPES: readonly string[] = ['container', 'network', 'service', 'node'] satisfies DockerEventType[];

export interface DockerEvent {
  type: DockerEventType;
  /** Docker's Action: start, die, stop, destroy, rename, connect, disconnect, ... */
  action: string;
  /** Actor.ID: the container id; for network, service and node events that one's id. */
  id: string;
  /** Actor.Attributes (for containers: name, image and the labels; for networks: name, type, container). */
  attributes: Record<string, string>;
  /** Docker's timeNano, exact (JSON numbers lose precision at this size). */
  timeNano: bigint;
  /** The same instant in milliseconds since the epoch (sub-ms fraction kept). */
  timeMs: number;
}

export interface EventStreamOptions {
  docker: DockerClient;
  onEvent: (e: DockerEvent) => void;
  /** Called after every (re)connect, before the backoff resets. A throw reconnects. */
  onConnect?: (info: { attempt: number; reconnect: boolean }) => void | Promise<void>;
  /** Called when the stream breaks or a connect attempt fails; `retryInMs` until the next try. */
  onDisconnect?: (err: DockerError, retryInMs: number) => void;
  /** Called for each line over `maxLineBytes`, which is dropped; the stream goes on. */
  onOversizedLine?: (maxBytes: number) => void;
  /** Default MAX_LINE_BYTES (1 MiB). */
  maxLineBytes?: number;
  types?: DockerEventType[];
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

/** Parses one line of the event stream; undefined for lines that are not a usable event. */
export function parseDockerEvent(line: string): DockerEvent | undefined {
  let j: {
    Type?: string;
    Action?: string;
    status?: string;
    id?: string;
    Actor?: { ID?: string; Attributes?: Record<string, string> };
    time?: number;
  };
  try {
    j = JSON.parse(line) as typeof j;
  } catch {
    return undefined;
  }
  const type = j.Type;
  if (type === undefined || !EVENT_TYPES.includes(type)) return undefined;
  const action = j.Action ?? j.status;
  const id = j.Actor?.ID ?? j.id;
  if (action === undefined || id === undefined) return undefined;
  const m = /"timeNano"\s*:\s*(\d+)/.exec(line);
  const timeNano = m ? BigInt(m[1]!) : BigInt(j.time ?? 0) * 1_000_000_000n;
  const timeMs = Number(timeNano / 1_000_000n) + Number(timeNano % 1_000_000n) / 1e6;
  return { type: type as DockerEventType, action, id, attributes: { ...(j.Actor?.Attributes ?? {}) }, timeNano, timeMs };
}

export class DockerEventStream {
  private stopped = false;
  private stream: Readable | undefined;
  /** Aborts a connect the engine has not answered yet (stop() must not wait for it). */
  private connecting: AbortController | undefined;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private connectedNow = false;
  /** Since when the stream is not connected (ms since epoch), and the last failure. */
  private down: { since: number; reason?: string } = { since: Date.now() };
  /** Successful connections so far (the first one included). */
  connects = 0;

  constructor(private readonly opts: EventStreamOptions) {}

  get connected(): boolean {
    return this.connectedNow;
  }

  /** Undefined while connected; else since when it is not, and why (the last failure, if any). */
  get disconnected(): { since: number; reason?: string } | undefined {
    return this.connectedNow ? undefined : this.down;
  }

  start(): void {
    if (this.loop) return;
    this.down = { since: Date.now() };
    this.loop = this.run();
  }

  /** Ends the stream and any pending retry; resolves once the loop has exited. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.connecting?.abort();
    this.wake?.();
    this.destroy();
    await this.loop;
  }

  private destroy(): void {
    const s = this.stream;
    this.stream = undefined;
    s?.destroy();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  private async run(): Promise<void> {
    const initial = this.opts.initialBackoffMs ?? 100;
    const max = this.opts.maxBackoffMs ?? 5000;
    const types = this.opts.types ?? [...EVENT_TYPES];
    let delay = initial;
    let attempt = 0;
    while (!this.stopped) {
      attempt++;
      let failure: DockerError | undefined;
      try {
        this.connecting = new AbortController();
        const stream = await this.opts.docker.events({ type: types }, { signal: this.connecting.signal });
        this.connecting = undefined;
        if (this.stopped) {
          stream.destroy();
          break;
        }
        this.stream = stream;
        const ended = this.consume(stream);
        this.connectedNow = true;
        this.connects++;
        try {
          await this.opts.onConnect?.({ attempt, reconnect: this.connects > 1 });
          delay = initial;
          attempt = 0;
        } catch (err) {
          failure = dockerError('re-sync after connect', err);
          this.destroy();
        }
        const endErr = await ended;
        failure ??= endErr;
      } catch (err) {
        this.connecting = undefined;
        failure = dockerError('events', err);
      }
      const err = failure ?? dockerError('events', new Error('stream ended'));
      if (this.connectedNow) this.down = { since: Date.now() };
      this.down.reason = err.message.replace(/^docker: /, '');
      this.connectedNow = false;
      if (this.stopped) break;
      this.opts.onDisconnect?.(err, delay);
      await this.sleep(delay);
      delay = Math.min(delay * 2, max);
    }
    this.connectedNow = false;
  }

  /** Reads JSON lines until the stream ends; resolves with the error, if any. */
  private consume(stream: Readable): Promise<DockerError | undefined> {
    return new Promise((resolve) => {
      let settled = false;
      const finish = (err?: unknown): void => {
        if (settled) return;
        settled = true;
        resolve(err === undefined ? undefined : dockerError('events stream', err));
      };
      const lines = new LineSplitter(
        (raw) => {
          const line = raw.trim();
          if (line === '') return;
          const ev = parseDockerEvent(line);
          if (ev === undefined || this.stopped) return;
          try {
            this.opts.onEvent(ev);
          } catch {
            // One handler failure must not end the stream; the owner logs its own errors.
          }
        },
        (max) => this.opts.onOversizedLine?.(max),
        this.opts.maxLineBytes ?? MAX_LINE_BYTES,
      );
      stream.on('data', (chunk: Buffer | string) => lines.push(chunk));
      stream.on('end', () => finish());
      stream.on('close', () => finish());
      stream.on('error', (err) => finish(err));
    });
  }
}
