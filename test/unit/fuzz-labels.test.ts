// Property: for any label map, parseLabels returns a Spec or throws a
// LabelError, never anything else; and whatever parses also resolves and
// compiles without throwing. 10,000 seeded random maps (valid, near-valid,
// garbage, shell metacharacters, control characters, huge values).
// Reproduce a failure with TWINE_FUZZ_SEED=<seed printed in the message>.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LabelError } from '../../src/errors.js';
import { parseLabels } from '../../src/labels/parse.js';
import { compile } from '../../src/plan/compile.js';
import type { ContainerInfo, Inventory } from '../../src/docker/container.js';
import { resolve } from '../../src/resolve/resolve.js';

const RUNS = 10_000;

/** mulberry32: small, fast, seedable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const inv: Inventory = {
  containers: [
    {
      id: 'src-id',
      name: 'src',
      pid: 10,
      running: true,
      labels: {},
      networks: [
        { networkId: 'n1', networkName: 'n1', ipv4: '10.0.0.2', ipv4PrefixLen: 24, gatewayV4: '10.0.0.1', ipv6: 'fd00::2', ipv6PrefixLen: 64, aliases: [], dnsNames: [], iface: 'eth0' },
      ],
      composeProject: 'p',
    },
    {
      id: 'vpn-id',
      name: 'vpn',
      pid: 11,
      running: true,
      labels: { 'twine.route.0.0.0.0/0': 'src' },
      networks: [{ networkId: 'n1', networkName: 'n1', ipv4: '10.0.0.3', ipv4PrefixLen: 24, ipv6: 'fd00::3', ipv6PrefixLen: 64, aliases: ['gw'], dnsNames: [] }],
      composeService: 'vpn',
      composeProject: 'p',
    },
    { id: 'app-id', name: 'app', pid: 0, running: false, labels: {}, networks: [] },
  ],
};

test(`fuzz: ${RUNS} random label maps → Spec or LabelError only; parsed ones resolve and compile`, () => {
  const seed = Number(process.env.TWINE_FUZZ_SEED ?? Date.now() % 2 ** 31);
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;

  const junk = ['', ' ', ';', '|', '&&', '$(reboot)', '`id`', "'", '"', '\\', '\n', '\t', '\0', '\x1b[31m', '\u2028', '\u0085', '*', '?', '[', ']', '{', '}', '%', 'é', '🙂', '/', ':', '.', '..', ',', '+', '-', '=', '#'];
  const ifaces = ['wg+', 'eth0', 'eth0.100', 'lo', '+', 'tun0', 'a+b', '', 'x'.repeat(16), 'e th', 'w*', '..'];
  const ports = ['80', '5353', '8000-8010', '0', '65535', '65536', '10-5', '1-65535', 'x', '', '99999999999999999999', '1e3', '0x50', '-1'];
  const protos = ['', '/tcp', '/udp', '/sctp', '/', '/TCP'];
  const ips = ['10.0.0.5', '0.0.0.0', 'fd00::5', '[fd00::5]', '256.1.1.1', '1.2.3', '::', '::ffff:1.2.3.4', 'fe80::1%eth0', '01.2.3.4'];
  const refs = ['vpn', 'app', 'gw', 'src', 'ghost', 'a_b.c-d', '-bad', 'x'.repeat(300)];
  const cidrs = ['0.0.0.0/0', '0.0.0.0/1', '128.0.0.0/1', '10.0.0.1/8', '10.0.0.0/33', '::/0', 'fd00::/64', 'fd00::1/64', '10.1.2.3', 'nope', '10.0.0.0/', '/8'];
  const chains = ['TWINE_INPUT', 'TWINE_OUTPUT', 'TWINE_FORWARD', 'TWINE_NAT_PREROUTING', 'TWINE_NAT_POSTROUTING', 'TWINE_NAT_OUTPUT', 'INPUT', ''];
  const ruleArgs = ['-p tcp --dport 22 -j ACCEPT', '-s 10.0.0.0/8 -j DROP', '-d vpn -j ACCEPT', '-d ghost -j REJECT', '-o eth+ -j MASQUERADE', '-j DNAT --to-destination 10.0.0.5:80', '-m comment --comment "a b" -j ACCEPT', '-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT', '-p udp -m multiport --dports 53,5353 -j ACCEPT', '--bogus', '-j', '"unterminated', "-m comment --comment 'x"];

  const garble = (s: string): string => {
    switch (int(6)) {
      case 0:
        return s + pick(junk);
      case 1:
        return pick(junk) + s;
      case 2:
        return s.slice(0, int(s.length + 1)) + pick(junk) + s.slice(int(s.length + 1));
      case 3:
        return s.repeat(1 + int(3));
      default:
        return s;
    }
  };
  const randomString = (max: number) => {
    let out = '';
    const n = int(max);
    for (let i = 0; i < n; i++) out += rnd() < 0.3 ? pick(junk) : String.fromCharCode(int(0x250));
    return out;
  };

  const entry = (): [string, string] => {
    const mode = rnd();
    const near = mode > 0.6;
    const g = (s: string) => (near ? garble(s) : s);
    switch (int(10)) {
      case 0:
        return [g('twine.nat.interfaces'), g([pick(ifaces), pick(ifaces)].join(','))];
      case 1: {
        const pat = rnd() < 0.5 ? '' : `${pick(ifaces)}.`;
        const dport = rnd() < 0.5 ? '' : `:${pick(ports)}`;
        return [g(`twine.nat.forward.${pat}${pick(ports)}${pick(protos)}`), g(`${rnd() < 0.5 ? pick(refs) : pick(ips)}${dport}`)];
      }
      case 2:
        return [g(`twine.route.${pick(cidrs)}`), g(rnd() < 0.5 ? pick(refs) : pick(ips))];
      case 3:
        return [g(`twine.iptables.rule.${pick(['a', 'b', '10-x', 'bad name', ''])}`), g(`${pick(chains)} ${pick(ruleArgs)}`)];
      case 4:
        return [g('twine.host.routes'), g([pick(cidrs), pick(cidrs)].join(','))];
      case 5:
        return [g(`twine.forward.${pick(ports)}${pick(protos)}`), g(pick(refs))];
      case 6:
        return [g('twine.gateway.interface'), g(pick(ifaces))];
      case 7:
        return [`twine.${randomString(20)}`, randomString(40)];
      case 8:
        return [pick(['twine.route.10.0.0.0/8', 'twine.nat.interfaces', `twine.nat.forward.${pick(ports)}`]), rnd() < 0.5 ? 'x'.repeat(int(10_000)) : pick(junk).repeat(int(5000))];
      default:
        return [randomString(30), randomString(30)];
    }
  };

  // Mostly-valid maps, so resolve and compile see plenty of input too.
  const validEntry = (): [string, string] => {
    switch (int(6)) {
      case 0:
        return ['twine.nat.interfaces', pick(['wg+', 'eth0,tun+', 'lo', '+'])];
      case 1:
        return [`twine.nat.forward.${pick(['', 'wg+.', 'lo.', 'eth0.100.'])}${pick(['80', '8000-8003', '5353/udp'])}`, pick(['vpn', 'gw', 'app', '10.0.0.9', 'ghost'])];
      case 2:
        return [`twine.route.${pick(['0.0.0.0/0', '0.0.0.0/1', '10.8.0.0/16', '::/0', 'fd10::/64'])}`, pick(['vpn', 'gw', 'app', 'ghost'])];
      case 3:
        return [`twine.iptables.rule.${pick(['a', 'b', 'c'])}`, `${pick(chains.slice(0, 3))} ${pick(ruleArgs.slice(0, 4))}`];
      case 4:
        return ['twine.host.routes', pick(['10.8.0.0/24', '10.8.0.0/24,fd08::/64'])];
      default:
        return [`other.${int(100)}`, randomString(20)];
    }
  };

  const source = inv.containers[0] as ContainerInfo;
  let parsed = 0;
  let rejected = 0;
  const started = performance.now();
  for (let i = 0; i < RUNS; i++) {
    const labels: Record<string, string> = {};
    const n = 1 + int(6);
    const clean = rnd() < 0.4;
    for (let k = 0; k < n; k++) {
      const [key, value] = clean ? validEntry() : entry();
      labels[key] = value;
    }
    try {
      const spec = parseLabels('src', labels);
      parsed++;
      const res = resolve(source, spec, inv);
      const plan = compile(res.desired);
      assert.equal(plan.container.id, 'src-id');
      for (const r of plan.routes) assert.equal(r.protocol, 74);
    } catch (e) {
      if (e instanceof LabelError) {
        rejected++;
        assert.ok(e.issues.length > 0);
        for (const issue of e.issues) assert.ok(issue.key && issue.reason, 'issue names key and reason');
        continue;
      }
      assert.fail(`seed ${seed}, run ${i}: ${String((e as Error).stack ?? e)}\nlabels: ${JSON.stringify(labels).slice(0, 2000)}`);
    }
  }
  const ms = performance.now() - started;
  // Both outcomes must actually occur, or the generator is not exercising the parser.
  assert.ok(parsed > RUNS * 0.05, `seed ${seed}: only ${parsed} maps parsed`);
  assert.ok(rejected > RUNS * 0.05, `seed ${seed}: only ${rejected} maps rejected`);
  console.log(`fuzz seed ${seed}: ${parsed} parsed, ${rejected} rejected in ${ms.toFixed(0)} ms`);
});
