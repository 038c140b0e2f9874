// 1000 operations across 50 namespaces while some of them are deleted: every
// operation settles (fulfilled, or a typed NetlinkError for a vanished
// namespace), survivors hold exactly what was written, and every thread of
// the process is back in its own namespace afterwards.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { NetlinkError } from '../../src/errors.js';
import { nativeBackend as nb } from '../../src/netns/backend.js';
import { loadAddon } from '../../src/netns/addon.js';
import { TWINE_RT_PROTO, type NsTarget } from '../../src/netns/types.js';
import { threadNamespaces } from '../bed/netns.js';

const PREFIX = 'twt-nls-';
const COUNT = 50;
const OPS_PER_NS = 20; // 10 routes + 10 sysctl writes
const DOOMED = new Set([3, 7, 11, 19, 23, 31, 42, 47]);

const name = (i: number) => `${PREFIX}${i}`;
const target = (i: number): NsTarget => ({ path: `/var/run/netns/${name(i)}` });

function ipBatch(lines: string[]): void {
  execFileSync('ip', ['-batch', '-'], { input: lines.join('\n') + '\n' });
}
function cleanup(): void {
  const names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(PREFIX));
  if (names.length) ipBatch(names.map((n) => `netns del ${n}`));
}

const ownNs = readlinkSync('/proc/self/ns/net');

describe('native netns backend under load', () => {
  before(() => {
    cleanup();
    ipBatch(Array.from({ length: COUNT }, (_, i) => `netns add ${name(i)}`));
  });
  after(cleanup);

  it('1000 operations across 50 namespaces, some deleted mid-way', async () => {
    const ops: { ns: number; p: Promise<unknown> }[] = [];
    for (let k = 0; k < OPS_PER_NS / 2; k++) {
      for (let i = 0; i < COUNT; i++) {
        const t = target(i);
        ops.push({ ns: i, p: nb.routeReplace(t, { family: k % 2 ? 6 : 4, dst: k % 2 ? `fd00:${k}::/32` : `10.${k}.${i}.0/24`, type: 'unreachable', protocol: TWINE_RT_PROTO }) });
        ops.push({ ns: i, p: nb.sysctlSet(t, 'net.ipv4.ip_forward', String(k % 2)) });
      }
      // Containers die while their operations are queued.
      if (k === 3) ipBatch([...DOOMED].map((i) => `netns del ${name(i)}`));
    }
    assert.equal(ops.length, 1000);
    const results = await Promise.allSettled(ops.map((o) => o.p));
    let failedOnDoomed = 0;
    results.forEach((r, j) => {
      const ns = ops[j]!.ns;
      if (r.status === 'fulfilled') return;
      assert.ok(DOOMED.has(ns), `operation on surviving ${name(ns)} failed: ${String(r.reason)}`);
      assert.ok(r.reason instanceof NetlinkError, String(r.reason));
      assert.ok(['ENOENT', 'EINVAL'].includes(r.reason.code), r.reason.message);
      failedOnDoomed++;
    });
    assert.ok(failedOnDoomed > 0, 'deleting namespaces mid-way failed none of their operations');

    // Survivors: exactly the routes written, the last sysctl value (k = 9 → "1").
    for (let i = 0; i < COUNT; i++) {
      if (DOOMED.has(i)) continue;
      const v4 = JSON.parse(execFileSync('ip', ['-n', name(i), '-j', 'route', 'show', 'proto', '74'], { encoding: 'utf8' }));
      const v6 = JSON.parse(execFileSync('ip', ['-n', name(i), '-j', '-6', 'route', 'show', 'proto', '74'], { encoding: 'utf8' }));
      assert.equal(v4.length, 5, name(i));
      assert.equal(v6.length, 5, name(i));
      assert.equal(
        execFileSync('ip', ['netns', 'exec', name(i), 'cat', '/proc/sys/net/ipv4/ip_forward'], { encoding: 'utf8' }).trim(),
        '1',
      );
    }
    assert.deepEqual(new Set(threadNamespaces()), new Set([ownNs]));
    assert.equal(loadAddon().stats().retired, 0);
  });
});
