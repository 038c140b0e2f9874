// Entries by id that the daemon keeps across its restarts in a file: read in
// the background at start (a missing or unreadable file adds none), written
// through a rename (readable only by the daemon's user), one write at a time,
// and only when an entry changed since the file was read or written.

import { readFile, rename, writeFile } from 'node:fs/promises';
import { serialQueue } from './serial.js';

export abstract class SavedMap<V> {
  protected readonly byId = new Map<string, V>();
  /** Something the file holds changed since it was read or written. */
  private dirty = false;
  private loaded: Promise<void> = Promise.resolve();
  // One write at a time: two would share the temporary file.
  private readonly oneWrite = serialQueue();

  /** `format`: the file's format number; a file of another is an empty cache. */
  constructor(private readonly format: number) {}

  /** The entries as the file holds them, and what they share (written once, referred to by the entries). */
  protected abstract saved(): { entries: unknown[]; shared?: unknown };
  /** Takes one entry of the file when it is well formed (and not already there). */
  protected abstract adopt(entry: unknown, shared: unknown): void;

  serialize(): string {
    return JSON.stringify({ format: this.format, ...this.saved() });
  }

  /** Adds the entries of `serialize()`'s text; anything malformed is left out. */
  parse(text: string): void {
    let j: unknown;
    try {
      j = JSON.parse(text);
    } catch {
      return;
    }
    const o = j as { format?: unknown; entries?: unknown; shared?: unknown };
    if (o?.format !== this.format || !Array.isArray(o.entries)) return;
    for (const e of o.entries as unknown[]) this.adopt(e, o.shared);
  }

  /** Resolves once the file given to load() is read (at once without one). */
  get ready(): Promise<void> {
    return this.loaded;
  }

  get size(): number {
    return this.byId.size;
  }

  protected put(id: string, v: V): void {
    this.byId.set(id, v);
    this.dirty = true;
  }

  forget(id: string): void {
    if (this.byId.delete(id)) this.dirty = true;
  }

  /** Keeps only these ids (the containers running now). */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.byId.keys()) if (!ids.has(id)) this.forget(id);
  }

  /** Reads the file's entries in the background; `ready` resolves when done. */
  load(file: string): Promise<void> {
    this.loaded = readFile(file, 'utf8').then(
      (text) => this.parse(text),
      () => undefined,
    );
    return this.loaded;
  }

  /** Writes the entries when they changed; resolves true when it wrote the file. */
  save(file: string): Promise<boolean> {
    return this.oneWrite(async () => {
      await this.loaded;
      if (!this.dirty) return false;
      this.dirty = false;
      const tmp = `${file}.${process.pid}.tmp`;
      try {
        await writeFile(tmp, this.serialize(), { mode: 0o600 });
        await rename(tmp, file);
      } catch (err) {
        this.dirty = true;
        throw err;
      }
      return true;
    });
  }
}
