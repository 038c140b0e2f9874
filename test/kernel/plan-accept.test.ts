// Every golden plan's nftables table is accepted by the kernel: the batch
// `twine plan --json` prints (`nft`, what Twine sends to a namespace without
// its table) is applied as is with `nft -j -f` in a scratch namespace, and
// read back with `nft -j list table inet twine` (base chains with their hooks
// and integer priorities, the TWINE_* chains, the same rules in order).
// Needs root and `ip netns`; resources are named twt-pa-*.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TABLE_FAMILY, TABLE_NAME, type NftBatch } from '../../src/firewall/nft.js';
import { loadInput, runScenario, scenarioNames } from '../fixtures/scenarios.js';
import { deleteNetnsWithPrefix } from '../bed/netns.js';

const PREFIX = 'twt-pa-';
const tmp = mkdtempSync(join(tmpdir(), 'twt-pa-'));

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const cleanup = (): void => deleteNetnsWithPrefix(PREFIX);

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
      test(`${scenario}/${container} needs no table (no firewall content): the plan's batch is empty`, () => {
        assert.deepEqual(report.nft, { nftables: [] });
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
        assert.deepEqual(Object.keys(report.nft), ['nftables'], 'the batch is the {"nftables": [...]} document nft -j reads');
        writeFileSync(file, JSON.stringify(report.nft));
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
        assert.equal(chains.length, table.chains.length, "every chain of the plan, no other");
      } finally {
        run('ip', ['netns', 'del', ns]);
      }
    });
  }
}
