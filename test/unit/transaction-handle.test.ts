// A transaction enters its namespace through one handle: every call the
// backend and the nft transport get (observe, the netlink batch, nft,
// read-back, rollback) carries that handle's target, never a pid or a path.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPlan } from '../../src/engine/transaction.js';
import type { NftTransport } from '../../src/firewall/transport.js';
import { BASE_CHAINS, makeRule } from '../../src/firewall/nft.js';
import { NftError, TransactionError } from '../../src/errors.js';
import { TWINE_RT_PROTO, type BatchOutcome, type NetnsBackend, type NsStep, type NsTarget, type Route } from '../../src/netns/types.js';
import type { Plan } from '../../src/plan/types.js';

const HANDLE: NsTarget = { fd: 1234, name: 'pid 42' };

function recorder(opts: { nftFails: boolean }) {
  const targets: Array<[string, NsTarget]> = [];
  let routes: Route[] = [];
  const fail = (): never => {
    throw new Error('not used by a transaction');
  };
  const netns: NetnsBackend = {
    routeList: async (ns) => (targets.push(['routeList', ns]), routes),
    routeAdd: fail,
    routeReplace: async (ns, r) => {
      targets.push(['routeReplace', ns]);
      routes = [...routes.filter((x) => x.dst !== r.dst), r];
    },
    routeDel: async (ns, r) => {
      targets.push(['routeDel', ns]);
      routes = routes.filter((x) => x.dst !== r.dst);
    },
    linkList: fail,
    addrList: fail,
    sysctlGet: async (ns) => (targets.push(['sysctlGet', ns]), '0'),
    sysctlSet: async (ns) => void targets.push(['sysctlSet', ns]),
    batch: async (ns, steps: NsStep[]): Promise<BatchOutcome> => {
      targets.push(['batch', ns]);
      const results: unknown[] = [];
      for (const s of steps) {
        if (s.op === 'routeList') results.push(routes);
        else if (s.op === 'ruleList') results.push([]);
        else if (s.op === 'sysctlGet') results.push('0');
        else if (s.op === 'nftTableRead') results.push(null);
        else if (s.op === 'routeReplace') routes = [...routes.filter((x) => x.dst !== s.route.dst), s.route];
        else if (s.op === 'routeDel') routes = routes.filter((x) => x.dst !== s.route.dst);
        if (s.op !== 'routeList' && s.op !== 'ruleList' && s.op !== 'sysctlGet' && s.op !== 'nftTableRead') results.push(undefined);
      }
      return { results };
    },
  };
  const nft: NftTransport = {
    name: 'lib',
    ordered: true,
    apply: async (ns, batch) => {
      targets.push(['nft apply', ns]);
      if (opts.nftFails && !JSON.stringify(batch).includes('"delete"')) throw new NftError('refused', 'refused', batch);
    },
    listTable: async (ns) => (targets.push(['nft list', ns]), null),
  };
  return { a: { netns, nft }, targets };
}

function plan(): Plan {
  return {
    container: { id: 'c', name: 'c', pid: 42 },
    ns: HANDLE,
    sysctls: [{ key: 'net.ipv4.ip_forward', value: '1' }],
    routes: [{ family: 4, dst: '10.9.0.0/16', type: 'unreachable', protocol: TWINE_RT_PROTO }],
    defaultRoutes: [],
    table: { chains: BASE_CHAINS.map((b) => ({ name: b.name, base: { type: b.type, hook: b.hook, prio: b.prio }, rules: [makeRule(b.name, [{ accept: null }])] })) },
    hostRoutes: [],
  };
}

for (const fresh of [false, true]) {
  test(`${fresh ? 'fresh' : 'observed'} transaction: every step, rollback included, goes through the handle`, async () => {
    const { a, targets } = recorder({ nftFails: true });
    await assert.rejects(applyPlan(a, plan(), { fresh }), (e: unknown) => e instanceof TransactionError && e.step === 'nft');
    const ops = targets.map(([op]) => op);
    // observe (observed path), the netlink batch, the nft batch, and the rollback's reads and writes
    assert.ok(ops.includes('batch') && ops.includes('nft apply') && ops.includes('routeList') && ops.includes('sysctlSet'), ops.join(','));
    for (const [op, ns] of targets) assert.deepEqual(ns, HANDLE, op);
  });

  test(`${fresh ? 'fresh' : 'observed'} transaction that commits uses only the handle`, async () => {
    const { a, targets } = recorder({ nftFails: false });
    const r = await applyPlan(a, plan(), { fresh });
    assert.equal(r.noop, false);
    assert.ok(targets.length >= 2);
    for (const [op, ns] of targets) assert.deepEqual(ns, HANDLE, op);
  });
}
