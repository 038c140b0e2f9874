// Route dumps are filtered in the kernel (NETLINK_GET_STRICT_CHK with table
// and protocol): with 100k routes in another table, listing Twine's routes
// returns only them and the daemon's memory does not grow with the other
// table (unfiltered, the same listing raised the high-water RSS by ~9.5 MB
// here, holding every message before filtering). Needs root.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { nativeBackend as nb } from '../../src/netns/backend.js';
import { TWINE_RT_PROTO, type NsTarget } from '../../src/netns/types.js';

// Named ...-<pid> so that a concurrent run's leftover cleanup sees it is in use.
const NS = `twt-rdf-${process.pid}`;
const target: NsTarget = { path: `/var/run/netns/${NS}` };
const OTHER_ROUTES = 100_000;

describe('route dump filtered in the kernel', () => {
  before(() => {
    execFileSync('ip', ['netns', 'add', NS]);
    const lines: string[] = [];
    for (let i = 0; i < OTHER_ROUTES; i++) lines.push(`route add blackhole 10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32 table 100 proto 4`);
    lines.push(`route add blackhole 10.200.0.0/24 proto ${TWINE_RT_PROTO}`);
    lines.push(`route add blackhole 10.200.1.0/24 proto ${TWINE_RT_PROTO}`);
    lines.push('route add blackhole 10.201.0.0/24 proto 4');
    lines.push(`route add blackhole 10.202.0.0/24 table 100 proto ${TWINE_RT_PROTO}`);
    execFileSync('ip', ['-n', NS, '-batch', '-'], { input: lines.join('\n') + '\n' });
  });
  after(() => execFileSync('ip', ['netns', 'del', NS]));

  it("lists only Twine's routes of the main table, without holding the other table in memory", async () => {
    const before = process.resourceUsage().maxRSS;
    const routes = await nb.routeList(target, { protocol: TWINE_RT_PROTO });
    const grewKb = process.resourceUsage().maxRSS - before;
    assert.deepEqual(routes.map((r) => r.dst).sort(), ['10.200.0.0/24', '10.200.1.0/24']);
    assert.ok(grewKb < 4096, `high-water RSS grew by ${grewKb} kB`);
  });

  it('the other table, by table and protocol, and a table that does not exist', async () => {
    const twine100 = await nb.routeList(target, { table: 100, protocol: TWINE_RT_PROTO });
    assert.deepEqual(twine100.map((r) => r.dst), ['10.202.0.0/24']);
    const main = await nb.routeList(target, { family: 4 });
    assert.deepEqual(main.map((r) => r.dst).sort(), ['10.200.0.0/24', '10.200.1.0/24', '10.201.0.0/24']);
    assert.deepEqual(await nb.routeList(target, { family: 4, table: 4321 }), []);
    assert.deepEqual(await nb.routeList(target, { family: 6, table: 4321 }), []);
    assert.deepEqual(await nb.routeList(target, { table: 4321, protocol: TWINE_RT_PROTO }), []);
  });
});
