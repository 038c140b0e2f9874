// What reading a hostile namespace costs: a process in it with NET_ADMIN can
// fill it with links, routes of Twine's protocol or rules in Twine's table.
// Twine's reads take at most ReadLimits (native/rtnl.h; set as the daemon
// sets them for the default label limits: 65536 messages of a dump, 12288 of
// a read of its table, 4 KiB each) and fail with code ELIMIT past it,
// handling each message as it arrives instead of holding them all; route and
// address reads name links by index instead of dumping every link first.
// Each case prints what it took (elapsed ms, growth of the process's
// high-water RSS). Needs root.
//
// TWINE_LIMIT_LINKS sets how many links the link case makes (default 10000:
// macvlans on a veth, as this kernel has no dummy links and veth pairs take
// ~8 ms each; macvlans start at ~0.5 ms each but slow down past ~20000, so
// 30000 took 297 s here, 100000 over 15 min). A link dump is refused only
// past 65536 messages or 256 MiB.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { nativeBackend as nb, setReadLimits } from '../../src/netns/backend.js';
import { DEFAULT_LIMITS } from '../../src/labels/limits.js';
import { loadAddon } from '../../src/netns/addon.js';
import { TWINE_RT_PROTO, type NsStep, type NsTarget } from '../../src/netns/types.js';

const NS = `twt-rlim-${process.pid}`;
const target: NsTarget = { path: `/var/run/netns/${NS}` };
const LINKS = Number(process.env.TWINE_LIMIT_LINKS ?? 10_000);
const OVER = 100_000;

/** The reads of a transaction's observe (engine/transaction.ts). */
const OBSERVE: NsStep[] = [
  { op: 'routeList', filter: { protocol: TWINE_RT_PROTO, table: 0 } },
  { op: 'ruleList', filter: { protocol: TWINE_RT_PROTO } },
  { op: 'nftTableRead', table: { family: 'inet', name: 'twine' } },
];

function batchFile(lines: string[]): void {
  for (let i = 0; i < lines.length; i += 20_000) execFileSync('ip', ['-n', NS, '-batch', '-'], { input: lines.slice(i, i + 20_000).join('\n') + '\n', maxBuffer: 1 << 26 });
}

async function measured<T>(what: string, run: () => Promise<T>): Promise<{ value: T; ms: number; rssKb: number }> {
  const rss0 = process.resourceUsage().maxRSS;
  const t0 = performance.now();
  const value = await run();
  const ms = performance.now() - t0;
  const rssKb = process.resourceUsage().maxRSS - rss0;
  console.log(`# ${what}: ${ms.toFixed(0)} ms, high-water RSS +${rssKb} kB`);
  return { value, ms, rssKb };
}


describe('reads of a hostile namespace are bounded', () => {
  before(() => {
    assert.deepEqual(setReadLimits(DEFAULT_LIMITS), { messages: 65536, tableMessages: 2 * DEFAULT_LIMITS.rules + 4096 });
    execFileSync('ip', ['netns', 'add', NS]);
  });
  after(() => {
    try {
      execFileSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  });

  it(`${OVER} routes of Twine's protocol: the observe is refused (ELIMIT) in bounded time and memory`, async () => {
    const lines: string[] = [];
    for (let i = 0; i < OVER; i++) lines.push(`route add blackhole 10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32 proto ${TWINE_RT_PROTO}`);
    batchFile(lines);
    const { value: out, ms, rssKb } = await measured(`observe over ${OVER} proto-${TWINE_RT_PROTO} routes`, () => nb.batch(target, OBSERVE));
    assert.equal(out.failedAt, 0);
    assert.equal((out.error as { code?: string }).code, 'ELIMIT');
    assert.match(String((out.error as Error).message), /more than one read may take/);
    assert.ok(ms < 5000, `${ms} ms`);
    assert.ok(rssKb < 64 * 1024, `RSS +${rssKb} kB`);
    execFileSync('ip', ['-n', NS, 'route', 'flush', 'proto', String(TWINE_RT_PROTO)]);
    const again = await nb.batch(target, OBSERVE);
    assert.equal(again.failedAt, undefined, 'read as usual once they are gone');
  });

  it(`${OVER} rules in Twine's table: the table read is refused (ELIMIT)`, async () => {
    const text = ['table inet twine {', ' chain TWINE_INPUT {'];
    for (let i = 0; i < OVER; i++) text.push(`  tcp dport ${1 + (i % 60000)} accept comment "x${i}"`);
    text.push(' }', '}');
    execFileSync('ip', ['netns', 'exec', NS, 'nft', '-f', '-'], { input: text.join('\n') + '\n', maxBuffer: 1 << 26 });
    const { value: out, ms, rssKb } = await measured(`table read over ${OVER} rules`, () => nb.batch(target, [OBSERVE[2]!]));
    assert.equal(out.failedAt, 0);
    assert.equal((out.error as { code?: string }).code, 'ELIMIT');
    assert.ok(ms < 2000, `${ms} ms`);
    assert.ok(rssKb < 32 * 1024, `RSS +${rssKb} kB`);
    execFileSync('ip', ['netns', 'exec', NS, 'nft', 'delete', 'table', 'inet', 'twine']);
  });

  it(`${LINKS} links: the observe does not read them; a dump of every link past the limit is refused (ELIMIT)`, async () => {
    execFileSync('ip', ['-n', NS, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up1']);
    execFileSync('ip', ['-n', NS, 'addr', 'add', '10.77.0.1/24', 'dev', 'up0']);
    execFileSync('ip', ['-n', NS, 'link', 'set', 'up0', 'up']);
    execFileSync('ip', ['-n', NS, 'route', 'add', '10.78.0.0/16', 'via', '10.77.0.2', 'proto', String(TWINE_RT_PROTO)]);
    const lines: string[] = [];
    for (let i = 0; i < LINKS; i++) lines.push(`link add m${i} link up0 type macvlan`);
    const t0 = performance.now();
    batchFile(lines);
    console.log(`# made ${LINKS} macvlan links in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const { value: out, ms, rssKb } = await measured(`observe with ${LINKS} links`, () => nb.batch(target, OBSERVE));
    assert.equal(out.failedAt, undefined, String(out.error));
    assert.deepEqual((out.results[0] as Array<{ dst: string; dev?: string }>).map((r) => `${r.dst} ${r.dev}`), ['10.78.0.0/16 up0'], 'the route names its link, looked up by index');
    assert.ok(ms < 1000, `${ms} ms`);
    assert.ok(rssKb < 16 * 1024, `RSS +${rssKb} kB`);
    const addrs = await measured(`address list with ${LINKS} links`, () => nb.addrList(target));
    assert.ok(addrs.value.some((a) => a.ifname === 'up0' && a.address === '10.77.0.1'));
    // A dump of every link is refused past the limit: here the lowest one can set (1024 messages).
    const low = loadAddon().setReadLimits(1024, 1024);
    try {
      assert.deepEqual(low, { messages: 1024, tableMessages: 1024 });
      const links = await measured(`link list with ${LINKS} links, limit 1024`, () => nb.linkList(target).then(() => undefined, (e: unknown) => e));
      assert.equal((links.value as { code?: string } | undefined)?.code, 'ELIMIT');
      assert.ok(links.ms < 2000, `${links.ms} ms`);
    } finally {
      setReadLimits(DEFAULT_LIMITS);
    }
    assert.equal((await nb.linkList(target)).length, LINKS + 3, 'under the limit: every link');
  });
});
