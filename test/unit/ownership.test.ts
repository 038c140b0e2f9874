// Twine writes only into a container's own network namespace: Docker's network
// mode and the identity (inode) of the namespace the transaction's handle holds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NamespaceGoneError, NamespaceRefusedError } from '../../src/errors.js';
import { identityRefusal, modeRefusal, openOwnNamespace, OWN_NAMESPACE_ONLY, type NsOpener, type Occupant } from '../../src/engine/ownership.js';
import type { NsHandle } from '../../src/netns/handle.js';

const HOST = 4026531833;
const c = (name: string, networkMode: string | undefined, netnsIno: number | undefined, running = true): Occupant & { pid: number } => ({
  id: `${name}-id-0123456789`,
  name,
  running,
  pid: 100,
  ...(networkMode !== undefined ? { networkMode } : {}),
  ...(netnsIno !== undefined ? { netnsIno } : {}),
});

/** An opener that hands out a handle with a given inode and records what was asked and closed. */
function fakeOpener(ino: number): { open: NsOpener; asked: Array<[number, number | undefined]>; closed: number } {
  const st = { asked: [] as Array<[number, number | undefined]>, closed: 0 };
  const open: NsOpener = (pid, expect) => {
    st.asked.push([pid, expect]);
    if (expect !== undefined && expect !== ino) throw new NamespaceGoneError(`pid ${pid} changed`, 'changed', `pid ${pid}`);
    const h: NsHandle = { target: { fd: 99, name: `pid ${pid}` }, ino, close: () => void st.closed++ };
    return h;
  };
  return {
    open,
    asked: st.asked,
    get closed() {
      return st.closed;
    },
  };
}

test('network_mode host is refused with the message the status shows', () => {
  const e = modeRefusal(c('h', 'host', HOST), []);
  assert.ok(e instanceof NamespaceRefusedError);
  assert.equal(e.message, `network_mode host: ${OWN_NAMESPACE_ONLY}`);
  assert.equal(e.reason, 'network_mode');
  assert.equal(e.container, 'h');
});

test('network_mode container:<id> is refused and names the other container', () => {
  const victim = c('victim', 'bridge', 7);
  const e = modeRefusal(c('att', `container:${victim.id}`, 7), [victim]);
  assert.ok(e);
  assert.equal(e.message, `network_mode container:victim: ${OWN_NAMESPACE_ONLY}`);
  assert.equal(e.sharedWith, 'victim');
  // An unknown reference is named as Docker gave it.
  assert.equal(modeRefusal(c('att', 'container:gone', 7), [])?.sharedWith, 'gone');
});

test('own networks (bridge, none, a named network, not inspected yet) pass the mode check', () => {
  for (const m of ['bridge', 'none', 'default', 'my-net', undefined]) assert.equal(modeRefusal(c('x', m, 5), []), undefined, String(m));
});

test("a namespace whose inode is the host's is refused whatever the mode says", () => {
  const e = identityRefusal(c('sneaky', 'bridge', HOST), HOST, { hostInodes: new Set([HOST]), containers: [] });
  assert.ok(e);
  assert.equal(e.reason, 'host');
  assert.match(e.message, /^network namespace is the host's \(inode \d+\): Twine writes only/);
});

test('a shared namespace: the container Docker made it for keeps it, a joiner is refused', () => {
  const victim = c('victim', 'bridge', 7);
  const joiner = c('att', 'container:victim-id-0123456789', 7);
  const unknown = c('att2', undefined, 7); // from a create event, not inspected yet
  const ctx = { hostInodes: new Set([HOST]), containers: [victim, joiner, unknown] };
  assert.equal(identityRefusal(victim, 7, ctx), undefined);
  const e = identityRefusal(unknown, 7, ctx);
  assert.ok(e);
  assert.equal(e.reason, 'shared');
  assert.equal(e.sharedWith, 'victim');
  assert.equal(e.message, `network namespace shared with container victim (inode 7): ${OWN_NAMESPACE_ONLY}`);
});

test('two containers that both claim one namespace are both refused; stopped ones do not count', () => {
  const a = c('a', 'bridge', 7);
  const b = c('b', 'my-net', 7);
  const ctx = { hostInodes: new Set<number>(), containers: [a, b] };
  assert.equal(identityRefusal(a, 7, ctx)?.sharedWith, 'b');
  assert.equal(identityRefusal(b, 7, ctx)?.sharedWith, 'a');
  const stopped = c('b', 'my-net', 7, false);
  assert.equal(identityRefusal(a, 7, { hostInodes: new Set(), containers: [a, stopped] }), undefined);
});

test('openOwnNamespace: the mode is refused before anything is opened', () => {
  const f = fakeOpener(HOST);
  assert.throws(() => openOwnNamespace(c('h', 'host', HOST), { hostInodes: new Set([HOST]), containers: [] }, f.open), NamespaceRefusedError);
  assert.equal(f.asked.length, 0);
});

test("openOwnNamespace: the identity check reads the handle's own inode, and a refused handle is closed", () => {
  // Recorded inode unknown, mode unknown: only the handle can tell it is the host's.
  const f = fakeOpener(HOST);
  assert.throws(() => openOwnNamespace(c('x', undefined, undefined), { hostInodes: new Set([HOST]), containers: [] }, f.open), (e: unknown) => e instanceof NamespaceRefusedError && e.reason === 'host');
  assert.deepEqual(f.asked, [[100, undefined]]);
  assert.equal(f.closed, 1);
});

test('openOwnNamespace: the recorded inode is what the handle must have (a reused pid is refused as changed)', () => {
  const f = fakeOpener(8);
  assert.throws(() => openOwnNamespace(c('x', 'bridge', 7), { hostInodes: new Set([HOST]), containers: [] }, f.open), (e: unknown) => e instanceof NamespaceGoneError && e.kind === 'changed');
  assert.deepEqual(f.asked, [[100, 7]]);
  const ok = fakeOpener(7);
  const h = openOwnNamespace(c('x', 'bridge', 7), { hostInodes: new Set([HOST]), containers: [] }, ok.open);
  assert.equal(h.ino, 7);
  assert.equal(ok.closed, 0);
});

test('openOwnNamespace: a running container whose namespace inode could not be read is refused (unknown), its handle closed; with the inode it is served', () => {
  const f = fakeOpener(9);
  assert.throws(
    () => openOwnNamespace(c('x', 'bridge', undefined), { hostInodes: new Set([HOST]), containers: [] }, f.open),
    (e: unknown) => e instanceof NamespaceRefusedError && e.reason === 'unknown' && /namespace of process 100 could not be read/.test(e.message) && e.message.includes(OWN_NAMESPACE_ONLY),
  );
  assert.equal(f.closed, 1);
  const ok = fakeOpener(9);
  assert.equal(openOwnNamespace(c('x', 'bridge', 9), { hostInodes: new Set([HOST]), containers: [] }, ok.open).ino, 9);
});
