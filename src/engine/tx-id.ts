// Transaction ids for the log lines and TxEvents: 8 hex digits, from a random
// start, one more each time (unique within a run, and unlike across runs, for
// a fraction of the cost of random bytes per transaction).

import { randomBytes } from 'node:crypto';

let next = randomBytes(4).readUInt32BE(0);

export function nextTxId(): string {
  next = (next + 1) >>> 0;
  return next.toString(16).padStart(8, '0');
}
