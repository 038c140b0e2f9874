// The libnftables transport against real namespaces: batches read back with
// `nft -j list`, the same result as the exec transport, typed errors with
// nft's message, no exit() from libnftables when it cannot open its sockets,
// and no thread left in a foreign namespace. Needs root.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NftError, NetlinkError } from '../../src/errors.js';
import { loadAddon } from '../../src/netns/addon.js';
import { createLibTransport, libTransportAvailable } from '../../src/firewall/transport-lib.js';
import { createExecTransport } from '../../src/firewall/transport-exec.js';
import type { NftBatch } from '../../src/firewall/nft.js';
import type { NsTarget } from '../../src/netns/types.js';
import { deleteNetnsWithPrefix, threadNamespaces } from '../bed/netns.js';

const PREFIX = 'twt-nftl-';
const A = `${PREFIX}a`;
const B = `${PREFIX}b`;
const at = (ns: string): NsTarget => ({ path: `/var/run/netns/${ns}` });

const cleanup = (): void => deleteNetnsWithPrefix(PREFIX);
/** `nft -j list table inet t` in ns, or null when it fails (no such table). */
function nftList(ns: string, table = 't'): NftBatch | null {
  try {
    return JSON.parse(execFileSync('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'table', 'inet', table], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    })) as NftBatch;
  } catch {
    return null;
  }
}
/** The objects of a listing without metainfo and handles, for comparison across namespaces. */
function shape(b: NftBatch | null): unknown[] {
  return (b?.nftables ?? [])
    .filter((o) => !('metainfo' in o))
    .map((o) => JSON.parse(JSON.stringify(o, (k, v: unknown) => (k === 'handle' ? undefined : v))) as unknown);
}

const batch: NftBatch = {
  nftables: [
    { add: { table: { family: 'inet', name: 't' } } },
    { add: { chain: { family: 'inet', table: 't', name: 'INPUT', type: 'filter', hook: 'input', prio: -1, policy: 'accept' } } },
    { add: { chain: { family: 'inet', table: 't', name: 'TWINE_INPUT' } } },
    { add: { rule: { family: 'inet', table: 't', chain: 'INPUT', expr: [{ jump: { target: 'TWINE_INPUT' } }] } } },
    {
      add: {
        rule: {
          family: 'inet', table: 't', chain: 'TWINE_INPUT', comment: 'twine:test',
          expr: [
            { match: { op: '==', left: { meta: { key: 'iifname' } }, right: 'wg*' } },
            { match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 8080 } },
            { accept: null },
          ],
        },
      },
    },
  ],
};

const ownNs = readlinkSync('/proc/self/ns/net');
const skip = libTransportAvailable() ? false : 'addon built without libnftables';

// Elsewhere every lib variant is skipped (and counted so) without libnftables; in CI that must not pass unnoticed.
it('CI: the addon is built with libnftables', { skip: process.env.CI === 'true' ? false : 'only checked in CI' }, () => {
  assert.ok(libTransportAvailable(), 'the addon has no libnftables: is libnftables-dev installed (scripts/setup-host.sh)?');
});

describe('libnftables transport', { skip }, () => {
  const lib = createLibTransport();

  before(() => {
    cleanup();
    for (const n of [A, B]) execFileSync('ip', ['netns', 'add', n]);
  });
  after(() => {
    cleanup();
    assert.deepEqual(new Set(threadNamespaces()), new Set([ownNs]));
  });

  it('applies a batch in the namespace, read back with nft -j list', async () => {
    assert.equal(lib.name, 'lib');
    await lib.apply(at(A), batch);
    const listed = nftList(A);
    assert.ok(listed, 'table inet t exists');
    const rules = listed.nftables.flatMap((o) => ('rule' in o ? [o.rule as { chain: string; comment?: string; expr: unknown[] }] : []));
    assert.deepEqual(rules.map((r) => r.chain), ['INPUT', 'TWINE_INPUT']);
    assert.equal(rules[1]?.comment, 'twine:test');
    const chain = listed.nftables.flatMap((o) => ('chain' in o ? [o.chain as Record<string, unknown>] : [])).find((c) => c.name === 'INPUT');
    assert.deepEqual([chain?.hook, chain?.prio, chain?.type], ['input', -1, 'filter']);
    // Only the namespace's own ruleset changed: the test's other namespace has no table.
    assert.equal(nftList(B), null);
  });

  it('listTable returns what nft -j list shows, or null for a missing table', async () => {
    const mine = await lib.listTable(at(A), 'inet', 't');
    assert.deepEqual(shape(mine), shape(nftList(A)));
    assert.equal(await lib.listTable(at(A), 'inet', 'nosuch'), null);
    assert.equal(await lib.listTable(at(B), 'inet', 't'), null);
  });

  it('gives the same table as the exec transport for the same JSON', async () => {
    await createExecTransport().apply(at(B), batch);
    assert.deepEqual(shape(await lib.listTable(at(B), 'inet', 't')), shape(await lib.listTable(at(A), 'inet', 't')));
    await lib.apply(at(B), { nftables: [{ delete: { table: { family: 'inet', name: 't' } } }] });
    assert.equal(nftList(B), null);
  });

  it('an empty batch sends nothing', async () => {
    // Entering this namespace would fail with ENOENT: resolving proves nothing was sent.
    const missing = { path: '/var/run/netns/twt-nftl-never-created' };
    await assert.rejects(lib.listTable(missing, 'inet', 't'), /ENOENT|No such file/);
    await assert.doesNotReject(lib.apply(missing, { nftables: [] }));
  });

  it('bad JSON and kernel refusals are NftErrors with nft\'s message; a refused batch changes nothing', async () => {
    // Not nft's schema.
    await assert.rejects(lib.apply(at(B), { nftables: [{ add: { bogus: { family: 'inet' } } }] }), (e: unknown) => {
      assert.ok(e instanceof NftError);
      assert.match(e.stderr, /Error/);
      return true;
    });
    // Not JSON at all, straight to the binding.
    await assert.rejects(loadAddon().nftRun!(at(B), '{"nftables": [ {'), (e: Error & { code?: string }) => e.code === 'ENFT' && /Error/.test(e.message));
    // The kernel refuses a jump to a chain that does not exist: the whole batch is dropped.
    const refused: NftBatch = {
      nftables: [
        { add: { table: { family: 'inet', name: 't2' } } },
        { add: { chain: { family: 'inet', table: 't2', name: 'c' } } },
        { add: { rule: { family: 'inet', table: 't2', chain: 'c', expr: [{ jump: { target: 'NOPE' } }] } } },
      ],
    };
    await assert.rejects(lib.apply(at(B), refused), (e: unknown) => {
      assert.ok(e instanceof NftError);
      assert.match(e.message, /Could not process rule: No such file or directory/);
      assert.equal(e.batch, refused);
      return true;
    });
    assert.equal(nftList(B, 't2'), null);
  });

  it('no file descriptor left: the run fails with stage nft-init instead of libnftables exiting the process', () => {
    // libnftables 1.0.6 exits (iface.c: "Unable to initialize Netlink socket") when it cannot open its route socket.
    const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'nft-no-fds.js');
    const r = spawnSync(process.execPath, [script, B], { encoding: 'utf8' });
    assert.equal(r.status, 0, `child exited ${r.status} (signal ${r.signal}): ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as { code: string; stage: string; message: string; appliedAfter: boolean };
    assert.equal(out.stage, 'nft-init', out.message);
    assert.equal(out.code, 'EMFILE');
    assert.match(out.message, /libnftables cannot start/);
    assert.equal(out.appliedAfter, true, 'the same batch applies once descriptors are free');
    assert.doesNotMatch(r.stderr, /Unable to initialize Netlink socket/);
  });

  it('a vanished namespace is an NftError caused by a typed NetlinkError', async () => {
    await assert.rejects(lib.apply({ path: '/var/run/netns/twt-nftl-gone' }, batch), (e: unknown) => {
      assert.ok(e instanceof NftError);
      assert.ok(e.cause instanceof NetlinkError);
      assert.equal(e.cause.code, 'ENOENT');
      return true;
    });
  });

  it('deleting batches in many namespaces: all applied, threads back home', async () => {
    const del: NftBatch = { nftables: [{ delete: { table: { family: 'inet', name: 't' } } }] };
    for (let round = 0; round < 5; round++) {
      await Promise.all([lib.apply(at(A), batch), lib.apply(at(B), batch)]);
      await Promise.all([lib.apply(at(A), del), lib.apply(at(B), del)]);
    }
    assert.equal(nftList(A), null);
    assert.equal(nftList(B), null);
    assert.deepEqual(new Set(threadNamespaces()), new Set([ownNs]));
    assert.equal(loadAddon().stats().retired, 0);
  });
});
