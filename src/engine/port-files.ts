// Forwarded-port files: a gateway whose labels forward the port its VPN
// provider assigns (twine.nat.forward.[<pat>.]file) names a file inside it
// that holds the port. inotify does not see changes made inside a container
// through /proc/<pid>/root on overlayfs reliably, so the engine reads each such
// file once a second (one small read on a worker per gateway, nothing else),
// and before a gateway's first plan. A reading that differs from the last one
// goes into the inventory snapshot (Inventory.portFiles), and the gateway is
// re-planned: its forward's DNAT follows the port like any other plan change,
// and the table diff's conntrack clean-up removes what the old port left.
//
// What a reading means: a port (a regular file holding one number 1-65535,
// white space around it allowed); none, with the reason, for a file that is
// missing, empty or holds anything else; and a refusal (a symlink leading out
// of the container's root, not a regular file, more than MAX_PORT_FILE_BYTES)
// keeps the port of the last good reading: a hostile or broken file changes
// nothing, and is reported.

import type { PortFileReading } from '../docker/container.js';
import type { ContainerInfo } from '../docker/container.js';
import { LabelError } from '../errors.js';
import type { SpecCache } from '../labels/spec-cache.js';
import type { Logger } from '../log.js';
import type { RootFileAnswer } from '../netns/native.js';

/** A port file is a number and a newline: anything bigger is refused unread. */
export const MAX_PORT_FILE_BYTES = 64;

export type RootFileReader = (pid: number, path: string, maxBytes: number) => Promise<RootFileAnswer>;

/** What one read of `path` says; `last` is the reading before it (its port survives a refusal). */
export function portFileReading(path: string, a: RootFileAnswer, last: PortFileReading | undefined): PortFileReading {
  const refused = (why: string): PortFileReading => ({ ...(last?.port !== undefined ? { port: last.port } : {}), problem: `${path}: ${why}; refused, nothing changed` });
  switch (a.status) {
    case 'missing':
      return { problem: `${path} does not exist in the container` };
    case 'escape':
      return refused("a symlink on the path leads outside the container's root (absolute, or climbing above /)");
    case 'notFile':
      return refused('not a regular file');
    case 'tooBig':
      return refused(`${a.size} bytes or more, larger than the ${MAX_PORT_FILE_BYTES} bytes a port file may have`);
    case 'gone':
      return last ?? { problem: 'the container has no process' };
    case 'error':
      return refused(`cannot be read (errno ${a.errno})`);
    case 'ok':
      break;
  }
  const text = (a.data ?? '').trim();
  if (text === '') return { problem: `${path} is empty` };
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    const shown = text.length > 20 ? `${text.slice(0, 20)}…` : text;
    return { problem: `${path} does not hold a port (1-65535): ${JSON.stringify(shown)}` };
  }
  return { port: Number(text) };
}

const same = (a: PortFileReading | undefined, b: PortFileReading): boolean => a?.port === b.port && a?.problem === b.problem;

export interface PortFilesDeps {
  specs: SpecCache;
  /** The containers to look at (running ones with a port-file forward are read). */
  containers(): Iterable<ContainerInfo>;
  read: RootFileReader | undefined;
  log: Logger;
  pollMs: number;
  /** The readings changed: the snapshot must be rebuilt. */
  invalidate(): void;
  replan(ids: Iterable<string>, why: string): void;
}

export class PortFiles {
  private readings = new Map<string, PortFileReading & { pid: number }>();
  private view: ReadonlyMap<string, PortFileReading> = new Map();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(private readonly d: PortFilesDeps) {}

  /** The readings by container id; the same map until one changes. */
  current(): ReadonlyMap<string, PortFileReading> {
    return this.view;
  }

  start(): void {
    if (this.timer || this.d.pollMs <= 0 || !this.d.read) return;
    this.timer = setInterval(() => void this.poll(), this.d.pollMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The port file of `info`, when it has one and it was not read for this process yet. */
  async before(info: ContainerInfo): Promise<void> {
    const path = this.pathOf(info);
    if (path === undefined || this.readings.get(info.id)?.pid === info.pid) return;
    if (await this.readOne(info, path)) this.publish();
  }

  /** One round: every running gateway with a port-file forward; changed ones are re-planned. */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const changed: string[] = [];
      const live = new Set<string>();
      const jobs: Promise<void>[] = [];
      for (const c of this.d.containers()) {
        const path = this.pathOf(c);
        if (path === undefined) continue;
        live.add(c.id);
        jobs.push(this.readOne(c, path).then((ch) => void (ch && changed.push(c.id))));
      }
      await Promise.all(jobs);
      for (const id of [...this.readings.keys()]) {
        if (live.has(id)) continue;
        this.readings.delete(id);
        changed.push(id);
      }
      if (changed.length > 0) {
        this.publish();
        this.d.replan(changed, 'forwarded-port file changed');
      }
    } finally {
      this.polling = false;
    }
  }

  private pathOf(c: ContainerInfo): string | undefined {
    if (!c.running || c.pid <= 0 || !Object.keys(c.labels).some((k) => k.startsWith('twine.nat.forward.'))) return undefined;
    try {
      return this.d.specs.specOf(c).portFile;
    } catch (e) {
      if (e instanceof LabelError) return undefined;
      throw e;
    }
  }

  /** Reads one file; true when the reading changed. */
  private async readOne(c: ContainerInfo, path: string): Promise<boolean> {
    if (!this.d.read) return false;
    const last = this.readings.get(c.id);
    let answer: RootFileAnswer;
    try {
      answer = await this.d.read(c.pid, path.slice(1), MAX_PORT_FILE_BYTES);
    } catch (err) {
      answer = { status: 'error', errno: 0, size: 0 };
      this.d.log.warn({ container: c.name, err }, 'reading the forwarded-port file failed');
    }
    const reading = portFileReading(path, answer, last?.pid === c.pid ? last : undefined);
    const changed = !same(last, reading) || last?.pid !== c.pid;
    this.readings.set(c.id, { ...reading, pid: c.pid });
    if (!same(last, reading)) this.logChange(c, path, reading);
    return changed;
  }

  private logChange(c: ContainerInfo, path: string, r: PortFileReading): void {
    const labels = Object.keys(c.labels).filter((k) => /^twine\.nat\.forward\.(?:.*\.)?file(?:\/(?:tcp|udp))?$/.test(k));
    if (r.problem !== undefined && r.problem.includes('refused')) this.d.log.error({ container: c.name, labels, path, port: r.port }, `forwarded-port file refused: ${r.problem}`);
    else if (r.problem !== undefined) this.d.log.warn({ container: c.name, labels, path }, `no forwarded port: ${r.problem}`);
    else this.d.log.info({ container: c.name, labels, path, port: r.port }, 'forwarded port read');
  }

  private publish(): void {
    this.view = new Map([...this.readings].map(([id, { pid: _pid, ...r }]) => [id, r]));
    this.d.invalidate();
  }
}
