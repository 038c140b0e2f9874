// The addon's nftTableRead (nfnetlink, no libnftables) against `nft -j list
// table` in a real namespace: the same chains (hooks, types, priorities), the
// same rules in the same order with their handles and comments (a rule
// without one too), the same counters; no table is null; a table of the same
// name in another family is not read.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { nativeBackend } from '../../src/netns/backend.js';
import type { NftTableState } from '../../src/netns/types.js';
import { stateHashes, stateSignature } from '../../src/firewall/live.js';

const nsName = `twt-nftread-${process.pid}`;
const ns = { path: `/var/run/netns/${nsName}` };
const nft = (...args: string[]) => execa('ip', ['netns', 'exec', nsName, 'nft', ...args]);

async function read(): Promise<NftTableState | null> {
  const out = await nativeBackend.batch(ns, [{ op: 'nftTableRead', table: { family: 'inet', name: 'twine' } }]);
  if (out.failedAt !== undefined) throw out.error;
  return out.results[0] as NftTableState | null;
}

type Item = Record<string, Record<string, unknown> | undefined>;

async function listed(): Promise<NftTableState> {
  const items = (JSON.parse((await nft('-j', 'list', 'table', 'inet', 'twine')).stdout) as { nftables: Item[] }).nftables;
  const s: NftTableState = { chains: [], rules: [], counters: [] };
  for (const i of items) {
    if (i.chain) s.chains.push({ name: String(i.chain.name), ...(i.chain.hook !== undefined ? { type: String(i.chain.type), hook: String(i.chain.hook), prio: Number(i.chain.prio), policy: String(i.chain.policy) } : {}) });
    if (i.rule) s.rules.push({ chain: String(i.rule.chain), handle: Number(i.rule.handle), ...(i.rule.comment !== undefined ? { comment: String(i.rule.comment) } : {}) });
    if (i.counter) s.counters.push({ name: String(i.counter.name), packets: Number(i.counter.packets), bytes: Number(i.counter.bytes) });
  }
  return s;
}

// nft lists no hash of a rule's expressions: compared apart.
const byChain = (s: NftTableState) => ({ ...s, chains: [...s.chains].sort((a, b) => a.name.localeCompare(b.name)), rules: s.rules.map(({ hash: _, ...r }) => r) });

before(async () => {
  await execa('ip', ['netns', 'add', nsName]);
});
after(() => execa('ip', ['netns', 'del', nsName], { reject: false }));

test('no table: null', async () => {
  assert.equal(await read(), null);
});

test('chains, rules in order with handles and comments, counters: as nft lists them', async () => {
  const text = `
    table ip twine {
      chain X {
        accept comment "other family"
      }
    }
    table inet twine {
      counter killswitch {
      }
      chain INPUT {
        type filter hook input priority -1; policy accept;
        jump TWINE_INPUT comment "twine:1111"
      }
      chain PREROUTING {
        type nat hook prerouting priority -101; policy accept;
      }
      chain REPLY_ROUTE {
        type route hook output priority -150; policy accept;
      }
      chain POSTROUTING {
        type nat hook postrouting priority 99; policy accept;
        oifname "wg*" masquerade comment "twine:2222 twine.nat.interfaces"
      }
      chain TWINE_INPUT {
        tcp dport 22 accept comment "twine:3333 twine.iptables.rule.a"
        tcp dport 23 accept
        counter name "killswitch" drop comment "twine:4444"
      }
    }
`;
  await execa('ip', ['netns', 'exec', nsName, 'nft', '-f', '-'], { input: text });
  const got = await read();
  assert.ok(got);
  const want = await listed();
  assert.deepEqual(byChain(got), byChain(want));
  assert.deepEqual(
    got.rules.filter((r) => r.chain === 'TWINE_INPUT').map((r) => r.comment),
    ['twine:3333 twine.iptables.rule.a', undefined, 'twine:4444'],
  );
  assert.deepEqual(got.chains.find((c) => c.name === 'POSTROUTING'), { name: 'POSTROUTING', type: 'nat', hook: 'postrouting', prio: 99, policy: 'accept' });
  assert.ok(got.rules.every((r) => /^[0-9a-f]{16}$/.test(r.hash ?? '')), 'each rule with the hash of its expressions');
  assert.deepEqual(got.chains.find((c) => c.name === 'TWINE_INPUT'), { name: 'TWINE_INPUT' });
  assert.deepEqual(got.counters, [{ name: 'killswitch', packets: 0, bytes: 0 }]);
});

test('after a rule is deleted and one inserted: the new order and handles', async () => {
  const before = (await read())!;
  const h = before.rules.find((r) => r.comment === undefined)!.handle;
  await nft('delete', 'rule', 'inet', 'twine', 'TWINE_INPUT', 'handle', String(h));
  await nft('insert', 'rule', 'inet', 'twine', 'TWINE_INPUT', 'udp', 'dport', '53', 'accept', 'comment', '"twine:5555"');
  const got = (await read())!;
  assert.deepEqual(byChain(got), byChain(await listed()));
  assert.equal(got.rules.filter((r) => r.chain === 'TWINE_INPUT')[0]!.comment, 'twine:5555');
  assert.ok(!got.rules.some((r) => r.handle === h));
});

test("a rule's hash: another for a statement replaced in place (same comment), the same as packets are counted", async () => {
  await nft('add', 'chain', 'inet', 'twine', 'HASHED');
  await nft('add', 'rule', 'inet', 'twine', 'HASHED', 'tcp', 'dport', '7', 'counter', 'drop', 'comment', '"twine:7777"');
  await nft('add', 'rule', 'inet', 'twine', 'HASHED', 'tcp', 'dport', '7', 'counter', 'drop', 'comment', '"twine:7778"');
  const hashed = async () => (await read())!.rules.filter((r) => r.chain === 'HASHED');
  const [a, b] = await hashed();
  assert.equal(a!.hash, b!.hash, 'the same statements: the same hash');
  // The counter counts: its packets are not part of the hash.
  await execa('ip', ['-n', nsName, 'link', 'set', 'lo', 'up']);
  await nft('add', 'chain', 'inet', 'twine', 'HOOKED', '{ type filter hook output priority 0; policy accept; }');
  await nft('add', 'rule', 'inet', 'twine', 'HOOKED', 'jump', 'HASHED');
  await execa('ip', ['netns', 'exec', nsName, 'python3', '-c', 'import socket\nfor _ in range(3):\n  s=socket.socket(); s.settimeout(0.2)\n  try: s.connect(("127.0.0.1", 7))\n  except Exception: pass'], { reject: false });
  assert.match((await nft('list', 'chain', 'inet', 'twine', 'HASHED')).stdout, /counter packets [1-9]/);
  assert.equal((await hashed())[0]!.hash, a!.hash);
  await nft('replace', 'rule', 'inet', 'twine', 'HASHED', 'handle', String(a!.handle), 'tcp', 'dport', '8', 'counter', 'drop', 'comment', '"twine:7777"');
  const [a2] = await hashed();
  assert.equal(a2!.comment, 'twine:7777');
  assert.equal(a2!.handle, a!.handle);
  assert.notEqual(a2!.hash, a!.hash, 'another statement: another hash');
  await nft('delete', 'chain', 'inet', 'twine', 'HOOKED');
  await nft('delete', 'rule', 'inet', 'twine', 'HASHED', 'handle', String(a!.handle));
  await nft('delete', 'rule', 'inet', 'twine', 'HASHED', 'handle', String(b!.handle));
  await nft('delete', 'chain', 'inet', 'twine', 'HASHED');
});

test('expectHashes: true only when the hashes are the expected ones too; without them, the hashes; a policy changed is not in sync', async () => {
  const readWith = async (expect: string, expectHashes?: string) => {
    const out = await nativeBackend.batch(ns, [{ op: 'nftTableRead', table: { family: 'inet', name: 'twine' }, expect, ...(expectHashes !== undefined ? { expectHashes } : {}) }]);
    if (out.failedAt !== undefined) throw out.error;
    return out.results[0] as NftTableState | string | true;
  };
  const now = (await read())!;
  const expect = stateSignature(now);
  const hashes = stateHashes(now);
  assert.equal(await readWith(expect), hashes);
  assert.equal(await readWith(expect, hashes), true);
  const other = `${'0'.repeat(16)}${hashes.slice(16)}`;
  const full = await readWith(expect, other);
  assert.equal(typeof full, 'object', 'hashes differ: the table itself, with its hashes');
  assert.equal(stateHashes(full as NftTableState), hashes);
  await nft('chain', 'inet', 'twine', 'INPUT', '{ policy drop; }');
  const dropped = (await read())!;
  assert.equal(dropped.chains.find((c) => c.name === 'INPUT')?.policy, 'drop');
  assert.equal(typeof (await readWith(expect, hashes)), 'object', 'a policy changed');
  await nft('chain', 'inet', 'twine', 'INPUT', '{ policy accept; }');
  assert.equal(await readWith(expect, hashes), true, 'put back');
});

test('expect: the read answers true when the table is the expected one, else the table', async () => {
  const readExpecting = async (expect: string) => {
    const out = await nativeBackend.batch(ns, [{ op: 'nftTableRead', table: { family: 'inet', name: 'twine' }, expect }]);
    if (out.failedAt !== undefined) throw out.error;
    // In sync by name, no hashes expected: the rules' hashes.
    return typeof out.results[0] === 'string' ? true : (out.results[0] as NftTableState | true);
  };
  // A table of Twine's kind: every rule with a comment.
  await nft('flush', 'chain', 'inet', 'twine', 'TWINE_INPUT');
  await nft('add', 'rule', 'inet', 'twine', 'TWINE_INPUT', 'tcp', 'dport', '22', 'accept', 'comment', '"twine:3333"');
  const now = (await read())!;
  const expect = stateSignature(now);
  assert.equal(await readExpecting(expect), true);
  // The same read with the chains listed in another order: the same signature.
  assert.equal(stateSignature({ ...now, chains: [...now.chains].reverse() }), expect);
  // Drift: a rule deleted, a rule added, a hook's priority changed, a counter gone: the whole table comes back.
  const h = now.rules.find((r) => r.comment === 'twine:3333')!.handle;
  await nft('delete', 'rule', 'inet', 'twine', 'TWINE_INPUT', 'handle', String(h));
  const drifted = await readExpecting(expect);
  assert.notEqual(drifted, true);
  assert.deepEqual(byChain(drifted as NftTableState), byChain((await read())!));
  await nft('add', 'rule', 'inet', 'twine', 'TWINE_INPUT', 'tcp', 'dport', '22', 'accept', 'comment', '"twine:3333"');
  assert.equal(await readExpecting(expect), true, 'put back');
  await nft('add', 'rule', 'inet', 'twine', 'TWINE_INPUT', 'tcp', 'dport', '23', 'accept');
  assert.notEqual(await readExpecting(expect), true, 'a rule without a comment');
  await nft('delete', 'rule', 'inet', 'twine', 'TWINE_INPUT', 'handle', String((await read())!.rules.find((r) => r.chain === 'TWINE_INPUT' && r.comment === undefined)!.handle));
  assert.equal(await readExpecting(expect), true, 'put back');
  await nft('delete', 'chain', 'inet', 'twine', 'REPLY_ROUTE');
  await nft('add', 'chain', 'inet', 'twine', 'REPLY_ROUTE', '{ type route hook output priority -149; policy accept; }');
  assert.notEqual(await readExpecting(expect), true, 'a priority changed');
  await nft('delete', 'chain', 'inet', 'twine', 'REPLY_ROUTE');
  await nft('add', 'chain', 'inet', 'twine', 'REPLY_ROUTE', '{ type route hook output priority -150; policy accept; }');
  assert.equal(await readExpecting(expect), true, 'put back');
  await nft('delete', 'rule', 'inet', 'twine', 'TWINE_INPUT', 'handle', String((await read())!.rules.find((r) => r.comment === 'twine:4444')?.handle ?? 0)).catch(() => undefined);
  await nft('delete', 'counter', 'inet', 'twine', 'killswitch');
  assert.notEqual(await readExpecting(expect), true, 'a counter gone');
  await nft('delete', 'table', 'inet', 'twine');
  assert.equal(await readExpecting(expect), null, 'no table: null, as without expect');
});
