// Differential test of the iptables translator against iptables' own
// (iptables-translate 1.8.9): for every corpus rule, iptables-translate's nft
// text goes into `table ip twtA` (ip6: `table ip6 twtA6`) in scratch
// namespace A and Twine's JSON into `table inet twine` in namespace B, both
// in the real chain layout (base chains jumping to TWINE_*). Both are listed
// back with `nft -j list table` and the rule expressions compared.
//
// Normalisation (documented, applied to every rule):
// - counters dropped (iptables-translate adds one to every rule; Twine does not),
//   handles, table names/families and comments ignored (rules are compared
//   by position, expressions only);
// - Twine's leading `meta nfproto ipv4|ipv6` dropped: table ip/ip6 is
//   family-specific by itself, table inet needs it to keep iptables'
//   per-family meaning (nft already folds it when an ip/ip6 match follows);
// - the `family` of snat/dnat dropped: required in table inet, implied in ip/ip6.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { deleteNetnsWithPrefix } from '../bed/netns.js';
import { translateRule } from '../../src/firewall/iptables/translate.js';
import { parseRule } from '../../src/iptables/rule.js';
import { tokenize } from '../../src/iptables/tokenize.js';
import { TWINE_CHAINS, type TwineChain } from '../../src/iptables/chains.js';
import { BASE_CHAINS, makeRule, TABLE_FAMILY, TABLE_NAME, type NftExpr, type TableDef } from '../../src/firewall/nft.js';
import { addTableBatch } from '../../src/firewall/batch.js';
import { createExecTransport } from '../../src/firewall/transport-exec.js';

interface Entry {
  chain: TwineChain;
  opts: string;
  ipt?: string;
  v6?: boolean;
  refs?: Record<string, { v4?: string; v6?: string }>;
  rejected?: string;
  iptablesAccepts?: string;
  exception?: string;
}

const corpusPath = new URL('../../../test/fixtures/iptables/corpus.json', import.meta.url);
const corpus = JSON.parse(readFileSync(corpusPath, 'utf8')) as { rules: Entry[] };
const PREFIX = 'twt-fw-diff-';
const nsA = `${PREFIX}a${process.pid}`;
const nsB = `${PREFIX}b${process.pid}`;

/** iptables table and built-in chain for each TWINE_* chain. */
const IPT: Record<TwineChain, [string, string]> = {
  TWINE_INPUT: ['filter', 'INPUT'],
  TWINE_OUTPUT: ['filter', 'OUTPUT'],
  TWINE_FORWARD: ['filter', 'FORWARD'],
  TWINE_NAT_PREROUTING: ['nat', 'PREROUTING'],
  TWINE_NAT_POSTROUTING: ['nat', 'POSTROUTING'],
  TWINE_NAT_OUTPUT: ['nat', 'OUTPUT'],
};

interface Side {
  /** nft text rule body (A) or JSON expr (B), or why there is none. */
  a?: string;
  b?: { expr: NftExpr[]; comment?: string };
  errA?: string;
  errB?: string;
  listedA?: NftExpr[];
  listedB?: NftExpr[];
}
const sides: Side[] = corpus.rules.map(() => ({}));
const rejects: { ipt: boolean; twine: string[] }[] = corpus.rules.map(() => ({ ipt: false, twine: [] }));

function layoutText(family: 'ip' | 'ip6', table: string): string {
  const lines = [`table ${family} ${table} {`];
  for (const c of TWINE_CHAINS) lines.push(`  chain ${c} { }`);
  for (const b of BASE_CHAINS) lines.push(`  chain ${b.name} { type ${b.type} hook ${b.hook} priority ${b.prio}; policy accept; jump ${b.jumpTo}; }`);
  lines.push('}');
  return lines.join('\n');
}

function layoutDef(rules: Map<TwineChain, { expr: NftExpr[]; comment?: string }[]>): TableDef {
  return {
    chains: [
      ...TWINE_CHAINS.map((c) => ({ name: c, rules: (rules.get(c) ?? []).map((r) => makeRule(c, r.expr, r.comment)) })),
      ...BASE_CHAINS.map((b) => ({
        name: b.name,
        base: { type: b.type, hook: b.hook, prio: b.prio },
        rules: [makeRule(b.name, [{ jump: { target: b.jumpTo } }])],
      })),
    ],
  };
}

const netnsCleanup = (): void => deleteNetnsWithPrefix(PREFIX, { ignoreFailures: true });

/** Rules of a listed table, grouped by chain, in order. */
function rulesByChain(json: { nftables: NftExpr[] }): Map<string, NftExpr[][]> {
  const m = new Map<string, NftExpr[][]>();
  for (const item of json.nftables) {
    const r = item.rule as NftExpr | undefined;
    if (!r) continue;
    const list = m.get(r.chain) ?? [];
    list.push(r.expr);
    m.set(r.chain, list);
  }
  return m;
}

function normalise(expr: NftExpr[], twine: boolean): NftExpr[] {
  let out = expr.filter((e) => !('counter' in e));
  if (twine && out[0]?.match?.left?.meta?.key === 'nfproto') out = out.slice(1);
  return out.map((e) => {
    for (const k of ['snat', 'dnat']) {
      if (e[k] && typeof e[k] === 'object') {
        const { family: _family, ...rest } = e[k] as Record<string, unknown>;
        return { [k]: rest };
      }
    }
    return e;
  });
}

let tmp: string;

before(async () => {
  netnsCleanup();
  tmp = await mkdtemp(join(tmpdir(), 'twt-fw-diff-'));
  await execa('ip', ['netns', 'add', nsA]);
  await execa('ip', ['netns', 'add', nsB]);

  // 1. Both translators, for every entry (iptables-translate runs in parallel).
  await Promise.all(
    corpus.rules.map(async (e, i) => {
      const [table, chain] = IPT[e.chain];
      const r = await execa(e.v6 ? 'ip6tables-translate' : 'iptables-translate', ['-t', table, '-A', chain, ...tokenize(e.ipt ?? e.opts)], { reject: false });
      const p = parseRule(e.chain, tokenize(e.opts));
      if (e.rejected !== undefined) {
        rejects[i] = { ipt: r.exitCode !== 0, twine: 'errors' in p ? p.errors : [] };
        return;
      }
      const lines = String(r.stdout).split('\n').filter(Boolean);
      const m = lines.length === 1 ? /^nft '(?:add|insert) rule ip6? (?:filter|nat) \S+ (.*)'$/.exec(lines[0]!) : null;
      if (r.exitCode !== 0 || !m) sides[i]!.errA = `iptables-translate: exit ${r.exitCode}: ${String(r.stderr)}${String(r.stdout)}`;
      else sides[i]!.a = m[1]!;
      if ('errors' in p) sides[i]!.errB = p.errors.join('; ');
      else {
        try {
          const t = translateRule(p.rule, (ref) => e.refs?.[ref]);
          sides[i]!.b = { expr: t.expr, ...(t.comment !== undefined ? { comment: t.comment } : {}) };
        } catch (err) {
          sides[i]!.errB = String(err);
        }
      }
    }),
  );

  // 2. Namespace A: iptables-translate's text, one nft -f for everything.
  const aText = (only?: number): string => {
    const lines = [layoutText('ip', 'twtA'), layoutText('ip6', 'twtA6')];
    corpus.rules.forEach((e, i) => {
      const s = sides[i]!;
      if (s.a !== undefined && (only === undefined || only === i)) lines.push(`add rule ${e.v6 ? 'ip6 twtA6' : 'ip twtA'} ${e.chain} ${s.a}`);
    });
    return lines.join('\n') + '\n';
  };
  const applyA = async (text: string): Promise<string | undefined> => {
    const f = join(tmp, 'a.nft');
    await writeFile(f, text);
    await execa('ip', ['netns', 'exec', nsA, 'nft', 'flush', 'ruleset']);
    const r = await execa('ip', ['netns', 'exec', nsA, 'nft', '-f', f], { reject: false });
    return r.exitCode === 0 ? undefined : String(r.stderr);
  };
  if (await applyA(aText())) {
    // Find the culprits one by one, then apply the rest.
    for (let i = 0; i < corpus.rules.length; i++) {
      if (sides[i]!.a === undefined) continue;
      const err = await applyA(aText(i));
      if (err) {
        sides[i]!.errA = `nft -f (A) refused: ${err}`;
        delete sides[i]!.a;
      }
    }
    const err = await applyA(aText());
    assert.equal(err, undefined, `namespace A: ${err}`);
  }

  // 3. Namespace B: Twine's JSON through the exec transport, one batch.
  const transport = createExecTransport();
  const bNs = { path: `/var/run/netns/${nsB}` };
  const bDef = (only?: number): TableDef => {
    const m = new Map<TwineChain, { expr: NftExpr[]; comment?: string }[]>();
    corpus.rules.forEach((e, i) => {
      const b = sides[i]!.b;
      if (b && (only === undefined || only === i)) m.set(e.chain, [...(m.get(e.chain) ?? []), b]);
    });
    return layoutDef(m);
  };
  const applyB = async (def: TableDef): Promise<string | undefined> => {
    await execa('ip', ['netns', 'exec', nsB, 'nft', 'flush', 'ruleset']);
    try {
      await transport.apply(bNs, addTableBatch(def));
      return undefined;
    } catch (err) {
      return String((err as { stderr?: string }).stderr ?? err);
    }
  };
  if (await applyB(bDef())) {
    for (let i = 0; i < corpus.rules.length; i++) {
      if (!sides[i]!.b) continue;
      const err = await applyB(bDef(i));
      if (err) {
        sides[i]!.errB = `nft -j (B) refused: ${err}`;
        delete sides[i]!.b;
      }
    }
    const err = await applyB(bDef());
    assert.equal(err, undefined, `namespace B: ${err}`);
  }

  // 4. List both and put each listed rule back with its corpus entry.
  const listA4 = rulesByChain(JSON.parse((await execa('ip', ['netns', 'exec', nsA, 'nft', '-j', 'list', 'table', 'ip', 'twtA'])).stdout));
  const listA6 = rulesByChain(JSON.parse((await execa('ip', ['netns', 'exec', nsA, 'nft', '-j', 'list', 'table', 'ip6', 'twtA6'])).stdout));
  const listB = await transport.listTable(bNs, TABLE_FAMILY, TABLE_NAME);
  assert.ok(listB, 'table inet twine listed in B');
  const byChainB = rulesByChain(listB as unknown as { nftables: NftExpr[] });
  const posA = new Map<string, number>();
  const posB = new Map<string, number>();
  corpus.rules.forEach((e, i) => {
    const s = sides[i]!;
    if (s.a !== undefined) {
      const key = `${e.v6 ? 6 : 4}${e.chain}`;
      const n = posA.get(key) ?? 0;
      posA.set(key, n + 1);
      s.listedA = (e.v6 ? listA6 : listA4).get(e.chain)?.[n];
    }
    if (s.b) {
      const n = posB.get(e.chain) ?? 0;
      posB.set(e.chain, n + 1);
      s.listedB = byChainB.get(e.chain)?.[n];
    }
  });
});

after(async () => {
  netnsCleanup();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('iptables-translate vs Twine, applied and listed by the kernel', () => {
  test('the corpus has at least 60 translatable rules', () => {
    assert.ok(corpus.rules.filter((e) => e.rejected === undefined).length >= 60);
  });

  corpus.rules.forEach((e, i) => {
    const name = `${e.v6 ? 'ip6' : 'ip'} ${e.chain} ${e.opts}`;
    if (e.rejected !== undefined) {
      test(`${e.iptablesAccepts ? 'Twine refuses' : 'both refuse'}: ${name}`, () => {
        const r = rejects[i]!;
        assert.equal(r.ipt, !e.iptablesAccepts, e.iptablesAccepts ? `iptables-translate accepts it (${e.iptablesAccepts})` : 'iptables-translate refuses it too');
        assert.ok(r.twine.length > 0, 'Twine refuses it');
        assert.ok(
          r.twine.some((m) => m.startsWith(e.rejected!)),
          `an error names ${e.rejected}: ${r.twine.join('; ')}`,
        );
      });
      return;
    }
    test(name, () => {
      const s = sides[i]!;
      assert.equal(s.errA, undefined, 'iptables-translate output applies');
      assert.equal(s.errB, undefined, 'Twine output applies');
      assert.ok(s.listedA && s.listedB, 'both rules listed back');
      const a = normalise(s.listedA, false);
      const b = normalise(s.listedB, true);
      if (e.exception) assert.notDeepEqual(b, a, `documented exception no longer differs: ${e.exception}`);
      else assert.deepEqual(b, a);
    });
  });
});
