// The addon under AddressSanitizer: a test build (scripts/build-asan.mjs,
// build-asan/, the production addon untouched) loaded into a node that has
// libasan preloaded, driven by test/fixtures/asan-stress.ts. Fails on any ASan
// report and on any wrong result: libnftables from 8 threads in 8 namespaces
// at once resolving interface names (serialised: native/nft.h), and the
// netlink parsers on malformed messages, the receive timeout, a notifier
// closed twice, the dumps, a rule's expression hash, forged replies against
// the receive deadline and pidCheck (test/fixtures/asan-netlink.ts). Needs root and
// g++ (its libasan).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAddon } from '../../src/netns/addon.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
// Named ...-<pid> so that a concurrent run's leftover cleanup sees they are in use.
const NAMESPACES = Array.from({ length: 8 }, (_, i) => `twt-asan${i}-${process.pid}`);
const existing = (): string[] => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '');

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a fixture script of dist/test/fixtures in a node with libasan preloaded and the ASan addon. */
function runAsan(addon: string, script: string, args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  const libasan = execFileSync('g++', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
  assert.ok(path.isAbsolute(libasan) && existsSync(libasan), `libasan not found (g++ -print-file-name=libasan.so gave ${libasan})`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'dist', 'test', 'fixtures', script), addon, ...args], {
      env: {
        ...process.env,
        ...env,
        LD_PRELOAD: libasan,
        // node's own allocations are not ours to judge at exit; every other report counts.
        ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=0:exitcode=66',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function assertClean(o: Outcome): Record<string, unknown> {
  const report = o.stderr.indexOf('AddressSanitizer');
  assert.equal(report, -1, `AddressSanitizer reported:\n${o.stderr.slice(Math.max(0, report - 200), report + 4000)}`);
  assert.equal(o.code, 0, `exit ${o.code}\n${o.stderr.slice(-4000)}`);
  const last = o.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as Record<string, unknown>;
}

describe('native addon under AddressSanitizer', () => {
  let addon = '';

  before(() => {
    const out = execFileSync(process.execPath, [path.join(root, 'scripts', 'build-asan.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    addon = out.trim().split('\n').pop() ?? '';
    assert.ok(existsSync(addon), `ASan addon ${addon}`);
    NAMESPACES.forEach((ns, i) => {
      execFileSync('ip', ['netns', 'add', ns]);
      execFileSync('ip', ['-n', ns, 'link', 'add', `a${i}`, 'type', 'veth', 'peer', 'name', `b${i}`]);
    });
  });
  after(() => {
    const left = new Set(existing());
    for (const ns of NAMESPACES) if (left.has(ns)) execFileSync('ip', ['netns', 'del', ns]);
  });

  it('libnftables from 8 threads in 8 namespaces resolving interfaces: every result right, no report', { skip: loadAddon().nftAvailable ? false : 'addon built without libnftables' }, async () => {
    const o = await runAsan(addon, 'asan-stress.js', NAMESPACES, { TWINE_NETNS_THREADS: '8' });
    const r = assertClean(o);
    assert.deepEqual(r.problems, [], `${String(r.problemCount)} wrong results`);
    // Per round: the batch, its listing, a refused batch, four table reads told by their signature and rules' hashes.
    assert.equal(r.runs, 8 * 25 * 7);
    assert.equal(r.refused, 8 * 25, 'every batch naming another namespace\'s interface is refused');
    assert.equal(r.held, 0, 'the reaper freed every context');
  });

  it('netlink parsers on malformed messages, receive timeout, notifier closed twice, dumps: no report', async () => {
    const o = await runAsan(addon, 'asan-netlink.js', [NAMESPACES[0]!]);
    const r = assertClean(o);
    assert.deepEqual(r.problems, [], `${String(r.problemCount)} wrong results`);
    assert.ok(Number(r.checks) > 3000, `${String(r.checks)} checks ran`);
  });
});
