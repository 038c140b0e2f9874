// nsNotify against real namespaces: a change made in the watched namespace by
// iproute2 is signalled, one made in another namespace is not, close() ends
// the signals, and bad targets and groups are errors. Needs root.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { nsNotify, type NotifyGroup } from '../../src/netns/notify.js';
import { loadAddon } from '../../src/netns/addon.js';
import type { NativeError } from '../../src/netns/native.js';
import { deleteNetnsWithPrefix, netnsAdd } from '../bed/netns.js';

const PREFIX = 'twt-notify-';
const A = `${PREFIX}a`;
const B = `${PREFIX}b`;
const at = (ns: string): { path: string } => ({ path: `/var/run/netns/${ns}` });
const ipn = (ns: string, args: string[]): void => void execFileSync('ip', ['-n', ns, ...args]);
/**
 * A negative check's positive signal: a control watch subscribed to the same change.
 * The kernel queues a notification on every subscribed socket before the command that
 * caused it returns, and the event loop reports all readable sockets in one poll, so once
 * the control has been signalled (and one more turn of the loop has run), any other watch
 * that was going to be signalled for that change has been.
 */
async function afterControl(control: { next: () => Promise<void> }, change: () => void): Promise<void> {
  const signalled = control.next();
  change();
  await signalled;
  await new Promise((r) => setImmediate(r));
}

/** Counts signals; `next()` resolves at the next one (or rejects after 2 s). */
function counter(): { count: () => number; next: () => Promise<void>; onChange: () => void } {
  let n = 0;
  let waiters: (() => void)[] = [];
  return {
    count: () => n,
    next: () =>
      new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no signal within 2 s')), 2000);
        waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      }),
    onChange: () => {
      n++;
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    },
  };
}

const ALL: NotifyGroup[] = ['link', 'ipv4-addr', 'ipv4-route', 'ipv6-addr', 'ipv6-route'];

describe('nsNotify', () => {
  before(async () => {
    deleteNetnsWithPrefix(PREFIX);
    await netnsAdd(A);
    await netnsAdd(B);
  });
  after(() => deleteNetnsWithPrefix(PREFIX));

  it('signals link, address and route changes made in the watched namespace', async () => {
    const c = counter();
    const n = await nsNotify(at(A), ALL, c.onChange);
    try {
      let next = c.next();
      ipn(A, ['link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd0p']);
      await next;
      next = c.next();
      ipn(A, ['link', 'set', 'd0', 'up']);
      ipn(A, ['addr', 'add', '10.91.0.2/24', 'dev', 'd0']);
      await next;
      next = c.next();
      ipn(A, ['route', 'add', 'default', 'via', '10.91.0.1']);
      await next;
      assert.ok(c.count() >= 3, `signals: ${c.count()}`);
    } finally {
      n.close();
    }
  });

  it('does not signal changes in another namespace, nor after close()', async () => {
    const c = counter();
    const n = await nsNotify(at(A), ['ipv4-route'], c.onChange);
    const inB = counter();
    const controlB = await nsNotify(at(B), ['ipv4-route'], inB.onChange);
    const inA = counter();
    const controlA = await nsNotify(at(A), ['ipv4-route'], inA.onChange);
    try {
      ipn(B, ['link', 'add', 'd1', 'type', 'veth', 'peer', 'name', 'd1p']);
      ipn(B, ['link', 'set', 'd1', 'up']);
      // The address adds a local and a subnet route in B: B's control sees them.
      await afterControl(inB, () => ipn(B, ['addr', 'add', '10.92.0.2/24', 'dev', 'd1']));
      assert.equal(c.count(), 0, 'a change in B was signalled to a watch of A');
      n.close();
      n.close(); // twice is harmless
      await afterControl(inA, () => ipn(A, ['route', 'add', '10.93.0.0/16', 'via', '10.91.0.1']));
      assert.equal(c.count(), 0, 'signalled after close()');
    } finally {
      controlA.close();
      controlB.close();
    }
  });

  it('only the subscribed groups signal', async () => {
    const c = counter();
    const n = await nsNotify(at(A), ['ipv6-route'], c.onChange);
    const v4 = counter();
    const control = await nsNotify(at(A), ['ipv4-route'], v4.onChange);
    try {
      await afterControl(v4, () => ipn(A, ['route', 'add', '10.94.0.0/16', 'via', '10.91.0.1']));
      assert.equal(c.count(), 0, 'an IPv4 route signalled an IPv6-route watch');
    } finally {
      n.close();
      control.close();
    }
  });

  it('rejects a namespace that does not exist with a typed error', async () => {
    await assert.rejects(nsNotify(at(`${PREFIX}missing`), ['link'], () => {}), (e: NativeError) => {
      assert.equal(e.code, 'ENOENT');
      assert.equal(e.op, 'notify');
      assert.match(e.ns, /twt-notify-missing/);
      return true;
    });
  });

  it('refuses bad groups and fds synchronously', () => {
    const addon = loadAddon();
    assert.throws(() => addon.notifyOpen(at(A), []), /groups must not be empty/);
    assert.throws(() => addon.notifyOpen(at(A), [0]), /group must be 1..31/);
    assert.throws(() => addon.notifyOpen(at(A), [32]), /group must be an integer/);
    assert.throws(() => addon.notifyStart(-1, () => {}), /fd must be an integer/);
  });
});
