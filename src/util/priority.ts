// The daemon's CPU priority. When Docker starts many containers at once,
// dockerd, containerd and a runc per container keep every CPU busy, and a
// daemon at the default priority waits its turn while containers start
// without their routes. Linux keeps a nice value per thread: the calling
// thread's is set first (threads created later inherit it), then every
// thread already running.

import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

export interface PriorityResult {
  threads: number;
  failed: number;
  /** The first failure's message (EACCES without CAP_SYS_NICE). */
  error?: string;
}

export function setProcessNice(nice: number): PriorityResult {
  const r: PriorityResult = { threads: 0, failed: 0 };
  const tids = [0, ...readdirSync('/proc/self/task').map(Number).filter((t) => t !== process.pid)];
  for (const tid of tids) {
    try {
      setPriority(tid, nice);
      r.threads++;
    } catch (err) {
      r.failed++;
      r.error ??= (err as Error).message;
    }
  }
  return r;
}
