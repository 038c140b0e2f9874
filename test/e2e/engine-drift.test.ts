// Drift by content: a container whose label asks for `--dport 7 -j DROP`; in
// its namespace the rule is replaced in place under Twine's comment
// (`nft replace rule … handle N tcp dport 8 drop comment "<Twine's>"`), and a
// base chain's policy is made drop. With --resync-interval 2, the next re-sync
// puts back the committed rule and policy accept (before, both read as in
// sync: status said applied while the kernel held dport 8).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  createNetwork,
  execIn,
  runContainer,
  setUpFile,
  startReconciled,
  tearDownFile,
  testPrefix,
  twineTable,
  waitTx,
  waitUntil,
  type TestDaemon,
} from '../bed/index.js';

const P = testPrefix('dr');
const NET = `${P}net`;
const APP = `${P}app`;

let daemon: TestDaemon;

before(async () => {
  await setUpFile('dr');
  await createNetwork(NET);
  daemon = await startReconciled({ args: ['--resync-interval', '2'] });
});

after(async () => {
  await tearDownFile(P, { daemons: [daemon], containers: [APP], networks: [NET] });
});

interface Listed {
  nftables: Array<{ rule?: { chain: string; handle: number; comment?: string }; chain?: { name: string; policy?: string } }>;
}

test('a rule replaced in place and a base chain made policy drop are repaired at the next re-sync', async () => {
  const mark = daemon.lines.length;
  const c = await runContainer({ name: APP, networks: [NET], labels: { 'twine.iptables.rule.a': 'TWINE_INPUT -p tcp --dport 7 -j DROP' } });
  const ns = { pid: c.pid };
  await waitTx(daemon, APP, mark, (l) => l.msg === 'applied', 30_000);
  const text = async (): Promise<string> => execIn(ns, 'nft', ['list', 'table', 'inet', 'twine']);
  assert.match(await text(), /tcp dport 7 drop/);

  const listed = JSON.parse(await execIn(ns, 'nft', ['-j', '-a', 'list', 'chain', 'inet', 'twine', 'TWINE_INPUT'])) as Listed;
  const rule = listed.nftables.find((i) => i.rule?.comment?.includes('twine.iptables.rule.a'))!.rule!;
  await execIn(ns, 'nft', ['replace', 'rule', 'inet', 'twine', 'TWINE_INPUT', 'handle', String(rule.handle), 'tcp', 'dport', '8', 'drop', 'comment', JSON.stringify(rule.comment)]);
  assert.match(await text(), /tcp dport 8 drop/);
  const replacedAt = performance.now();
  await waitUntil('the committed rule is back', async () => /tcp dport 7 drop/.test(await text()) && !/dport 8/.test(await text()), 10_000, 200);
  const repairMs = performance.now() - replacedAt;

  await execIn(ns, 'nft', ['chain', 'inet', 'twine', 'INPUT', '{ policy drop; }']);
  const droppedAt = performance.now();
  await waitUntil('policy accept again', async () => {
    const chains = (JSON.parse(await execIn(ns, 'nft', ['-j', 'list', 'chains', 'inet'])) as Listed).nftables;
    return chains.some((i) => i.chain?.name === 'INPUT' && i.chain.policy === 'accept');
  }, 10_000, 200);
  const policyMs = performance.now() - droppedAt;
  console.log(`# repaired: the replaced rule after ${Math.round(repairMs)} ms, the policy after ${Math.round(policyMs)} ms`);
  const t = await twineTable(ns);
  assert.equal(t?.rules.filter((r) => r.comment?.includes('twine.iptables.rule.a')).length, 1, 'one copy of the rule');
});
