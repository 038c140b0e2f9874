// Splits a byte stream of JSON lines (Docker's /events) into lines, bounded.
// Lines are cut on the byte 0x0A and decoded as UTF-8 only when whole: 0x0A
// never occurs inside a multi-byte UTF-8 sequence, so a character split across
// two chunks is decoded from its complete bytes (decoding chunk by chunk
// would turn each half into U+FFFD). A line longer than `maxBytes` is dropped
// as it grows (its bytes are not kept) and reported once; the stream goes on
// with the next line.

/** Docker's events are a few KB; a label set cannot make one this large legitimately. */
export const MAX_LINE_BYTES = 1024 * 1024;

export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private dropping = false;

  constructor(
    private readonly onLine: (line: string) => void,
    /** Called once per oversized line, when it passes the limit. */
    private readonly onOversized: (maxBytes: number) => void,
    private readonly maxBytes = MAX_LINE_BYTES,
  ) {}

  push(chunk: Buffer | string): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(0x0a, start);
      if (nl < 0) {
        this.keep(buf.subarray(start));
        return;
      }
      this.keep(buf.subarray(start, nl));
      this.endLine();
      start = nl + 1;
    }
  }

  private keep(part: Buffer): void {
    if (part.length === 0 || this.dropping) return;
    this.size += part.length;
    if (this.size > this.maxBytes) {
      this.dropping = true;
      this.parts = [];
      this.onOversized(this.maxBytes);
      return;
    }
    this.parts.push(part);
  }

  private endLine(): void {
    if (!this.dropping && this.size > 0) {
      const whole = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
      this.onLine(whole.toString('utf8'));
    }
    this.parts = [];
    this.size = 0;
    this.dropping = false;
  }
}
