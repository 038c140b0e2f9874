// The namespace handle pins a transaction's namespace: the process a
// transaction was started for moves to another namespace half-way (the same
// pid, as when a container dies and its pid is reused), and every later step
// (the netlink batch, nft on both transports, the rollback) still lands in the
// namespace the handle was opened on; the other namespace is only ever read
// by this test. A handle opened after the move is refused against the
// recorded inode, and one opened after the process is gone says so.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { execa } from 'execa';
import { applyPlan, type Applier } from '../../src/engine/transaction.js';
import { BASE_CHAINS, makeRule, type TableDef } from '../../src/firewall/nft.js';
import { createExecTransport } from '../../src/firewall/transport-exec.js';
import { createLibTransport, libTransportAvailable } from '../../src/firewall/transport-lib.js';
import type { NftTransport } from '../../src/firewall/transport.js';
import { NamespaceGoneError, TransactionError } from '../../src/errors.js';
import { nativeBackend } from '../../src/netns/backend.js';
import { openNsHandle } from '../../src/netns/handle.js';
import { TWINE_RT_PROTO, type NetnsBackend } from '../../src/netns/types.js';
import type { Plan } from '../../src/plan/types.js';
import { waitUntil } from '../bed/engine.js';

const PREFIX = 'twt-nh-';
const A = `${PREFIX}${process.pid}-a`;
const B = `${PREFIX}${process.pid}-b`;

const inode = (path: string): number | undefined => {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
};

async function makeNs(name: string): Promise<number> {
  await execa('ip', ['netns', 'del', name], { reject: false });
  await execa('ip', ['netns', 'add', name]);
  const ip = (...args: string[]) => execa('ip', ['-n', name, ...args]);
  await ip('link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd0p');
  await ip('addr', 'add', '10.40.0.1/24', 'dev', 'd0');
  await ip('link', 'set', 'd0p', 'up');
  await ip('link', 'set', 'd0', 'up');
  // A new namespace may inherit the host's 1: start from 0, so that a write shows.
  await execa('ip', ['netns', 'exec', name, 'sysctl', '-qw', 'net.ipv4.ip_forward=0']);
  return inode(`/var/run/netns/${name}`)!;
}

/** What Twine could have left in a namespace: its routes, its table, ip_forward. */
async function traces(name: string): Promise<{ routes: string[]; table: boolean; forward: string }> {
  const r = JSON.parse((await execa('ip', ['-n', name, '-j', 'route', 'show', 'proto', String(TWINE_RT_PROTO)])).stdout) as Array<{ dst: string }>;
  const t = await execa('ip', ['netns', 'exec', name, 'nft', 'list', 'tables'], { reject: false });
  const f = (await execa('ip', ['netns', 'exec', name, 'cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim();
  return { routes: r.map((x) => x.dst).sort(), table: /table inet twine/.test(t.stdout), forward: f };
}

/** A process in A that, on a line on stdin, becomes (same pid) a process in B. */
interface Mover {
  pid: number;
  proc: ChildProcess;
  moveToB(): Promise<void>;
}

let inoA = 0;
let inoB = 0;

async function mover(): Promise<Mover> {
  const proc = spawn('ip', ['netns', 'exec', A, 'sh', '-c', `read x; exec nsenter --net=/var/run/netns/${B} sleep 600`], { stdio: ['pipe', 'ignore', 'inherit'] });
  const pid = proc.pid!;
  await waitUntil('the process in A', async () => inode(`/proc/${pid}/ns/net`) === inoA);
  return {
    pid,
    proc,
    async moveToB() {
      proc.stdin!.write('\n');
      await waitUntil('the same pid in B', async () => inode(`/proc/${pid}/ns/net`) === inoB);
    },
  };
}

async function stop(m: Mover): Promise<void> {
  if (m.proc.exitCode === null && m.proc.signalCode === null) {
    const exited = new Promise((r) => m.proc.once('exit', r));
    m.proc.kill('SIGKILL');
    await exited;
  }
}

/** The backend, with the process moved to B right after the transaction's first netlink batch (its observe). */
function movingAfterFirstBatch(m: Mover): NetnsBackend {
  let moved = false;
  return {
    ...nativeBackend,
    async batch(ns, steps) {
      const out = await nativeBackend.batch(ns, steps);
      if (!moved) {
        moved = true;
        await m.moveToB();
      }
      return out;
    },
  };
}

function plan(pid: number, table: TableDef): Plan {
  return {
    container: { id: 'nh', name: 'nh', pid },
    ns: { pid },
    sysctls: [{ key: 'net.ipv4.ip_forward', value: '1' }],
    routes: [{ family: 4, dst: '10.50.0.0/16', type: 'unicast', gateway: '10.40.0.2', dev: 'd0', protocol: TWINE_RT_PROTO }],
    defaultRoutes: [],
    table,
    hostRoutes: [],
  };
}

function table(badJump = false): TableDef {
  return {
    chains: BASE_CHAINS.map((b) => ({
      name: b.name,
      base: { type: b.type, hook: b.hook, prio: b.prio },
      // A jump to a chain that does not exist: nft refuses the whole batch.
      rules: badJump && b.name === 'INPUT' ? [makeRule(b.name, [{ jump: { target: 'NO_SUCH_CHAIN' } }])] : [makeRule(b.name, [{ counter: null }])],
    })),
  };
}

before(async () => {
  inoA = await makeNs(A);
  inoB = await makeNs(B);
});
after(async () => {
  await execa('ip', ['netns', 'del', A], { reject: false });
  await execa('ip', ['netns', 'del', B], { reject: false });
});

const libSkip = libTransportAvailable() ? false : 'addon built without libnftables';
const transports: Array<[string, () => NftTransport, string | false]> = [
  ['exec', createExecTransport, false],
  ['lib', createLibTransport, libSkip],
];

for (const [name, make, skip] of transports) {
  describe(`namespace handle with the ${name} transport`, { skip }, () => {
    test('the pid moves to another namespace after observe: the netlink batch and nft still land in the first', async () => {
      const m = await mover();
      try {
        const a: Applier = { netns: movingAfterFirstBatch(m), nft: make() };
        const r = await applyPlan(a, plan(m.pid, table()), { fresh: false });
        assert.equal(r.noop, false);
        assert.equal(inode(`/proc/${m.pid}/ns/net`), inoB, 'the pid really is in B now');
        assert.deepEqual(await traces(A), { routes: ['10.50.0.0/16'], table: true, forward: '1' });
        assert.deepEqual(await traces(B), { routes: [], table: false, forward: '0' });
      } finally {
        await stop(m);
        await execa('ip', ['netns', 'exec', A, 'nft', 'delete', 'table', 'inet', 'twine'], { reject: false });
        await execa('ip', ['-n', A, 'route', 'flush', 'proto', String(TWINE_RT_PROTO)], { reject: false });
        await execa('ip', ['netns', 'exec', A, 'sysctl', '-qw', 'net.ipv4.ip_forward=0'], { reject: false });
      }
    });

    test('the rollback after the move goes to the first namespace too', async () => {
      const m = await mover();
      try {
        const a: Applier = { netns: movingAfterFirstBatch(m), nft: make() };
        await assert.rejects(applyPlan(a, plan(m.pid, table(true)), { fresh: false }), (e: unknown) => e instanceof TransactionError && e.step === 'nft' && e.rollbackErrors.length === 0);
        // The route and sysctl the netlink batch wrote into A were taken back there; B was never written.
        assert.deepEqual(await traces(A), { routes: [], table: false, forward: '0' });
        assert.deepEqual(await traces(B), { routes: [], table: false, forward: '0' });
      } finally {
        await stop(m);
      }
    });
  });
}

test("a handle opened after the pid moved is refused against the recorded inode; after the process is gone, 'gone'", async () => {
  const m = await mover();
  try {
    const h = openNsHandle({ pid: m.pid }, inoA);
    assert.equal(h.ino, inoA);
    h.close();
    h.close(); // idempotent
    await m.moveToB();
    assert.throws(() => openNsHandle({ pid: m.pid }, inoA), (e: unknown) => e instanceof NamespaceGoneError && e.kind === 'changed' && /nothing written/.test(e.message));
  } finally {
    await stop(m);
  }
  assert.throws(() => openNsHandle({ pid: m.pid }, inoA), (e: unknown) => e instanceof NamespaceGoneError && e.kind === 'gone');
});

test('a handle keeps its namespace usable after the process that named it is gone', async () => {
  const m = await mover();
  const h = openNsHandle({ pid: m.pid });
  try {
    await stop(m);
    await nativeBackend.routeReplace(h.target, { family: 4, dst: '10.51.0.0/16', type: 'unreachable', protocol: TWINE_RT_PROTO });
    assert.deepEqual((await traces(A)).routes, ['10.51.0.0/16']);
    assert.deepEqual((await traces(B)).routes, []);
  } finally {
    h.close();
    await execa('ip', ['-n', A, 'route', 'flush', 'proto', String(TWINE_RT_PROTO)], { reject: false });
  }
});
