// The forwarding sysctls are read over rtnetlink's netconf (native/sysctl.h
// SysctlRead), not /proc/sys: each value written through /proc/sys in a test
// namespace reads back the same through the batch's sysctlGet step and the
// standalone sysctlGet, the addon's counter shows netconf answered exactly
// those reads, and the other keys still come from /proc/sys.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { nativeBackend as nb } from '../../src/netns/backend.js';
import { loadAddon } from '../../src/netns/addon.js';
import { NetlinkError } from '../../src/errors.js';
import type { NsStep, NsTarget } from '../../src/netns/types.js';

const NS = `twt-nc-${process.pid}`;
const T: NsTarget = { path: `/var/run/netns/${NS}` };
const FORWARDING = ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding'] as const;
const LOCALNET = 'net.ipv4.conf.all.route_localnet';

const sysctlW = (key: string, value: string): void => {
  execFileSync('ip', ['netns', 'exec', NS, 'sysctl', '-qw', `${key}=${value}`]);
};
const procRead = (key: string): string =>
  execFileSync('ip', ['netns', 'exec', NS, 'cat', `/proc/sys/${key.replaceAll('.', '/')}`], { encoding: 'utf8' }).trim();
const netconfReads = (): number => loadAddon().stats().sysctlNetconfReads;

describe('forwarding sysctls over netconf', () => {
  before(() => {
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  });
  after(() => {
    execFileSync('ip', ['netns', 'del', NS]);
  });

  it('the batch step reads back every value written through /proc/sys, from netconf', async () => {
    // -1 and 2: the kernel keeps any int here, and /proc/sys prints it signed.
    for (const value of ['1', '0', '2', '-1', '0']) {
      for (const key of FORWARDING) sysctlW(key, value);
      sysctlW(LOCALNET, value === '0' ? '0' : '1');
      for (const key of [...FORWARDING, LOCALNET]) assert.equal(procRead(key), key === LOCALNET ? (value === '0' ? '0' : '1') : value);

      const before = netconfReads();
      // Shaped as the observe's batch: a dump on the socket first, then the sysctl reads.
      const steps: NsStep[] = [
        { op: 'routeList', filter: { table: 0 } },
        ...[...FORWARDING, LOCALNET, 'net.ipv4.conf.all.forwarding'].map((key): NsStep => ({ op: 'sysctlGet', key })),
      ];
      const out = await nb.batch(T, steps);
      assert.equal(out.failedAt, undefined, String(out.error));
      assert.deepEqual(out.results.slice(1), [value, value, procRead(LOCALNET), value], `after writing ${value}`);
      assert.equal(netconfReads() - before, 3, 'the three forwarding reads came from netconf, route_localnet did not');
    }
  });

  it('a sysctl step first opens the socket the later netlink steps use', async () => {
    sysctlW('net.ipv4.ip_forward', '1');
    const before = netconfReads();
    const out = await nb.batch(T, [
      { op: 'sysctlGet', key: 'net.ipv4.ip_forward' },
      { op: 'routeList', filter: { table: 0 } },
      { op: 'sysctlGet', key: 'net.ipv6.conf.all.forwarding' },
    ]);
    assert.equal(out.failedAt, undefined, String(out.error));
    assert.equal(out.results[0], '1');
    assert.ok(Array.isArray(out.results[1]));
    assert.equal(out.results[2], procRead('net.ipv6.conf.all.forwarding'));
    assert.equal(netconfReads() - before, 2);
  });

  it('the standalone sysctlGet reads the same values from netconf', async () => {
    for (const value of ['1', '0']) {
      for (const key of FORWARDING) sysctlW(key, value);
      const before = netconfReads();
      for (const key of FORWARDING) assert.equal(await nb.sysctlGet(T, key), value);
      assert.equal(await nb.sysctlGet(T, LOCALNET), procRead(LOCALNET));
      assert.equal(netconfReads() - before, 2);
    }
  });

  it("other keys keep /proc/sys's values and errors", async () => {
    sysctlW('net.ipv4.conf.lo.forwarding', '0');
    const before = netconfReads();
    assert.equal(await nb.sysctlGet(T, 'net.ipv4.conf.lo.forwarding'), '0');
    const err = await nb.sysctlGet(T, 'net.ipv4.no_such_key').then(
      () => assert.fail('a missing key resolved'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof NetlinkError && err.code === 'ENOENT', String(err));
    assert.equal(netconfReads(), before);
  });
});
