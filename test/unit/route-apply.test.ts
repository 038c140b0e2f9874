import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyRoutesBestEffort } from '../../src/engine/route-apply.js';
import type { NetnsBackend, Route } from '../../src/netns/types.js';

const route = (dst: string): Route => ({ family: 4, dst, type: 'unicast', gateway: '172.30.3.2', protocol: 74 });

test('best-effort routes: one that fails does not stop the rest; each failure names its route and operation', async () => {
  const calls: string[] = [];
  const netns = {
    routeReplace: async (_ns: unknown, r: Route) => {
      calls.push(`replace ${r.dst}`);
      if (r.dst === '10.1.0.0/16') throw new Error('ENETUNREACH');
    },
    routeDel: async (_ns: unknown, r: Route) => {
      calls.push(`del ${r.dst}`);
      if (r.dst === '10.9.0.0/16') throw new Error('ESRCH');
    },
  } as unknown as NetnsBackend;
  const out = await applyRoutesBestEffort(netns, { path: '/fake' }, {
    replace: [route('10.1.0.0/16'), route('10.2.0.0/16')],
    del: [route('10.9.0.0/16'), route('10.8.0.0/16')],
  });
  assert.deepEqual(calls, ['replace 10.1.0.0/16', 'replace 10.2.0.0/16', 'del 10.9.0.0/16', 'del 10.8.0.0/16']);
  assert.deepEqual(out.replaced.map((r) => r.dst), ['10.2.0.0/16']);
  assert.deepEqual(out.deleted.map((r) => r.dst), ['10.8.0.0/16']);
  assert.deepEqual(out.failures.map((f) => [f.op, f.route.dst, (f.error as Error).message]), [
    ['replace', '10.1.0.0/16', 'ENETUNREACH'],
    ['del', '10.9.0.0/16', 'ESRCH'],
  ]);
});
