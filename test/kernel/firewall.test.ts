// The firewall layer against the kernel: addTableBatch / diffTable /
// deleteTableBatch applied with the exec transport in a scratch namespace,
// checked by listing the table back (handles show which rules were replaced),
// and iptables-nft still working there afterwards (ARCHITECTURE.md, "Kernel recipes").

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { deleteNetnsWithPrefix } from '../bed/netns.js';
import { addTableBatch, deleteTableBatch, diffTable } from '../../src/firewall/batch.js';
import { createExecTransport } from '../../src/firewall/transport-exec.js';
import { createLibTransport, libTransportAvailable } from '../../src/firewall/transport-lib.js';
import type { NftTransport } from '../../src/firewall/transport.js';
import { BASE_CHAINS, makeRule, TABLE_FAMILY, TABLE_NAME, type NftBatch, type NftExpr, type TableDef } from '../../src/firewall/nft.js';
import { TWINE_CHAINS, type TwineChain } from '../../src/iptables/chains.js';
import { parseRule } from '../../src/iptables/rule.js';
import { tokenize } from '../../src/iptables/tokenize.js';
import { NftError } from '../../src/errors.js';
import { translateRule } from '../../src/firewall/iptables/translate.js';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';

const PREFIX = 'twt-fw-k-';
const nsName = `${PREFIX}${process.pid}`;
const ns = { path: `/var/run/netns/${nsName}` };
// Every test runs against both transports: the same JSON must give the same results.
// Without libnftables in the addon the lib variants are skipped, so the summary counts them (test/kernel/nft-lib.test.ts fails CI then).
const libSkip = libTransportAvailable() ? false : 'addon built without libnftables';
const transports: Array<[string, () => NftTransport, string | false]> = [
  ['exec', createExecTransport, false],
  ['lib', createLibTransport, libSkip],
];

const port = (p: number): NftExpr[] => [
  { match: { op: '==', left: { meta: { key: 'nfproto' } }, right: 'ipv4' } },
  { match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: p } },
  { accept: null },
];

function table(ports: number[], extraChain = false): TableDef {
  return {
    chains: [
      ...TWINE_CHAINS.map((c) => ({ name: c, rules: c === 'TWINE_INPUT' ? ports.map((p) => makeRule(c, port(p), `port ${p}`)) : [] })),
      ...BASE_CHAINS.map((b) => ({ name: b.name, base: { type: b.type, hook: b.hook, prio: b.prio }, rules: [makeRule(b.name, [{ jump: { target: b.jumpTo } }])] })),
      ...(extraChain ? [{ name: 'TWINE_EXTRA', rules: [makeRule('TWINE_EXTRA', [{ return: null }])] }] : []),
    ],
  };
}

function rulesOf(live: NftBatch | null, chain: string): { handle: number; comment: string }[] {
  assert.ok(live);
  return live.nftables
    .map((i) => (i as { rule?: NftExpr }).rule)
    .filter((r): r is NftExpr => !!r && r.chain === chain)
    .map((r) => ({ handle: r.handle as number, comment: r.comment as string }));
}

const cleanup = (): void => deleteNetnsWithPrefix(PREFIX, { ignoreFailures: true });

before(async () => {
  cleanup();
  await execa('ip', ['netns', 'add', nsName]);
  });
after(cleanup);

for (const [transportName, makeTransport, skip] of transports) {
  describe(`with the ${transportName} transport`, { skip }, () => {
  const transport = skip ? createExecTransport() : makeTransport();
  before(() => execa('ip', ['netns', 'exec', nsName, 'nft', 'delete', 'table', 'inet', 'twine'], { reject: false }));

  test('listTable is null while the table does not exist', async () => {
    assert.equal(await transport.listTable(ns, TABLE_FAMILY, TABLE_NAME), null);
  });

  test('a missing namespace is an NftError, not "no table"', async () => {
    await assert.rejects(transport.listTable({ path: '/var/run/netns/twt-fw-k-missing' }, TABLE_FAMILY, TABLE_NAME), NftError);
  });

  test('first apply (add-only), then diffs that replace only what changed, then delete', async () => {
    const first = addTableBatch(table([22, 80, 443, 8080]));
    assert.ok(first.nftables.every((c) => 'add' in c), 'first apply only adds');
    await transport.apply(ns, first);
    const live1 = await transport.listTable(ns, TABLE_FAMILY, TABLE_NAME);
    const before1 = rulesOf(live1, 'TWINE_INPUT');
    assert.deepEqual(
      before1.map((r) => r.comment),
      table([22, 80, 443, 8080]).chains[0]!.rules.map((r) => r.comment),
    );
    // Base chains exist with their hooks and integer priorities.
    const chains = live1!.nftables.map((i) => (i as { chain?: NftExpr }).chain).filter((c): c is NftExpr => !!c);
    for (const b of BASE_CHAINS) {
      const c = chains.find((x) => x.name === b.name);
      assert.equal(c?.hook, b.hook, `${b.name} hook`);
      assert.equal(c?.prio, b.prio, `${b.name} prio`);
    }

    // No change: nothing to send.
    assert.deepEqual(diffTable(table([22, 80, 443, 8080]), live1), { nftables: [] });

    // One rule changed (443 → 444): only it is replaced, in place.
    const d = diffTable(table([22, 80, 444, 8080]), live1);
    const deletes = d.nftables.filter((c) => 'delete' in c);
    assert.equal(deletes.length, 1);
    await transport.apply(ns, d);
    const after2 = rulesOf(await transport.listTable(ns, TABLE_FAMILY, TABLE_NAME), 'TWINE_INPUT');
    assert.deepEqual(
      after2.map((r) => r.comment),
      table([22, 80, 444, 8080]).chains[0]!.rules.map((r) => r.comment),
    );
    assert.equal(after2[0]!.handle, before1[0]!.handle);
    assert.equal(after2[1]!.handle, before1[1]!.handle);
    assert.notEqual(after2[2]!.handle, before1[2]!.handle);
    assert.equal(after2[3]!.handle, before1[3]!.handle);

    // A new chain, then it goes away again.
    const live3 = await transport.listTable(ns, TABLE_FAMILY, TABLE_NAME);
    await transport.apply(ns, diffTable(table([22, 80, 444, 8080], true), live3));
    assert.equal(rulesOf(await transport.listTable(ns, TABLE_FAMILY, TABLE_NAME), 'TWINE_EXTRA').length, 1);
    await transport.apply(ns, diffTable(table([22, 80, 444, 8080]), await transport.listTable(ns, TABLE_FAMILY, TABLE_NAME)));
    const live4 = await transport.listTable(ns, TABLE_FAMILY, TABLE_NAME);
    assert.ok(!live4!.nftables.some((i) => (i as { chain?: NftExpr }).chain?.name === 'TWINE_EXTRA'));
    assert.deepEqual(diffTable(table([22, 80, 444, 8080]), live4), { nftables: [] });

    // A large batch goes through a temp file (and the file is gone afterwards).
    const big = table(Array.from({ length: 2000 }, (_, i) => 10000 + i));
    assert.ok(JSON.stringify(diffTable(big, live4)).length > 100_000);
    await transport.apply(ns, diffTable(big, live4));
    assert.equal(rulesOf(await transport.listTable(ns, TABLE_FAMILY, TABLE_NAME), 'TWINE_INPUT').length, 2000);
    assert.deepEqual((await readdir(tmpdir())).filter((f) => f.startsWith(`twine-nft-${process.pid}-`)), []);

    await transport.apply(ns, deleteTableBatch());
    assert.equal(await transport.listTable(ns, TABLE_FAMILY, TABLE_NAME), null);
  });

  test('two writers with one stale listing: the second diff that adds a chain fails (EEXIST) instead of doubling its rules', async () => {
    await transport.apply(ns, addTableBatch(table([22])));
    const stale = await transport.listTable(ns, TABLE_FAMILY, TABLE_NAME);
    const first = diffTable(table([22], true), stale);
    const second = diffTable(table([22], true), stale);
    await transport.apply(ns, first);
    await assert.rejects(transport.apply(ns, second), (e: NftError) => /File exists/i.test(`${e.message} ${String(e.stderr ?? '')}`));
    assert.equal(rulesOf(await transport.listTable(ns, TABLE_FAMILY, TABLE_NAME), 'TWINE_EXTRA').length, 1, 'one copy of the new chain\'s rule');
    await transport.apply(ns, deleteTableBatch());
  });

  test('a refused batch is an NftError carrying stderr and the batch', async () => {
    const bad = { nftables: [{ add: { rule: { family: 'inet', table: 'twine', chain: 'NOPE', expr: [{ accept: null }] } } }] };
    await assert.rejects(transport.apply(ns, bad), (e: unknown) => {
      assert.ok(e instanceof NftError);
      assert.ok(e.stderr.length > 0);
      assert.equal(e.batch, bad);
      return true;
    });
  });

  test('iptables-nft still works in the namespace after Twine applied its table', async () => {
    // Native ct state, reject and masquerade expressions: the ones that break iptables-nft inside its own tables.
    const def = table([22]);
    const custom: [TwineChain, string][] = [
      ['TWINE_INPUT', '-m conntrack --ctstate INVALID -j REJECT'],
      ['TWINE_NAT_POSTROUTING', '-o wg+ -j MASQUERADE'],
      ['TWINE_NAT_PREROUTING', '-p tcp -m multiport --dports 80,443 -j DNAT --to-destination 10.0.0.2'],
    ];
    for (const [chain, opts] of custom) {
      const p = parseRule(chain, tokenize(opts));
      assert.ok('rule' in p);
      const t = translateRule(p.rule, () => undefined);
      def.chains.find((c) => c.name === chain)!.rules.push(makeRule(chain, t.expr));
    }
    await transport.apply(ns, addTableBatch(def));
    const f = await execa('ip', ['netns', 'exec', nsName, 'iptables', '-S'], { reject: false });
    const n = await execa('ip', ['netns', 'exec', nsName, 'iptables', '-t', 'nat', '-S'], { reject: false });
    assert.equal(f.exitCode, 0, f.stderr);
    assert.equal(n.exitCode, 0, n.stderr);
    // And iptables' own tables do not contain anything of Twine's.
    assert.ok(!f.stdout.includes('twine') && !n.stdout.includes('twine'));
  });
  });
}
