// The native backend's policy rules (ip rule) and conntrack deletion
// (ctnetlink) against a real namespace, read back with iproute2 and with the
// backend itself. Needs root.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { nativeBackend as nb } from '../../src/netns/backend.js';
import { TWINE_RT_PROTO, type NsStep, type NsTarget } from '../../src/netns/types.js';
import { deleteNetnsWithPrefix } from '../bed/netns.js';

const PREFIX = `twt-ct-${process.pid}-`;
const NS = `${PREFIX}a`;
const T: NsTarget = { path: `/var/run/netns/${NS}` };

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
}

async function step(s: NsStep): Promise<unknown> {
  const out = await nb.batch(T, [s]);
  if (out.failedAt !== undefined) throw out.error;
  return out.results[0];
}

/** One UDP datagram from 127.0.0.1:<sport> to 127.0.0.1:5353 inside the namespace. */
function sendUdp(sport: number): void {
  sh('ip', ['netns', 'exec', NS, 'python3', '-c', `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("127.0.0.1",${sport}))\ns.sendto(b"x",("127.0.0.1",5353))`]);
}

describe('policy rules and conntrack deletion in a namespace', () => {
  before(() => {
    deleteNetnsWithPrefix(PREFIX);
    sh('ip', ['netns', 'add', NS]);
    sh('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    // A forward on lo, as Twine writes it: 127.0.0.1:5353 → 127.0.0.2:5354.
    sh('ip', ['netns', 'exec', NS, 'nft', '-f', '-'], 'table inet t {\n chain o {\n  type nat hook output priority -100;\n  ip daddr 127.0.0.1 udp dport 5353 dnat ip to 127.0.0.2:5354\n }\n}\n');
  });
  after(() => deleteNetnsWithPrefix(PREFIX));

  it('ruleAdd / ruleList / ruleDel: fwmark/mask lookup table, with Twine\'s protocol', async () => {
    const rule = { family: 4 as const, priority: 7474, table: 7474, fwmark: 0x20000000, fwmask: 0x20000000, protocol: TWINE_RT_PROTO };
    await step({ op: 'ruleAdd', rule });
    await step({ op: 'ruleAdd', rule: { ...rule, family: 6 } });
    await step({ op: 'ruleAdd', rule }); // again: no second copy, no error
    const shown = sh('ip', ['-n', NS, 'rule', 'show']);
    assert.match(shown, /7474:\s+from all fwmark 0x20000000\/0x20000000 lookup 7474 proto 74/);
    assert.deepEqual(await step({ op: 'ruleList', filter: { protocol: TWINE_RT_PROTO } }), [rule, { ...rule, family: 6 }]);
    // Foreign rules (main, local, default) are not Twine's.
    assert.equal(((await step({ op: 'ruleList' })) as unknown[]).length, 7);
    await step({ op: 'ruleDel', rule });
    await step({ op: 'ruleDel', rule: { ...rule, family: 6 } });
    assert.deepEqual(await step({ op: 'ruleList', filter: { protocol: TWINE_RT_PROTO } }), []);
  });

  it('conntrackDelete: only the entries that match, by reply source and DNAT status or by original port', async () => {
    sendUdp(40001);
    sendUdp(40002);
    // Nothing DNATed to another address, nothing of another protocol.
    assert.equal(await step({ op: 'conntrackDelete', filter: { family: 4, replySrc: '127.0.0.3', dnat: true } }), 0);
    assert.equal(await step({ op: 'conntrackDelete', filter: { family: 4, proto: 'tcp', replySrc: '127.0.0.2' } }), 0);
    assert.equal(await step({ op: 'conntrackDelete', filter: { family: 4, proto: 'udp', origDport: [5353, 5353], dnat: false } }), 0);
    // Both flows DNATed to 127.0.0.2:5354.
    assert.equal(await step({ op: 'conntrackDelete', filter: { family: 4, proto: 'udp', replySrc: '127.0.0.2', replySport: [5354, 5354], dnat: true } }), 2);
    assert.equal(await step({ op: 'conntrackDelete', filter: { family: 4, replySrc: '127.0.0.2' } }), 0);
    // Without the DNAT rule the next datagram makes an un-NATed entry; it is found by its original port.
    // (A rule that uses conntrack keeps it tracking in the namespace, as Docker's DNS rules do in a container.)
    sh('ip', ['netns', 'exec', NS, 'nft', 'flush', 'table', 'inet', 't']);
    sh('ip', ['netns', 'exec', NS, 'nft', 'add', 'rule', 'inet', 't', 'o', 'ct', 'state', 'new', 'counter']);
    sendUdp(40003);
    assert.equal(await step({ op: 'conntrackDelete', filter: { family: 4, proto: 'udp', origDst: '127.0.0.0/8', origDport: [5353, 5353], dnat: true } }), 0);
    assert.equal(await step({ op: 'conntrackDelete', filter: { family: 4, proto: 'udp', origDst: '127.0.0.0/8', origDport: [5353, 5353], dnat: false } }), 1);
  });

  it('bad filters are refused before the namespace is entered', async () => {
    await assert.rejects(nb.batch(T, [{ op: 'conntrackDelete', filter: { family: 4, replySrc: 'fd00::1' } }]), /not an IPv4 address/);
    await assert.rejects(nb.batch(T, [{ op: 'conntrackDelete', filter: { family: 4, origDport: [9, 1] } }]), /ends before it starts/);
  });
});
