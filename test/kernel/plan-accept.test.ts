// Every golden plan's nftables table is accepted by the kernel: rendered as an
// add-only batch, applied with `nft -j -f` in a scratch namespace, and read
// back with `nft -j list table inet twine` (base chains with their hooks and
// integer priorities, the TWINE_* chains, the same number of rules).
// Needs root and `ip netns`; resources are named twt-pa-*.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TABLE_FAMILY, TABLE_NAME, type NftBatch, type TableDef } from '../../src/firewall/nft.js';
import { loadInput, runScenario, scenarioNames } from '../fixtures/scenarios.js';
import { deleteNetnsWithPrefix } from '../bed/netns.js';

const PREFIX = 'twt-pa-';
const tmp = mkdtempSync(join(tmpdir(), 'twt-pa-'));

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const cleanup = (): void => deleteNetnsWithPrefix(PREFIX);

/** The first apply of a table: add table, chains, then rules (no deletes, no flushes). */
function addOnlyBatch(t: TableDef): NftBatch {
  const table = { family: TABLE_FAMILY, name: TABLE_NAME };
  const cmds: Record<string, unknown>[] = [{ add: { table } }];
  for (const c of t.chains) {
    const base = c.base ? { type: c.base.type, hook: c.base.hook, prio: c.base.prio, policy: 'accept' } : {};
    cmds.push({ add: { chain: { family: TABLE_FAMILY, table: TABLE_NAME, name: c.name, ...base } } });
  }
  for (const c of t.chains) {
    for (const r of c.rules) {
      cmds.push({ add: { rule: { family: TABLE_FAMILY, table: TABLE_NAME, chain: c.name, expr: r.expr, comment: r.comment } } });
    }
  }
  return { nftables: cmds };
}

before(cleanup);
after(() => {
  cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
for (const scenario of scenarioNames()) {
  const plans = runScenario(loadInput(scenario));
  for (const [container, report] of Object.entries(plans)) {
    const table = report.plan.table;
    if (table.chains.length === 0) {
      test(`${scenario}/${container} needs no table (no firewall content)`, () => {
        assert.equal(report.desired.rules.filter((r) => r.state === 'up').length, 0);
        assert.equal(report.desired.forwards.filter((f) => f.state === 'up').length, 0);
        assert.equal(report.desired.natInterfaces.length, 0);
      });
      continue;
    }
    test(`kernel accepts the plan of ${scenario}/${container}`, () => {
      const ns = `${PREFIX}${process.pid}-${n++}`;
      run('ip', ['netns', 'add', ns]);
      try {
        // Interfaces the plans name, as veth pairs inside the namespace (no dummy module here);
        // nft matches names, but this keeps the namespace realistic.
        run('ip', ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
        run('ip', ['-n', ns, 'link', 'add', 'wg0', 'type', 'veth', 'peer', 'name', 'wg1']);
        const file = join(tmp, `${ns}.json`);
        writeFileSync(file, JSON.stringify(addOnlyBatch(table)));
        run('ip', ['netns', 'exec', ns, 'nft', '-j', '-f', file]);
        const live = JSON.parse(run('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'table', TABLE_FAMILY, TABLE_NAME])) as NftBatch;
        const chains = live.nftables.flatMap((o) => ('chain' in o ? [o.chain as Record<string, unknown>] : []));
        const rules = live.nftables.flatMap((o) => ('rule' in o ? [o.rule as Record<string, unknown>] : []));
        for (const c of table.chains) {
          const got = chains.find((x) => x.name === c.name);
          assert.ok(got, `chain ${c.name} missing`);
          if (c.base) {
            assert.equal(got.type, c.base.type, `${c.name} type`);
            assert.equal(got.hook, c.base.hook, `${c.name} hook`);
            assert.equal(got.prio, c.base.prio, `${c.name} prio`);
          } else {
            assert.equal(got.hook, undefined, `${c.name} is a regular chain`);
          }
          const liveRules = rules.filter((r) => r.chain === c.name);
          assert.deepEqual(
            liveRules.map((r) => r.comment),
            c.rules.map((r) => r.comment),
            `rules of ${c.name} (by identity comment, in order)`,
          );
        }
        assert.equal(chains.length, 12);
      } finally {
        run('ip', ['netns', 'del', ns]);
      }
    });
  }
}
