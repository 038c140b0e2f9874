// The NAT gateway's whitelists and the forward of a forwarded-port file: parsing,
// resolving, compiling, and what each reading of the file means.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LabelError } from '../../src/errors.js';
import { DEFAULT_PORT_FILE, containerPathProblem, parseLabels, patternCovered } from '../../src/labels/parse.js';
import { compile } from '../../src/plan/compile.js';
import { resolve } from '../../src/resolve/resolve.js';
import { staleConntrack } from '../../src/firewall/dnat.js';
import { makeRule, WHITELIST_COUNTER, type NftBatch, type NftExpr, type TableDef } from '../../src/firewall/nft.js';
import { MAX_PORT_FILE_BYTES, PortFiles, portFileReading } from '../../src/engine/port-files.js';
import type { ContainerInfo, Inventory, PortFileReading } from '../../src/docker/container.js';
import { SpecCache } from '../../src/labels/spec-cache.js';
import type { RootFileAnswer } from '../../src/netns/native.js';
import { referenceLines } from '../../src/cli/status.js';
import { createLogger } from '../../src/log.js';

function issues(labels: Record<string, string>): { key: string; reason: string }[] {
  try {
    parseLabels('gw', labels);
  } catch (e) {
    assert.ok(e instanceof LabelError);
    assert.equal(e.container, 'gw');
    return e.issues;
  }
  assert.fail('expected a LabelError');
}

const NAT = { 'twine.nat.interfaces': 'wg0,eth0' };

test('whitelist: with and without a pattern, CIDRs and references, deduplicated, sorted by pattern', () => {
  const s = parseLabels('gw', {
    ...NAT,
    'twine.nat.whitelist.eth0.to': ' 192.168.1.0/24, fd00:1::/64 ,192.168.1.0/24',
    'twine.nat.whitelist.from': 'app,10.99.0.0/16,10.1.2.3',
  });
  assert.deepEqual(s.whitelists, [
    {
      from: {
        label: 'twine.nat.whitelist.from',
        nets: [
          { kind: 'ref', name: 'app' },
          { kind: 'cidr', cidr: { family: 4, addr: '10.99.0.0', prefixLen: 16 } },
          { kind: 'cidr', cidr: { family: 4, addr: '10.1.2.3', prefixLen: 32 } },
        ],
      },
    },
    {
      iface: 'eth0',
      to: {
        label: 'twine.nat.whitelist.eth0.to',
        nets: [
          { kind: 'cidr', cidr: { family: 4, addr: '192.168.1.0', prefixLen: 24 } },
          { kind: 'cidr', cidr: { family: 6, addr: 'fd00:1::', prefixLen: 64 } },
        ],
      },
    },
  ]);
});

test('whitelist: bad networks, sides, patterns, and a gateway without nat interfaces are errors naming the label', () => {
  const bad = issues({
    ...NAT,
    'twine.nat.whitelist.eth0.to': '192.168.1.1/24,',
    'twine.nat.whitelist.from': 'no spaces allowed',
    'twine.nat.whitelist.eth0.via': '10.0.0.0/8',
    'twine.nat.whitelist.tun0.to': '10.0.0.0/8',
    'twine.nat.whitelist.eth*.from': '10.0.0.0/8',
    'twine.nat.whitelist.wg0.from': '',
  });
  const by = (k: string) => bad.filter((i) => i.key === k).map((i) => i.reason).join(' | ');
  assert.match(by('twine.nat.whitelist.eth0.to'), /host bits set/);
  assert.match(by('twine.nat.whitelist.eth0.to'), /is not an IPv4 or IPv6 CIDR|neither an IP/);
  assert.match(by('twine.nat.whitelist.from'), /neither an IP address nor a container name/);
  assert.match(by('twine.nat.whitelist.eth0.via'), /ends in \.from or \.to/);
  assert.match(by('twine.nat.whitelist.tun0.to'), /not nat interfaces/);
  assert.match(by('twine.nat.whitelist.eth*.from'), /may not contain/);
  assert.match(by('twine.nat.whitelist.wg0.from'), /missing network list/);
  const alone = issues({ 'twine.nat.whitelist.from': '10.0.0.0/8' });
  assert.match(alone[0]!.reason, /NAT gateway only/);
});

test('patternCovered: a whitelist pattern must lie within the nat patterns', () => {
  assert.ok(patternCovered('eth0', ['wg0', 'eth+']));
  assert.ok(patternCovered('wg1', ['+']));
  assert.ok(patternCovered('wg+', ['w+']));
  assert.ok(!patternCovered('wg+', ['wg0']));
  assert.ok(!patternCovered('+', ['wg+']));
  assert.ok(!patternCovered('eth0', ['wg+']));
});

test('port-file forward: default path, tcp and udp, fixed destination port; twine.nat.portfile names another', () => {
  const s = parseLabels('gw', { 'twine.nat.forward.wg0.file': 'app', 'twine.nat.forward.wg0.file/udp': 'app:6881' });
  assert.equal(s.portFile, DEFAULT_PORT_FILE);
  assert.deepEqual(
    s.forwards.map((f) => [f.label, f.iface, f.proto, f.fromFile, f.fixedDestPort ?? false, f.destPort.lo]),
    [
      ['twine.nat.forward.wg0.file', 'wg0', 'tcp', true, false, 0],
      ['twine.nat.forward.wg0.file/udp', 'wg0', 'udp', true, true, 6881],
    ],
  );
  const t = parseLabels('gw', { 'twine.nat.forward.file': 'app', 'twine.nat.portfile': '//run//vpn/./port' });
  assert.equal(t.portFile, '/run/vpn/port');
  assert.equal(t.forwards[0]!.iface, '+');
});

test('port-file forward: bad paths and spellings are errors naming the label', () => {
  const bad = issues({
    'twine.nat.forward.wg0.file': 'app:7000-7001',
    'twine.nat.forward.wg1.file': 'app',
    'twine.nat.forward.wg1.file/tcp': 'app',
    'twine.forward.file': 'app',
    'twine.nat.portfile': '/tmp/../../etc/shadow',
  });
  const by = (k: string) => bad.filter((i) => i.key === k).map((i) => i.reason).join(' | ');
  assert.match(by('twine.nat.forward.wg0.file'), /one destination port, not a range/);
  assert.match(by('twine.nat.forward.wg1.file/tcp'), /overlaps twine.nat.forward.wg1.file/);
  assert.match(by('twine.forward.file'), /spelt twine.nat.forward/);
  assert.match(by('twine.nat.portfile'), /outside the container/);
  assert.match(issues({ 'twine.nat.portfile': '/tmp/port' })[0]!.reason, /no forward uses it/);
  assert.match(containerPathProblem('tmp/port')!, /not an absolute path/);
  assert.match(containerPathProblem('/tmp/')!, /directory/);
  assert.equal(containerPathProblem('/tmp/gluetun/forwarded_port'), undefined);
});

const net = (ip: string, extra: object = {}) => ({ networkId: 'n1', networkName: 'lan', aliases: [], dnsNames: [], iface: 'eth0', ipv4: ip, ipv4PrefixLen: 24, gatewayV4: '172.30.0.1', ...extra });
const gw: ContainerInfo = {
  id: 'g'.repeat(64),
  name: 'gw',
  pid: 10,
  running: true,
  labels: {
    ...NAT,
    'twine.nat.forward.wg0.file': 'app',
    'twine.nat.forward.wg0.file/udp': 'app:6881',
    'twine.nat.forward.wg0.7000': 'app',
    'twine.nat.whitelist.from': 'app,ghost',
    'twine.nat.whitelist.eth0.to': '192.168.1.0/24,192.168.1.128/25',
  },
  networks: [net('172.30.0.2')],
} as ContainerInfo;
const app = { id: 'a'.repeat(64), name: 'app', pid: 11, running: true, labels: {}, networks: [net('172.30.0.3')] } as unknown as ContainerInfo;
const inv = (reading?: PortFileReading): Inventory => ({ containers: [gw, app], ...(reading ? { portFiles: new Map([[gw.id, reading]]) } : {}) });
const plan = (reading?: PortFileReading) => {
  const r = resolve(gw, parseLabels('gw', gw.labels), inv(reading));
  return { r, plan: compile(r.desired) };
};
const dnats = (t: TableDef) => t.chains.flatMap((c) => c.rules.filter((r) => r.expr.some((e) => e.dnat)).map((r) => `${c.name} ${JSON.stringify(r.expr.find((e) => e.dnat))} ${JSON.stringify(r.expr.find((e) => (e.match as { left?: { payload?: { field?: string } } })?.left?.payload?.field === 'dport')?.match)}`));

test('resolve: a port-file forward is down with the reason until a port is read, then DNATs that port', () => {
  const none = plan();
  const f = none.r.desired.forwards.find((x) => x.label === 'twine.nat.forward.wg0.file')!;
  assert.equal(f.state, 'down');
  assert.match(f.reason!, /not read yet/);
  assert.deepEqual(f.portFile, { path: DEFAULT_PORT_FILE });
  assert.equal(dnats(none.plan.table).filter((x) => x.includes('7000')).length, 2);
  assert.equal(dnats(none.plan.table).length, 2, 'only the fixed forward');
  const missing = plan({ problem: `${DEFAULT_PORT_FILE} does not exist in the container` });
  assert.match(referenceLines(missing.r.desired).join('\n'), /twine.nat.forward.wg0.file → app: down, \/tmp\/gluetun\/forwarded_port does not exist in the container; not forwarded/);
  const up = plan({ port: 51413 });
  const tcp = up.r.desired.forwards.find((x) => x.label === 'twine.nat.forward.wg0.file')!;
  const udp = up.r.desired.forwards.find((x) => x.label === 'twine.nat.forward.wg0.file/udp')!;
  assert.deepEqual([tcp.state, tcp.port, tcp.destPort], ['up', { lo: 51413, hi: 51413 }, { lo: 51413, hi: 51413 }]);
  assert.deepEqual([udp.state, udp.port, udp.destPort], ['up', { lo: 51413, hi: 51413 }, { lo: 6881, hi: 6881 }]);
  const text = dnats(up.plan.table).join('\n');
  assert.match(text, /PREROUTING \{"dnat":\{"family":"ip","addr":"172.30.0.3","port":51413\}\} .*"protocol":"tcp".*51413/);
  assert.match(text, /PREROUTING \{"dnat":\{"family":"ip","addr":"172.30.0.3","port":6881\}\} .*"protocol":"udp".*51413/);
  assert.match(referenceLines(up.r.desired).join('\n'), /file → app: up, port 51413 from \/tmp\/gluetun\/forwarded_port, 172.30.0.3/);
  const clash = plan({ port: 7000 }).r.desired.forwards.find((x) => x.label === 'twine.nat.forward.wg0.file')!;
  assert.equal(clash.state, 'down');
  assert.match(clash.reason!, /already forwarded by twine.nat.forward.wg0.7000/);
});

test('compile: whitelists drop, per nat interface and family, what is not listed, into the whitelist counter', () => {
  const { r, plan: p } = plan({ port: 51413 });
  assert.deepEqual(r.desired.whitelists, [
    { from: { label: 'twine.nat.whitelist.from', v4: ['172.30.0.3/32'], v6: [], down: ['ghost'] } },
    { iface: 'eth0', to: { label: 'twine.nat.whitelist.eth0.to', v4: ['192.168.1.0/24'], v6: [] } },
  ]);
  assert.ok(r.unresolved.some((u) => u.ref === 'ghost' && /allows nothing/.test(u.reason)));
  const gwRules = p.table.chains.find((c) => c.name === 'GATEWAY')!.rules.filter((x) => x.comment.includes('whitelist'));
  // from: 2 nat interfaces × 2 families; eth0.to: 2 families.
  assert.equal(gwRules.length, 6);
  for (const rule of gwRules) {
    assert.deepEqual(rule.expr.slice(-2), [{ counter: WHITELIST_COUNTER }, { drop: null }]);
    assert.ok(rule.expr.some((e) => JSON.stringify(e) === JSON.stringify({ match: { op: '==', left: { ct: { key: 'direction' } }, right: 'original' } })));
    assert.ok(rule.expr.some((e) => JSON.stringify(e).includes('"dnat"') && (e.match as { op?: string })?.op === '!'));
  }
  const v4to = gwRules.find((x) => x.comment.includes('eth0.to') && JSON.stringify(x.expr).includes('ipv4'))!;
  assert.ok(JSON.stringify(v4to.expr).includes('{"op":"!=","left":{"payload":{"protocol":"ip","field":"daddr"}},"right":{"set":[{"prefix":{"addr":"192.168.1.0","len":24}}]}}'));
  const v6from = gwRules.filter((x) => x.comment.includes('whitelist.from') && JSON.stringify(x.expr).includes('ipv6'));
  assert.equal(v6from.length, 2);
  for (const x of v6from) assert.ok(!JSON.stringify(x.expr).includes('saddr'), 'no IPv6 source listed: all of IPv6 is dropped');
  assert.deepEqual(p.table.counters, ['killswitch', WHITELIST_COUNTER]);
});

test('a port that moves: entries DNATed from the old port go, also when the destination port is fixed', () => {
  const fwd = (port: number, to: number): NftExpr[] => [
    { match: { op: '==', left: { payload: { protocol: 'udp', field: 'dport' } }, right: port } },
    { dnat: { family: 'ip', addr: '172.30.0.3', port: to } },
  ];
  const table = (port: number, to: number): TableDef => ({ chains: [{ name: 'PREROUTING', rules: [makeRule('PREROUTING', fwd(port, to))] }] });
  const live = (port: number, to: number): NftBatch => ({ nftables: [{ rule: { family: 'inet', table: 'twine', chain: 'PREROUTING', handle: 3, expr: fwd(port, to) } }] });
  assert.deepEqual(staleConntrack(live(40000, 6881), table(41000, 6881)), [
    { family: 4, proto: 'udp', origDport: [40000, 40000], dnat: true },
    { family: 4, proto: 'udp', origDport: [41000, 41000], dnat: false },
  ]);
  assert.deepEqual(staleConntrack(live(40000, 40000), table(41000, 41000)), [
    { family: 4, proto: 'udp', replySrc: '172.30.0.3', replySport: [40000, 40000], dnat: true },
    { family: 4, proto: 'udp', origDport: [41000, 41000], dnat: false },
  ]);
});

const ok = (data: string): RootFileAnswer => ({ status: 'ok', errno: 0, size: data.length, data });
const P = '/tmp/gluetun/forwarded_port';

test('portFileReading: a port; missing, empty and malformed mean none; refusals keep the last port', () => {
  assert.deepEqual(portFileReading(P, ok('51413\n'), undefined), { port: 51413 });
  assert.deepEqual(portFileReading(P, { status: 'missing', errno: 2, size: 0 }, { port: 1 }), { problem: `${P} does not exist in the container` });
  assert.deepEqual(portFileReading(P, ok(' \n'), { port: 1 }), { problem: `${P} is empty` });
  for (const bad of ['0', '65536', '12a', '1 2', '-5', '0x10']) assert.match(portFileReading(P, ok(bad), { port: 1 }).problem!, /does not hold a port/);
  const esc = portFileReading(P, { status: 'escape', errno: 18, size: 0 }, { port: 40000 });
  assert.equal(esc.port, 40000);
  assert.match(esc.problem!, /symlink on the path leads outside the container's root.*refused/);
  const big = portFileReading(P, { status: 'tooBig', errno: 0, size: 1 << 20 }, undefined);
  assert.equal(big.port, undefined);
  assert.match(big.problem!, new RegExp(`larger than the ${MAX_PORT_FILE_BYTES} bytes.*refused`));
  assert.match(portFileReading(P, { status: 'notFile', errno: 0, size: 0 }, undefined).problem!, /not a regular file/);
});

test('PortFiles: reads each gateway once per poll, publishes a new map and re-plans only on change', async () => {
  const answers: RootFileAnswer[] = [ok('40000'), ok('40000'), ok('41000\n'), { status: 'missing', errno: 2, size: 0 }];
  const reads: [number, string, number][] = [];
  const replans: string[][] = [];
  let invalidations = 0;
  const pf = new PortFiles({
    specs: new SpecCache(),
    containers: () => [gw, app],
    read: (pid, path, max) => {
      reads.push([pid, path, max]);
      return Promise.resolve(answers.shift()!);
    },
    log: createLogger({ level: 'silent', pretty: false }),
    pollMs: 0,
    invalidate: () => invalidations++,
    replan: (ids) => void replans.push([...ids]),
  });
  await pf.before(gw);
  await pf.before(gw); // read once per process
  assert.deepEqual(pf.current().get(gw.id), { port: 40000 });
  assert.deepEqual(reads, [[10, 'tmp/gluetun/forwarded_port', MAX_PORT_FILE_BYTES]]);
  const first = pf.current();
  await pf.poll();
  assert.equal(pf.current(), first, 'same reading: same map, nothing re-planned');
  assert.deepEqual(replans, []);
  await pf.poll();
  assert.deepEqual(pf.current().get(gw.id), { port: 41000 });
  await pf.poll();
  assert.match(pf.current().get(gw.id)!.problem!, /does not exist/);
  assert.deepEqual(replans, [[gw.id], [gw.id]]);
  assert.equal(invalidations, 3);
  assert.equal(reads.length, 4, 'app has no port file and is never read');
});
