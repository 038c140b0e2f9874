// One container transaction against a real namespace, with both nft
// transports: first apply (add-only), no-op re-apply, drift repair, kill
// switch, default-route replacement and restore, and rollback when the nft
// batch is refused. Everything is read back from the kernel with ip/nft/cat.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { applyPlan } from '../../src/engine/transaction.js';
import { BASE_CHAINS, makeRule, type TableDef } from '../../src/firewall/nft.js';
import { createExecTransport } from '../../src/firewall/transport-exec.js';
import { createLibTransport, libTransportAvailable } from '../../src/firewall/transport-lib.js';
import type { NftTransport } from '../../src/firewall/transport.js';
import { TWINE_CHAINS } from '../../src/iptables/chains.js';
import { nativeBackend } from '../../src/netns/backend.js';
import { RTPROT_BOOT, TWINE_RT_PROTO, type Route } from '../../src/netns/types.js';
import type { Plan } from '../../src/plan/types.js';
import { TransactionError } from '../../src/errors.js';

const PREFIX = 'twt-tx-';
const nsName = `${PREFIX}${process.pid}`;
const ns = { path: `/var/run/netns/${nsName}` };

const ipNs = (...args: string[]) => execa('ip', ['-n', nsName, ...args]);
const jroutes = async (): Promise<Array<{ dst: string; gateway?: string; type?: string; protocol?: string }>> =>
  JSON.parse((await ipNs('-j', 'route', 'show', 'table', 'main')).stdout) as Array<{ dst: string; gateway?: string; type?: string; protocol?: string }>;
const sysctl = async (key: string): Promise<string> =>
  (await execa('ip', ['netns', 'exec', nsName, 'cat', `/proc/sys/${key.replace(/\./g, '/')}`])).stdout.trim();
const tableRules = async (): Promise<string[]> => {
  const r = await execa('ip', ['netns', 'exec', nsName, 'nft', '-j', 'list', 'table', 'inet', 'twine'], { reject: false });
  if (r.exitCode !== 0) return [];
  return (JSON.parse(r.stdout) as { nftables: Array<{ rule?: { comment?: string } }> }).nftables.flatMap((i) => (i.rule ? [i.rule.comment ?? ''] : []));
};

const route = (dst: string, gateway?: string): Route =>
  gateway ? { family: 4, dst, type: 'unicast', gateway, dev: 'd0', protocol: TWINE_RT_PROTO } : { family: 4, dst, type: 'unreachable', protocol: TWINE_RT_PROTO };
const dockerDefault: Route = { family: 4, dst: '0.0.0.0/0', type: 'unicast', gateway: '10.40.0.254', dev: 'd0', protocol: RTPROT_BOOT };

function table(extra: string[] = []): TableDef {
  return {
    chains: [
      ...BASE_CHAINS.map((b) => ({
        name: b.name,
        base: { type: b.type, hook: b.hook, prio: b.prio },
        rules: [
          makeRule(b.name, [{ jump: { target: b.jumpTo } }]),
          ...(b.name === 'POSTROUTING' ? [makeRule(b.name, [{ match: { op: '==', left: { meta: { key: 'oifname' } }, right: 'wg*' } }, { masquerade: null }], 'twine.nat.interfaces')] : []),
        ],
      })),
      ...TWINE_CHAINS.map((c) => ({
        name: c,
        rules: c === 'TWINE_INPUT' ? extra.map((target) => makeRule(c, [{ jump: { target } }], `jump ${target}`)) : [],
      })),
    ],
  };
}

function plan(routes: Route[], t: TableDef = table()): Plan {
  return {
    container: { id: 'tx-test', name: 'tx-test', pid: 0 },
    ns,
    sysctls: [{ key: 'net.ipv4.ip_forward', value: '1' }],
    routes,
    defaultRoutes: [dockerDefault],
    table: t,
    hostRoutes: [],
  };
}

async function resetNs(): Promise<void> {
  await execa('ip', ['netns', 'del', nsName], { reject: false });
  await execa('ip', ['netns', 'add', nsName]);
  // No dummy module on these kernels: a veth pair with both ends inside the namespace.
  await ipNs('link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd0p');
  await ipNs('addr', 'add', '10.40.0.1/24', 'dev', 'd0');
  await ipNs('link', 'set', 'd0p', 'up');
  await ipNs('link', 'set', 'd0', 'up');
  await ipNs('route', 'add', 'default', 'via', '10.40.0.254', 'dev', 'd0');
}

before(async () => {
  const { stdout } = await execa('ip', ['netns', 'list']);
  for (const line of stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const pid = Number(name.slice(PREFIX.length));
    if (name.startsWith(PREFIX) && !(pid > 0 && pidAlive(pid))) await execa('ip', ['netns', 'del', name], { reject: false });
  }
});
after(() => execa('ip', ['netns', 'del', nsName], { reject: false }));

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// Without libnftables in the addon the lib variants are skipped, so the summary counts them (test/kernel/nft-lib.test.ts fails CI then).
const libSkip = libTransportAvailable() ? false : 'addon built without libnftables';
const transports: Array<[string, () => NftTransport, string | false]> = [
  ['exec', createExecTransport, false],
  ['lib', createLibTransport, libSkip],
];

for (const [name, make, skip] of transports) {
  describe(`transaction with the ${name} transport`, { skip }, () => {
    const a = { netns: nativeBackend, nft: skip ? createExecTransport() : make() };

    test('first apply is add-only; the same plan again sends nothing', async () => {
      await resetNs();
      const p = plan([route('10.50.0.0/16', '10.40.0.2'), route('10.60.0.0/16', '10.40.0.3')]);
      const r1 = await applyPlan(a, p, { fresh: true });
      assert.equal(r1.noop, false);
      assert.ok(r1.nftCommands > 0);
      assert.ok(r1.nftCommands === 1 + 12 + 7, `add-only batch: table + 12 chains + 7 rules, got ${r1.nftCommands}`);
      const rs = await jroutes();
      assert.deepEqual(
        rs.filter((x) => x.protocol === String(TWINE_RT_PROTO)).map((x) => `${x.dst} ${x.gateway}`).sort(),
        ['10.50.0.0/16 10.40.0.2', '10.60.0.0/16 10.40.0.3'],
      );
      assert.equal(await sysctl('net.ipv4.ip_forward'), '1');
      assert.equal((await tableRules()).length, 7);

      const r2 = await applyPlan(a, p, { fresh: false });
      assert.equal(r2.noop, true);
      assert.equal(r2.nftCommands, 0);
    });

    test('drift is repaired: a deleted route and a flushed chain come back, nothing else is touched', async () => {
      const p = plan([route('10.50.0.0/16', '10.40.0.2'), route('10.60.0.0/16', '10.40.0.3')]);
      await ipNs('route', 'del', '10.60.0.0/16');
      await execa('ip', ['netns', 'exec', nsName, 'nft', 'flush', 'chain', 'inet', 'twine', 'POSTROUTING']);
      const r = await applyPlan(a, p, { fresh: false });
      assert.deepEqual(r.routesReplaced.map((x) => x.dst), ['10.60.0.0/16']);
      assert.equal(r.nftCommands, 2, 'only the two flushed rules are added back');
      assert.equal((await tableRules()).length, 7);
      assert.equal((await applyPlan(a, p, { fresh: false })).noop, true);
    });

    test("a rule replaced in place (its comment kept) and a base chain's policy made drop are repaired by the next transaction", async () => {
      await resetNs();
      const p = plan([route('10.50.0.0/16', '10.40.0.2')], table(['TWINE_FORWARD']));
      const r1 = await applyPlan(a, p, { fresh: true });
      assert.ok(r1.ruleHashes && r1.ruleHashes.size === 8, 'the hashes of the 8 rules are recorded right after the commit');
      const nftNs = (...args: string[]) => execa('ip', ['netns', 'exec', nsName, 'nft', ...args]);
      const listed = JSON.parse((await nftNs('-j', '-a', 'list', 'chain', 'inet', 'twine', 'TWINE_INPUT')).stdout) as { nftables: Array<{ rule?: { handle: number; comment: string } }> };
      const victim = listed.nftables.find((i) => i.rule)!.rule!;
      await nftNs('replace', 'rule', 'inet', 'twine', 'TWINE_INPUT', 'handle', String(victim.handle), 'tcp', 'dport', '8', 'drop', 'comment', JSON.stringify(victim.comment));
      const text = async (): Promise<string> => (await nftNs('list', 'table', 'inet', 'twine')).stdout;
      assert.match(await text(), /dport 8 drop/);
      // By name it is in sync: without the hashes the transaction changes nothing (what Twine did before).
      assert.equal((await applyPlan(a, p, { fresh: false })).noop, true);
      const r2 = await applyPlan(a, p, { fresh: false, knownHashes: r1.ruleHashes! });
      assert.equal(r2.noop, false);
      assert.equal(r2.nftCommands, 2, 'the replaced rule deleted, the committed one added');
      assert.doesNotMatch(await text(), /dport 8/);
      assert.match(await text(), /jump TWINE_FORWARD/);
      const r3 = await applyPlan(a, p, { fresh: false, knownHashes: r2.ruleHashes! });
      assert.equal(r3.noop, true, 'in sync, hashes included');

      await nftNs('chain', 'inet', 'twine', 'INPUT', '{ policy drop; }');
      assert.match(await text(), /hook input priority .*policy drop/);
      const r4 = await applyPlan(a, p, { fresh: false, knownHashes: r3.ruleHashes! });
      assert.equal(r4.noop, false);
      assert.doesNotMatch(await text(), /policy drop/);
      assert.equal((await applyPlan(a, p, { fresh: false, knownHashes: r4.ruleHashes! })).noop, true);
    });

    test('kill switch: a gateway that is down turns the route unreachable in place', async () => {
      const p = plan([route('10.50.0.0/16'), route('10.60.0.0/16', '10.40.0.3')]);
      await applyPlan(a, p, { fresh: false });
      const r = (await jroutes()).find((x) => x.dst === '10.50.0.0/16');
      assert.equal(r?.type, 'unreachable');
      const get = await ipNs('route', 'get', '10.50.1.1').then(
        () => 'routed',
        (e: { stderr: string }) => e.stderr,
      );
      assert.match(get, /unreachable|No route to host/);
    });

    test('known last routes: a re-pointed route is written with the reads, drift beside it still repaired, then in sync', async () => {
      await resetNs();
      const old = plan([route('10.50.0.0/16'), route('10.60.0.0/16', '10.40.0.3')]);
      await applyPlan(a, old, { fresh: true });
      // Drift Twine does not know of: the second route deleted by hand.
      await ipNs('route', 'del', '10.60.0.0/16');
      const moved = plan([route('10.50.0.0/16', '10.40.0.7'), route('10.60.0.0/16', '10.40.0.3')]);
      let released = 0;
      const r = await applyPlan(a, moved, { fresh: false, lastRoutes: old.routes, routesDone: async () => void released++ });
      assert.deepEqual(r.routesReplaced.map((x) => x.dst).sort(), ['10.50.0.0/16', '10.60.0.0/16']);
      assert.equal(released, 1);
      assert.deepEqual(
        (await jroutes()).filter((x) => x.protocol === String(TWINE_RT_PROTO)).map((x) => `${x.dst} ${x.gateway}`).sort(),
        ['10.50.0.0/16 10.40.0.7', '10.60.0.0/16 10.40.0.3'],
      );
      assert.equal((await applyPlan(a, moved, { fresh: false, lastRoutes: moved.routes })).noop, true, 'nothing differs from the last routes: nothing written');
    });

    test('known last routes, a re-pointed route the kernel refuses: the routes read before it are put back', async () => {
      await resetNs();
      const old = plan([route('10.50.0.0/16', '10.40.0.2'), route('10.60.0.0/16', '10.40.0.3')]);
      await applyPlan(a, old, { fresh: true });
      const before = await jroutes();
      // The first route re-points fine, the second names a gateway no interface reaches.
      const bad = plan([route('10.50.0.0/16', '10.40.0.8'), { ...route('10.60.0.0/16', '10.99.0.1'), dev: undefined }]);
      let released = 0;
      await assert.rejects(applyPlan(a, bad, { fresh: false, lastRoutes: old.routes, routesDone: async () => void released++ }), (err: unknown) => {
        assert.ok(err instanceof TransactionError, String(err));
        assert.equal(err.step, 'netlink');
        assert.deepEqual(err.rollbackErrors, []);
        return true;
      });
      assert.equal(released, 0);
      assert.deepEqual(await jroutes(), before);
    });

    test("0.0.0.0/0 replaces Docker's default route; without it Docker's comes back", async () => {
      await applyPlan(a, plan([route('0.0.0.0/0', '10.40.0.2')]), { fresh: false });
      let def = (await jroutes()).filter((x) => x.dst === 'default');
      assert.deepEqual(def.map((x) => [x.gateway, x.protocol]), [['10.40.0.2', String(TWINE_RT_PROTO)]]);
      await applyPlan(a, plan([]), { fresh: false });
      def = (await jroutes()).filter((x) => x.dst === 'default');
      assert.equal(def.length, 1);
      assert.equal(def[0]!.gateway, '10.40.0.254');
      assert.notEqual(def[0]!.protocol, String(TWINE_RT_PROTO));
      assert.equal((await jroutes()).filter((x) => x.protocol === String(TWINE_RT_PROTO)).length, 0);
    });

    test('a refused nft batch rolls routes and sysctls back: the namespace is left as it was', async () => {
      await resetNs();
      const good = plan([route('10.50.0.0/16', '10.40.0.2')]);
      await applyPlan(a, good, { fresh: true });
      await execa('ip', ['netns', 'exec', nsName, 'sysctl', '-qw', 'net.ipv4.ip_forward=0']);
      const before = { routes: await jroutes(), rules: await tableRules() };
      // A jump to a chain that does not exist: the kernel refuses the whole batch.
      const bad = plan([route('10.50.0.0/16', '10.40.0.9'), route('10.70.0.0/16', '10.40.0.2')], table(['NO_SUCH_CHAIN']));
      await assert.rejects(applyPlan(a, bad, { fresh: false }), (err: unknown) => {
        assert.ok(err instanceof TransactionError, String(err));
        assert.equal(err.step, 'nft');
        assert.deepEqual(err.rollbackErrors, []);
        return true;
      });
      assert.deepEqual(await jroutes(), before.routes);
      assert.deepEqual(await tableRules(), before.rules);
      assert.equal(await sysctl('net.ipv4.ip_forward'), '0');
    });

    test('fresh namespace, a route the kernel refuses: nothing stays, no table, sysctls as they were', async () => {
      await resetNs();
      await execa('ip', ['netns', 'exec', nsName, 'sysctl', '-qw', 'net.ipv4.ip_forward=0']);
      // No interface reaches 10.99.0.1: the kernel refuses the route (ENETUNREACH).
      const bad = plan([route('10.50.0.0/16', '10.40.0.2'), { ...route('10.70.0.0/16', '10.99.0.1'), dev: undefined }]);
      await assert.rejects(applyPlan(a, bad, { fresh: true }), (err: unknown) => {
        assert.ok(err instanceof TransactionError, String(err));
        assert.equal(err.step, 'netlink');
        assert.deepEqual(err.rollbackErrors, []);
        return true;
      });
      assert.deepEqual((await jroutes()).filter((x) => x.protocol === String(TWINE_RT_PROTO)), []);
      assert.deepEqual((await jroutes()).filter((x) => x.dst === 'default').map((x) => x.gateway), ['10.40.0.254']);
      assert.deepEqual(await tableRules(), []);
      assert.equal(await sysctl('net.ipv4.ip_forward'), '0');
    });

    test('fresh namespace, a refused nft batch: routes and sysctls rolled back', async () => {
      await resetNs();
      await execa('ip', ['netns', 'exec', nsName, 'sysctl', '-qw', 'net.ipv4.ip_forward=0']);
      const bad = plan([route('0.0.0.0/0', '10.40.0.2'), route('10.70.0.0/16', '10.40.0.2')], table(['NO_SUCH_CHAIN']));
      await assert.rejects(applyPlan(a, bad, { fresh: true }), (err: unknown) => {
        assert.ok(err instanceof TransactionError, String(err));
        assert.equal(err.step, 'nft');
        assert.deepEqual(err.rollbackErrors, []);
        return true;
      });
      assert.deepEqual((await jroutes()).filter((x) => x.protocol === String(TWINE_RT_PROTO)), []);
      assert.deepEqual((await jroutes()).filter((x) => x.dst === 'default').map((x) => x.gateway), ['10.40.0.254'], "Docker's default route is back");
      assert.equal(await sysctl('net.ipv4.ip_forward'), '0');
    });

    test('fresh namespace where another writer already created the table: one copy of each rule', async () => {
      await resetNs();
      const p = plan([route('10.50.0.0/16', '10.40.0.2')]);
      await applyPlan(a, p, { fresh: true });
      const r = await applyPlan(a, p, { fresh: true });
      assert.equal(r.nftCommands, 0, 'the add-only batch met the table and nothing was missing');
      assert.equal((await tableRules()).length, 7);
      assert.equal((await applyPlan(a, p, { fresh: false })).noop, true);
    });

    test('a namespace that is gone is a typed error, not a crash', async () => {
      const p = { ...plan([route('10.50.0.0/16', '10.40.0.2')]), ns: { path: '/var/run/netns/twt-tx-nonexistent' } };
      await assert.rejects(applyPlan(a, p, { fresh: false }), (err: unknown) => {
        assert.equal((err as { code?: string }).code, 'ENOENT');
        return true;
      });
    });
  });
}
