// The local test image: busybox-static imported with `docker import` (no
// registry is reachable), every busybox applet linked in /bin, a default
// command that sleeps and exits promptly on SIGTERM (so `docker stop` is fast).

import { mkdtempSync, mkdirSync, rmSync, symlinkSync, copyFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run, runAllowFail } from './exec.js';

export const TEST_IMAGE = 'twine-test/busybox:latest';
/** Bump when the image's content changes: an image without this label value is rebuilt. */
const IMAGE_REVISION = '2';
const REVISION_LABEL = 'twine-test.image-revision';
const BUSYBOX = '/bin/busybox';
const LOCK = '/tmp/twine-test-image.lock';

async function imageRevision(): Promise<string | undefined> {
  const r = await runAllowFail('docker', ['image', 'inspect', '--format', `{{index .Config.Labels "${REVISION_LABEL}"}}`, TEST_IMAGE]);
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

let ensured: Promise<void> | undefined;

/** Makes sure TEST_IMAGE exists at the current revision. Idempotent; safe when test files call it concurrently. */
export function ensureImage(): Promise<void> {
  ensured ??= build().catch((err: unknown) => {
    ensured = undefined;
    throw err;
  });
  return ensured;
}

async function build(): Promise<void> {
  if ((await imageRevision()) === IMAGE_REVISION) return;
  const dir = mkdtempSync(path.join(tmpdir(), 'twt-image-'));
  try {
    const root = path.join(dir, 'root');
    for (const d of ['bin', 'etc', 'tmp', 'root', 'var', 'proc', 'sys', 'dev']) mkdirSync(path.join(root, d), { recursive: true });
    chmodSync(path.join(root, 'tmp'), 0o1777);
    copyFileSync(BUSYBOX, path.join(root, 'bin', 'busybox'));
    chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
    const applets = (await run(BUSYBOX, ['--list'])).split('\n').map((s) => s.trim()).filter((s) => s !== '' && s !== 'busybox');
    for (const a of applets) symlinkSync('busybox', path.join(root, 'bin', a));
    mkdirSync(path.join(root, 'usr'), { recursive: true });
    symlinkSync('../bin', path.join(root, 'usr', 'bin'));
    symlinkSync('bin', path.join(root, 'sbin'));
    const tar = path.join(dir, 'rootfs.tar');
    await run('tar', ['-C', root, '-cf', tar, '.']);
    const cmd = JSON.stringify(['sh', '-c', "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"]);
    // flock serializes concurrent builders; the check inside the lock makes the second one a no-op.
    await run('flock', [
      LOCK,
      'sh',
      '-c',
      'docker image inspect --format "{{index .Config.Labels \\"$1\\"}}" "$2" 2>/dev/null | grep -qx "$3" || ' +
        'docker import --change "LABEL $1=$3" --change "ENV PATH=/bin" --change "CMD $4" "$5" "$2" >/dev/null',
      'sh',
      REVISION_LABEL,
      TEST_IMAGE,
      IMAGE_REVISION,
      cmd,
      tar,
    ], { timeoutMs: 120_000 });
    if ((await imageRevision()) !== IMAGE_REVISION) throw new Error(`ensureImage: ${TEST_IMAGE} was not created`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
