// The native netns backend against real namespaces: every operation read
// back with iproute2 or /proc, IPv4 and IPv6, plus bad input. Needs root.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readlinkSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NetlinkError } from '../../src/errors.js';
import { nativeBackend as nb } from '../../src/netns/backend.js';
import { loadAddon } from '../../src/netns/addon.js';
import { TWINE_RT_PROTO, type NsTarget } from '../../src/netns/types.js';
import { deleteNetnsWithPrefix, threadNamespaces } from '../bed/netns.js';

const PREFIX = 'twt-nl-';
const NS = `${PREFIX}a`;
const T: NsTarget = { path: `/var/run/netns/${NS}` };
const ROOT_SYSCTLS = ['net/ipv4/ip_forward', 'net/ipv6/conf/all/forwarding', 'net/ipv4/conf/all/route_localnet'];

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}
function ipj(ns: string, args: string[]): Record<string, unknown>[] {
  return JSON.parse(sh('ip', ['-n', ns, '-j', '-d', ...args]) || '[]') as Record<string, unknown>[];
}
function nsCat(ns: string, key: string): string {
  return sh('ip', ['netns', 'exec', ns, 'cat', `/proc/sys/${key}`]).trim();
}
const cleanup = (): void => deleteNetnsWithPrefix(PREFIX);
// Other test files run in parallel (Docker networks come and go), so the
// root namespace is compared on what this file could have touched: every
// destination it writes, Twine's protocol, the default route and the sysctls.
const MY_DSTS = new Set(['default', '10.5.0.0/24', '10.6.0.0/24', '10.6.1.0/24', '10.6.2.0/24', '10.8.0.0/16', '10.9.0.0/24',
  'fd99::/48', 'fd98::1', 'fd66:1::/32', 'fd66:2::/32', 'fd66:3::/32', '10.1.0.0/16']);
function rootSnapshot(): string {
  const routes = [[], ['-6']].flatMap((v) =>
    (JSON.parse(sh('ip', ['-j', '-d', ...v, 'route', 'show', 'table', 'all'])) as Record<string, unknown>[]).filter(
      (r) => MY_DSTS.has(String(r.dst)) || String(r.protocol) === String(TWINE_RT_PROTO),
    ),
  );
  return JSON.stringify([routes, ROOT_SYSCTLS.map((k) => readFileSync(`/proc/sys/${k}`, 'utf8'))]);
}
/** Every thread's network namespace, as /proc/self/task/<tid>/ns/net links. */
async function rejects(p: Promise<unknown>, code: string | string[]): Promise<NetlinkError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof NetlinkError, `expected NetlinkError, got ${String(err)}`);
    const codes = Array.isArray(code) ? code : [code];
    assert.ok(codes.includes(err.code), `code ${err.code} (${err.message}) not in ${codes.join(',')}`);
    return err;
  }
  assert.fail('expected a rejection');
}

const ownNs = readlinkSync('/proc/self/ns/net');
let rootBefore = '';

describe('native netns backend', () => {
  before(() => {
    cleanup();
    rootBefore = rootSnapshot();
    sh('ip', ['netns', 'add', NS]);
    const cmds = [
      ['link', 'set', 'lo', 'up'],
      ['link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1'],
      ['link', 'set', 'd0', 'up'],
      ['link', 'set', 'd1', 'up'],
      ['addr', 'add', '10.77.0.1/24', 'dev', 'd0'],
      ['addr', 'add', 'fd77::1/64', 'dev', 'd0', 'nodad'],
    ];
    for (const c of cmds) sh('ip', ['-n', NS, ...c]);
  });

  after(() => {
    cleanup();
    assert.equal(rootSnapshot(), rootBefore, "the machine's own routes and sysctls changed");
    assert.deepEqual(new Set(threadNamespaces()), new Set([ownNs]));
  });

  it('linkList matches ip link', async () => {
    const links = await nb.linkList(T);
    const ip = ipj(NS, ['link']);
    assert.deepEqual(links.map((l) => l.name).sort(), ip.map((l) => l.ifname as string).sort());
    for (const l of ip) {
      const mine = links.find((x) => x.index === l.ifindex);
      assert.ok(mine, `link ${String(l.ifname)}`);
      assert.equal(mine.mtu, l.mtu);
      assert.equal(mine.mac, l.address);
      assert.equal(mine.up, (l.flags as string[]).includes('UP'));
    }
    assert.equal(links.find((l) => l.name === 'd0')?.kind, 'veth');
  });

  it('addrList matches ip addr, IPv4 and IPv6', async () => {
    const addrs = await nb.addrList(T);
    const ip = ipj(NS, ['addr']).flatMap((l) =>
      (l.addr_info as { family: string; local: string; prefixlen: number }[]).map((a) => ({
        ifindex: l.ifindex as number,
        ifname: l.ifname as string,
        family: a.family === 'inet' ? 4 : 6,
        address: a.local,
        prefixlen: a.prefixlen,
      })),
    );
    const key = (a: { ifname: string; address: string }) => `${a.ifname} ${a.address}`;
    assert.deepEqual(addrs.map((a) => ({ ...a })).sort((x, y) => key(x).localeCompare(key(y))),
      ip.sort((x, y) => key(x).localeCompare(key(y))));
    assert.ok(addrs.some((a) => a.family === 6 && a.address === 'fd77::1' && a.prefixlen === 64));
    assert.ok(addrs.some((a) => a.family === 4 && a.address === '10.77.0.1' && a.prefixlen === 24));
  });

  it('routeAdd/routeReplace/routeDel, IPv4 via a gateway', async () => {
    const r = { family: 4, dst: '10.5.0.0/24', type: 'unicast', gateway: '10.77.0.2', dev: 'd0', metric: 7, protocol: TWINE_RT_PROTO } as const;
    await nb.routeAdd(T, r);
    let ip = ipj(NS, ['route', 'show', '10.5.0.0/24']);
    assert.equal(ip.length, 1);
    assert.deepEqual([ip[0]?.gateway, ip[0]?.dev, ip[0]?.metric, String(ip[0]?.protocol)], ['10.77.0.2', 'd0', 7, '74']);
    await rejects(nb.routeAdd(T, r), 'EEXIST');
    await nb.routeReplace(T, { ...r, gateway: '10.77.0.3' });
    ip = ipj(NS, ['route', 'show', '10.5.0.0/24']);
    assert.equal(ip.length, 1);
    assert.equal(ip[0]?.gateway, '10.77.0.3');
    const listed = await nb.routeList(T, { protocol: TWINE_RT_PROTO });
    assert.deepEqual(listed, [{ ...r, gateway: '10.77.0.3', table: 254, scope: 0 }]);
    // A delete names the route exactly: the old gateway no longer matches.
    await rejects(nb.routeDel(T, r), 'ESRCH');
    await nb.routeDel(T, { ...r, gateway: '10.77.0.3' });
    assert.deepEqual(ipj(NS, ['route', 'show', '10.5.0.0/24']), []);
  });

  it('IPv6 routes: gateway, on-link, host route', async () => {
    await nb.routeReplace(T, { family: 6, dst: 'fd99::/48', type: 'unicast', gateway: 'fd77::2', protocol: TWINE_RT_PROTO });
    await nb.routeReplace(T, { family: 6, dst: 'fd98::1', type: 'unicast', dev: 'd0', protocol: TWINE_RT_PROTO, metric: 50 });
    const ip = ipj(NS, ['-6', 'route', 'show', 'proto', '74']);
    const byDst = new Map(ip.map((r) => [r.dst as string, r]));
    assert.equal(byDst.get('fd99::/48')?.gateway, 'fd77::2');
    assert.equal(byDst.get('fd99::/48')?.dev, 'd0');
    assert.equal(byDst.get('fd98::1')?.dev, 'd0');
    assert.equal(byDst.get('fd98::1')?.metric, 50);
    const listed = await nb.routeList(T, { family: 6, protocol: TWINE_RT_PROTO });
    assert.deepEqual(listed.map((r) => r.dst).sort(), ['fd98::1/128', 'fd99::/48']);
    assert.ok(listed.every((r) => r.family === 6 && r.table === 254));
    for (const r of listed) await nb.routeDel(T, r);
    assert.deepEqual(ipj(NS, ['-6', 'route', 'show', 'proto', '74']), []);
  });

  it('unreachable, blackhole and prohibit routes, default route, table > 255', async () => {
    const types = ['unreachable', 'blackhole', 'prohibit'] as const;
    for (const [i, type] of types.entries()) {
      await nb.routeReplace(T, { family: 4, dst: `10.6.${i}.0/24`, type, protocol: TWINE_RT_PROTO });
      await nb.routeReplace(T, { family: 6, dst: `fd66:${i + 1}::/32`, type, protocol: TWINE_RT_PROTO });
    }
    await nb.routeReplace(T, { family: 4, dst: '0.0.0.0/0', type: 'unicast', gateway: '10.77.0.254', protocol: TWINE_RT_PROTO });
    await nb.routeReplace(T, { family: 4, dst: '10.8.0.0/16', type: 'unreachable', table: 1000, protocol: TWINE_RT_PROTO });
    const v4 = new Map(ipj(NS, ['route', 'show', 'proto', '74']).map((r) => [r.dst as string, r]));
    const v6 = new Map(ipj(NS, ['-6', 'route', 'show', 'proto', '74']).map((r) => [r.dst as string, r]));
    for (const [i, type] of types.entries()) {
      assert.equal(v4.get(`10.6.${i}.0/24`)?.type, type);
      assert.equal(v6.get(`fd66:${i + 1}::/32`)?.type, type);
    }
    assert.equal(v4.get('default')?.gateway, '10.77.0.254');
    const t1000 = ipj(NS, ['route', 'show', 'table', '1000']);
    assert.deepEqual(t1000.map((r) => [r.type, r.dst]), [['unreachable', '10.8.0.0/16']]);
    const listed1000 = await nb.routeList(T, { table: 1000 });
    assert.deepEqual(listed1000, [{ family: 4, dst: '10.8.0.0/16', type: 'unreachable', table: 1000, protocol: 74, scope: 0 }]);
    const all = await nb.routeList(T, { table: 0, protocol: TWINE_RT_PROTO });
    assert.equal(all.length, 8);
    for (const r of all) await nb.routeDel(T, r);
    assert.deepEqual(ipj(NS, ['route', 'show', 'table', 'all', 'proto', '74']), []);
    assert.deepEqual(ipj(NS, ['-6', 'route', 'show', 'table', 'all', 'proto', '74']), []);
  });

  it('sysctlSet/sysctlGet in the namespace, IPv4 and IPv6', async () => {
    for (const [key, file] of [
      ['net.ipv4.ip_forward', 'net/ipv4/ip_forward'],
      ['net.ipv6.conf.all.forwarding', 'net/ipv6/conf/all/forwarding'],
      ['net.ipv4.conf.all.route_localnet', 'net/ipv4/conf/all/route_localnet'],
      ['net.ipv4.conf.d0.rp_filter', 'net/ipv4/conf/d0/rp_filter'],
    ]) {
      await nb.sysctlSet(T, key!, '1');
      assert.equal(nsCat(NS, file!), '1');
      assert.equal(await nb.sysctlGet(T, key!), '1');
      await nb.sysctlSet(T, key!, '0');
      assert.equal(nsCat(NS, file!), '0');
      assert.equal(await nb.sysctlGet(T, key!), '0');
    }
    await rejects(nb.sysctlGet(T, 'net.ipv4.no_such_key'), 'ENOENT');
    await rejects(nb.sysctlSet(T, 'net.ipv4.ip_forward', 'banana'), 'EINVAL');
  });

  it('batch: steps run in order in one entry, stop at the first failure, and report what ran', async () => {
    const key = 'net.ipv4.conf.all.route_localnet';
    sh('ip', ['netns', 'exec', NS, 'sysctl', '-qw', `${key}=0`]);
    const route = { family: 4 as const, dst: '10.9.0.0/24', type: 'unicast' as const, gateway: '10.77.0.9', dev: 'd0', protocol: TWINE_RT_PROTO };
    const ok = await nb.batch(T, [
      { op: 'sysctlGet', key },
      { op: 'sysctlSet', key, value: '1' },
      { op: 'sysctlGet', key },
      { op: 'routeReplace', route },
      { op: 'routeList', filter: { protocol: TWINE_RT_PROTO } },
    ]);
    assert.equal(ok.failedAt, undefined);
    assert.deepEqual(ok.results.slice(0, 4), ['0', undefined, '1', undefined], 'the read before the write sees the old value');
    assert.deepEqual((ok.results[4] as { dst: string }[]).map((r) => r.dst), ['10.9.0.0/24']);
    assert.equal(nsCat(NS, 'net/ipv4/conf/all/route_localnet'), '1');

    // The second route's gateway is on no interface: the kernel refuses it, the rest does not run.
    const bad = await nb.batch(T, [
      { op: 'routeDel', route },
      { op: 'routeReplace', route: { ...route, dst: '10.6.2.0/24', gateway: '10.99.0.1', dev: undefined } },
      { op: 'sysctlSet', key, value: '0' },
    ]);
    assert.equal(bad.failedAt, 1);
    assert.equal(bad.results.length, 1);
    assert.ok(bad.error instanceof NetlinkError, String(bad.error));
    assert.equal(bad.error.op, 'routeReplace');
    assert.equal(bad.error.code, 'ENETUNREACH');
    assert.deepEqual(ipj(NS, ['route', 'show', 'proto', String(TWINE_RT_PROTO)]), [], 'the step before the failure ran');
    assert.equal(nsCat(NS, 'net/ipv4/conf/all/route_localnet'), '1', 'the step after the failure did not');
    sh('ip', ['netns', 'exec', NS, 'sysctl', '-qw', `${key}=0`]);

    await assert.rejects(nb.batch(T, [{ op: 'sysctlGet', key: 'kernel.hostname' }]), /sysctl/);
    await rejects(nb.batch({ path: '/var/run/netns/twt-nl-missing' }, [{ op: 'sysctlGet', key }]), 'ENOENT');
  });

  it('targets a namespace by pid', async () => {
    const child: ChildProcess = spawn('ip', ['netns', 'exec', NS, 'sleep', '60'], { stdio: 'ignore' });
    try {
      // Wait until the child has entered the namespace (exec replaced ip by sleep).
      const pid = child.pid!;
      for (let i = 0; i < 100 && sh('ip', ['netns', 'identify', String(pid)]).trim() !== NS; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      const P: NsTarget = { pid };
      await nb.sysctlSet(P, 'net.ipv4.ip_forward', '1');
      assert.equal(nsCat(NS, 'net/ipv4/ip_forward'), '1');
      await nb.routeReplace(P, { family: 4, dst: '10.9.0.0/24', type: 'blackhole', protocol: TWINE_RT_PROTO });
      assert.deepEqual(ipj(NS, ['route', 'show', 'proto', '74']).map((r) => r.dst), ['10.9.0.0/24']);
      assert.ok((await nb.linkList(P)).some((l) => l.name === 'd0'));
      await nb.routeDel(P, { family: 4, dst: '10.9.0.0/24', type: 'blackhole' });
      await nb.sysctlSet(P, 'net.ipv4.ip_forward', '0');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('rejects bad input with typed errors, before or from the kernel', async () => {
    const off = { family: 4, type: 'unicast' } as const;
    await rejects(nb.routeAdd(T, { ...off, dst: '10.0.0.0/33' }), 'EINVAL');
    await rejects(nb.routeAdd(T, { ...off, dst: '10.0.0/24' }), 'EINVAL');
    await rejects(nb.routeAdd(T, { ...off, dst: 'fd00::/64' }), 'EINVAL');
    await rejects(nb.routeAdd(T, { ...off, dst: '10.1.0.0/16', dev: 'nope0' }), 'ENODEV');
    const unreach = await rejects(nb.routeAdd(T, { ...off, dst: '10.1.0.0/16', gateway: '10.88.0.1' }), 'ENETUNREACH');
    assert.match(unreach.kernelMessage ?? '', /gateway/i);
    assert.equal(unreach.op, 'routeAdd');
    assert.equal(unreach.ns, T.path);
    const prefix = await rejects(nb.routeAdd(T, { ...off, dst: '10.1.2.3/16', dev: 'd0' }), 'EINVAL');
    assert.match(prefix.kernelMessage ?? '', /prefix/i);

    // A pid that no longer exists.
    const dead = spawn('true');
    await new Promise((r) => dead.on('exit', r));
    await rejects(nb.linkList({ pid: dead.pid! }), ['ENOENT', 'ESRCH']);
    // A path that is not a namespace.
    const file = path.join(tmpdir(), `${PREFIX}not-a-ns`);
    writeFileSync(file, 'x');
    try {
      await rejects(nb.linkList({ path: file }), 'EINVAL');
    } finally {
      rmSync(file);
    }
    await rejects(nb.linkList({ path: '/var/run/netns/twt-nl-missing' }), 'ENOENT');
    await rejects(nb.linkList({ path: 'relative/path' }), 'EINVAL');
    // sysctl keys outside net.* or escaping /proc/sys/net.
    for (const key of ['net.ipv4..ip_forward', 'net.ipv4/../../kernel/hostname', 'kernel.hostname', '/proc/sys/net/x', 'net.']) {
      await rejects(nb.sysctlGet(T, key), 'EINVAL');
    }
    // The addon checks keys itself too, whoever calls it.
    assert.throws(() => void loadAddon().sysctlGet(T, 'net.ipv4..x'), (e: Error & { code?: string }) => e.code === 'EINVAL');
    assert.throws(() => void loadAddon().routeAdd(T, { family: 4, dst: '300.1.1.1/8', type: 'unicast' }),
      (e: Error & { code?: string }) => e.code === 'EINVAL');
  });

  it('the addon refuses bad arguments synchronously: a TypeError with code EINVAL, stage arguments, nothing queued', () => {
    const addon = loadAddon() as unknown as Record<string, (...args: unknown[]) => unknown>;
    const route = { family: 4, dst: '10.9.0.0/24', type: 'unicast' };
    const bad: Array<[string, unknown[], RegExp]> = [
      ['routeAdd', [T, { ...route, dst: '10.9.0.0\u0000/24' }], /dst contains a NUL byte/],
      ['routeAdd', [T, { ...route, dst: '1'.repeat(100) }], /dst is longer than 64 bytes/],
      ['routeAdd', [T, { ...route, dst: '10.9.0.0/ 24' }], /bad prefix length/],
      ['routeAdd', [T, { ...route, family: 4.5 }], /family must be 4 or 6/],
      ['routeAdd', [T, { ...route, gateway: 7 }], /gateway must be a string/],
      ['routeAdd', [T, { ...route, metric: 1.5 }], /metric must be an integer/],
      ['routeAdd', [T, { ...route, dev: 'x'.repeat(1000) }], /dev is longer than 255 bytes/],
      ['linkList', [{ path: `/${'x'.repeat(5000)}` }], /path is longer than 4095 bytes/],
      ['linkList', [{ path: '/var/run/netns/a\u0000b' }], /path contains a NUL byte/],
      ['linkList', [{ fd: -1 }], /fd must be an integer/],
      ['linkList', [{ pid: 0 }], /pid must be a positive integer/],
      ['linkList', [{ pid: 1, path: '/x' }], /target must be/],
      ['sysctlGet', [T, 'net.'.repeat(100)], /sysctl key is too long/],
      ['sysctlSet', [T, 'net.ipv4.ip_forward', '1\n2'], /one non-empty line/],
      ['sysctlSet', [T, 'net.ipv4.ip_forward', 'x'.repeat(2000)], /value is longer than 1024 bytes/],
      ['batch', [T, {}], /steps must be an array/],
      ['batch', [T, [{ op: 'nope' }]], /unknown op "nope"/],
      ['batch', [T, [{ op: 'conntrackDelete', filter: { family: 4, origDport: [9, 1] } }]], /origDport ends before it starts/],
      ['batch', [T, [{ op: 'conntrackDelete', filter: { family: 4, proto: 'x'.repeat(1e6) } }]], /proto must be tcp or udp/],
      ['notifyOpen', [T, Array.from({ length: 32 }, () => 1)], /at most 31 entries/],
      ['notifyOpen', [T, []], /must not be empty/],
    ];
    if (addon.nftRun) bad.push(['nftRun', [T, 'list ruleset\u0000'], /command contains a NUL byte/]);
    for (const [op, args, message] of bad) {
      assert.throws(() => addon[op]!(...args), (e: Error & { code?: string; stage?: string; op?: string }) => {
        assert.ok(e instanceof TypeError, `${op}: ${e.message} is a TypeError`);
        assert.equal(e.code, 'EINVAL');
        assert.equal(e.stage, 'arguments');
        assert.match(e.message, message);
        return true;
      });
    }
  });

  it('leaves every thread of the process in its own namespace', () => {
    const seen = threadNamespaces();
    assert.ok(seen.length > 1);
    assert.deepEqual(new Set(seen), new Set([ownNs]));
    assert.equal(loadAddon().stats().retired, 0);
  });
});
