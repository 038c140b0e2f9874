// Structured logs: JSON lines by default, readable when stdout is a terminal.

import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(opts: { level?: string; pretty?: boolean } = {}): Logger {
  const level = opts.level ?? process.env.TWINE_LOG_LEVEL ?? 'info';
  const pretty = opts.pretty ?? process.stdout.isTTY === true;
  if (pretty) {
    return pino({
      level,
      base: undefined,
      transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } },
    });
  }
  // Written from the event loop, not with blocking writes: stdout is a pipe whose
  // reader (Docker's log driver, a supervisor) may lag, and a synchronous write
  // that finds it full sleeps the whole daemon 100 ms per retry (sonic-boom),
  // e.g. in the middle of re-pointing a gateway's dependents. Lines are queued
  // in order and flushed synchronously at exit.
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: 1, sync: false }));
}
