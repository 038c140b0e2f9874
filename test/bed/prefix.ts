// Test prefixes for traffic tests: a /24 (or IPv6 /64) that nothing on this
// machine uses or routes, and blackhole routes for it on the host, so that a
// packet that leaks past a test's gateway dies on the host instead of leaving
// the machine (ARCHITECTURE.md, "The test bed"). Blackholes carry TEST_RT_PROTO and are recorded
// with their owner pid, so a killed run's leftovers are found and removed.

import { isIPv4 } from 'node:net';
import { parseJson, run, runAllowFail } from './exec.js';
import { forgetOwner, ownerAlive, recordedOwner, recordOwner } from './owner.js';

/** rtm_protocol of the test bed's blackhole routes on the host (Twine's is 74). */
export const TEST_RT_PROTO = '73';

function v4ToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

/** Whether two IPv4 CIDRs share an address. */
function overlaps4(a: string, b: string): boolean {
  const [aip = '', alen = '32'] = a.split('/');
  const [bip = '', blen = '32'] = b.split('/');
  const len = Math.min(Number(alen), Number(blen));
  if (len === 0) return true;
  const mask = len === 32 ? 0xffffffff : ~(0xffffffff >>> len) >>> 0;
  return ((v4ToInt(aip) & mask) >>> 0) === ((v4ToInt(bip) & mask) >>> 0);
}

/** Every IPv4 prefix the host routes (any table, default routes aside) or has addresses in. */
async function hostPrefixes4(): Promise<string[]> {
  const routes = parseJson<Array<{ dst: string }>>(await run('ip', ['-j', '-4', 'route', 'show', 'table', 'all']));
  const addrs = parseJson<Array<{ addr_info: Array<{ local: string; prefixlen: number }> }>>(await run('ip', ['-j', '-4', 'addr', 'show']));
  const out: string[] = [];
  for (const r of routes) {
    if (r.dst === 'default') continue;
    const [a = ''] = r.dst.split('/');
    if (isIPv4(a)) out.push(r.dst.includes('/') ? r.dst : `${r.dst}/32`);
  }
  for (const a of addrs) for (const i of a.addr_info) out.push(`${i.local}/${i.prefixlen}`);
  return out;
}

/**
 * `count` distinct /24s under 10.<second>.0.0/16 that overlap nothing the host
 * routes or holds, chosen from this process's pid (so concurrent runs differ).
 * Returns the first three octets of each, e.g. "10.97.41".
 */
export async function unusedPrefixes24(second: number, count: number): Promise<string[]> {
  const used = await hostPrefixes4();
  const out: string[] = [];
  for (let i = 0; i < 256 && out.length < count; i++) {
    const third = (process.pid * 11 + i * 37) % 256;
    const base = `10.${second}.${third}`;
    if (out.includes(base)) continue;
    if (!used.some((u) => overlaps4(u, `${base}.0/24`))) out.push(base);
  }
  if (out.length < count) throw new Error(`no ${count} unused /24s under 10.${second}.0.0/16 on this machine`);
  return out;
}

/** ip route add blackhole <cidr> on the host (root namespace), marked as the test bed's. */
export async function hostBlackhole(cidr: string): Promise<void> {
  const fam = cidr.includes(':') ? '-6' : '-4';
  await runAllowFail('ip', [fam, 'route', 'del', 'blackhole', cidr, 'proto', TEST_RT_PROTO]);
  recordOwner('blackhole', ownerName(cidr));
  await run('ip', [fam, 'route', 'add', 'blackhole', cidr, 'proto', TEST_RT_PROTO]);
}

export async function hostBlackholeDel(cidr: string): Promise<void> {
  await runAllowFail('ip', [cidr.includes(':') ? '-6' : '-4', 'route', 'del', 'blackhole', cidr, 'proto', TEST_RT_PROTO]);
  forgetOwner('blackhole', ownerName(cidr));
}

/** The host blackholes a test file holds: added before any packet is sent, all removed at its end. */
export class HostBlackholes {
  private readonly held: string[] = [];

  async add(...cidrs: string[]): Promise<void> {
    for (const p of cidrs) {
      await hostBlackhole(p);
      this.held.push(p);
    }
  }

  async removeAll(): Promise<void> {
    for (const p of this.held.splice(0)) await hostBlackholeDel(p);
  }
}

/**
 * Throws unless no IPv6 route on the machine (any table) mentions any of
 * `starts` (address beginnings such as "fd74:1a2b:"): the test's prefixes are unused.
 */
export async function assertUnrouted6(starts: readonly string[]): Promise<void> {
  const used = await run('ip', ['-6', 'route', 'show', 'table', 'all']);
  for (const p of starts) if (used.includes(p)) throw new Error(`${p}: already routed on this machine`);
}

function ownerName(cidr: string): string {
  return cidr.replace(/\//g, '_');
}

/**
 * The test bed's blackholes whose recorded owner is gone: removed. One with no
 * record (made before blackholes were recorded) is kept: it may guard a live run.
 */
export async function cleanupStaleBlackholes(): Promise<string[]> {
  const out: string[] = [];
  for (const fam of ['-4', '-6']) {
    const r = await runAllowFail('ip', ['-j', fam, 'route', 'show', 'proto', TEST_RT_PROTO]);
    if (r.exitCode !== 0) continue;
    for (const { dst, type } of parseJson<Array<{ dst: string; type?: string }>>(r.stdout)) {
      if (type !== 'blackhole') continue;
      const owner = recordedOwner('blackhole', ownerName(dst));
      if (owner === undefined || ownerAlive(owner)) continue;
      await hostBlackholeDel(dst);
      out.push(dst);
    }
  }
  return out;
}
