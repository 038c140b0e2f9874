// The bench's own subscription to Docker's event stream: the start events'
// timestamps are where every latency is measured from.

import type Docker from 'dockerode';
import { parseDockerEvent } from '../src/docker/events.js';
import { nowMs, sleep } from './stats.js';

export interface SeenEvent {
  /** Docker's timestamp (ms since the epoch, sub-ms kept). */
  timeMs: number;
  /** When the bench received it. */
  receivedMs: number;
}

export class StartEvents {
  private readonly byId = new Map<string, SeenEvent[]>();
  private stream: NodeJS.ReadableStream | undefined;

  async open(d: Docker): Promise<void> {
    const s = (await d.getEvents({ filters: { type: ['container'], event: ['start'] } })) as NodeJS.ReadableStream;
    this.stream = s;
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      const receivedMs = nowMs();
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const ev = parseDockerEvent(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (!ev || ev.action !== 'start') continue;
        const list = this.byId.get(ev.id) ?? [];
        list.push({ timeMs: ev.timeMs, receivedMs });
        this.byId.set(ev.id, list);
      }
    });
  }

  close(): void {
    (this.stream as unknown as { destroy?: () => void } | undefined)?.destroy?.();
  }

  /** The first start event of `id` stamped at or after `afterMs` (waits up to timeoutMs for it to arrive). */
  async startOf(id: string, afterMs: number, timeoutMs = 5000): Promise<SeenEvent | undefined> {
    const deadline = nowMs() + timeoutMs;
    for (;;) {
      const e = this.byId.get(id)?.find((x) => x.timeMs >= afterMs - 1);
      if (e || nowMs() > deadline) return e;
      await sleep(5);
    }
  }
}
