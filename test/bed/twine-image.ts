// Twine's own image, built from the repository's Dockerfile on a machine with
// no registry: its `prebuilt` target, on two local images made with
// `docker import`, each tagged with a hash of its content so that an
// unchanged one is not made again:
//   - NODE_IMAGE: this machine's node, nft, ip and nsenter with the shared
//     libraries they (and the addon) load, busybox for /bin/sh, coreutils' env
//     (the bin's shebang uses `env -S`), in place of node:20-bookworm-slim;
//   - APP_IMAGE: /app as scripts/stage-app.mjs stages it from this checkout
//     (the Dockerfile's build stage runs the same script after `npm ci`).

import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, runAllowFail } from './exec.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const DOCKERFILE = path.join(ROOT, 'Dockerfile');
const BASE_REPO = 'twine-test/node-base';
const APP_REPO = 'twine-test/app';
export const TWINE_IMAGE_REPO = 'twine-test/twine';
/** Bump when what goes into the base changes in a way its inputs' hash does not show. */
const BASE_REVISION = '1';
const BUSYBOX = '/bin/busybox';
const ADDON = path.join(ROOT, 'build', 'Release', 'twine_native.node');
/** Executables of the base, at the same paths as on this machine. */
const TOOLS = ['node', 'nft', 'ip', 'nsenter'];
const PATH_ENV = '/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin';

export interface TwineImage {
  tag: string;
  /** The Node base it was built on (node, nft, ip, nsenter, busybox). */
  base: string;
  /** What was made this time (empty: everything came from the cache). */
  made: string[];
}

async function imageExists(tag: string): Promise<boolean> {
  return (await runAllowFail('docker', ['image', 'inspect', '--format', '{{.Id}}', tag])).exitCode === 0;
}

/** Removes the other tags of repo (earlier contents), so that the cache does not grow. */
async function dropOtherTags(repo: string, keep: string): Promise<void> {
  const r = await runAllowFail('docker', ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', repo]);
  const old = r.stdout.split('\n').map((s) => s.trim()).filter((s) => s !== '' && s !== keep);
  if (old.length > 0) await runAllowFail('docker', ['image', 'rm', ...old]);
}

function hashFiles(h: ReturnType<typeof createHash>, files: string[]): void {
  for (const f of files) {
    h.update(`${f}\0${statSync(f).mode}\0`);
    h.update(readFileSync(f));
  }
}

/** Every file under dir (sorted, symlinks as their target text). */
function hashTree(h: ReturnType<typeof createHash>, dir: string, rel = ''): void {
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = path.join(rel, e.name);
    if (e.isDirectory()) hashTree(h, dir, p);
    else {
      h.update(`${p}\0${statSync(path.join(dir, p)).mode}\0`);
      h.update(readFileSync(path.join(dir, p)));
    }
  }
}

async function which(cmd: string): Promise<string> {
  const r = await runAllowFail('sh', ['-c', 'command -v "$1"', 'sh', cmd]);
  const p = r.stdout.trim();
  if (r.exitCode !== 0 || !p.startsWith('/')) throw new Error(`twine image: ${cmd} not found on this machine`);
  return p;
}

/** The shared libraries (and the loader) that ldd lists for each file. */
async function libraries(files: string[]): Promise<string[]> {
  const out = new Set<string>();
  for (const f of files) {
    for (const line of (await run('ldd', [f])).split('\n')) {
      const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
      if (m?.[1]) out.add(m[1]);
    }
  }
  return [...out].sort();
}

async function importDir(root: string, tag: string, changes: string[]): Promise<void> {
  const tar = `${root}.tar`;
  await run('tar', ['-C', root, '-cf', tar, '.'], { timeoutMs: 120_000 });
  await run('docker', ['import', ...changes.flatMap((c) => ['--change', c]), tar, tag], { timeoutMs: 300_000 });
}

async function nodeBase(work: string, made: string[]): Promise<string> {
  const tools = await Promise.all(TOOLS.map(which));
  const env = '/usr/bin/env';
  const libs = await libraries([...tools, env, ADDON]);
  const iproute = existsSync('/etc/iproute2') ? ['/etc/iproute2'] : [];
  const h = createHash('sha256').update(`${BASE_REVISION}\0${PATH_ENV}\0`);
  hashFiles(h, [...tools, env, ...libs, BUSYBOX]);
  const tag = `${BASE_REPO}:${h.digest('hex').slice(0, 16)}`;
  if (await imageExists(tag)) return tag;

  const root = path.join(work, 'base');
  for (const d of ['bin', 'etc', 'tmp', 'root', 'run', 'proc', 'sys', 'dev', 'usr/bin', 'usr/sbin', 'usr/local/bin']) mkdirSync(path.join(root, d), { recursive: true });
  chmodSync(path.join(root, 'tmp'), 0o1777);
  copyFileSync(BUSYBOX, path.join(root, 'bin', 'busybox'));
  chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
  const applets = (await run(BUSYBOX, ['--list'])).split('\n').map((s) => s.trim()).filter((s) => s !== '' && s !== 'busybox');
  for (const a of applets) symlinkSync('busybox', path.join(root, 'bin', a));
  // Real files at this machine's paths; they come before busybox's applets on PATH.
  for (const f of [...tools, env, ...libs]) {
    mkdirSync(path.join(root, path.dirname(f)), { recursive: true });
    rmSync(path.join(root, f), { force: true }); // a busybox applet link of the same name: never write through it
    copyFileSync(f, path.join(root, f));
    chmodSync(path.join(root, f), statSync(f).mode & 0o7777);
  }
  for (const d of iproute) cpSync(d, path.join(root, d), { recursive: true, dereference: true });
  writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(path.join(root, 'etc', 'group'), 'root:x:0:\n');
  await importDir(root, tag, [`ENV PATH=${PATH_ENV}`, 'CMD ["node"]']);
  made.push(tag);
  await dropOtherTags(BASE_REPO, tag);
  return tag;
}

async function appImage(work: string, made: string[]): Promise<string> {
  const staged = path.join(work, 'stage');
  await run(process.execPath, [path.join(ROOT, 'scripts', 'stage-app.mjs'), staged], { timeoutMs: 120_000 });
  const h = createHash('sha256');
  hashTree(h, staged);
  const tag = `${APP_REPO}:${h.digest('hex').slice(0, 16)}`;
  if (await imageExists(tag)) return tag;
  const root = path.join(work, 'app');
  mkdirSync(root);
  cpSync(staged, path.join(root, 'app'), { recursive: true });
  await importDir(root, tag, []);
  made.push(tag);
  await dropOtherTags(APP_REPO, tag);
  return tag;
}

/**
 * `docker build --target prebuilt` of the repository's Dockerfile, on a local
 * Node image and this checkout's app (built by `npm ci`). The caller holds the
 * docker lock. The legacy builder is asked for (DOCKER_BUILDKIT=0): it needs no
 * buildx and resolves FROM against local images only when they exist.
 */
export async function buildTwineImage(): Promise<TwineImage> {
  const made: string[] = [];
  const work = mkdtempSync(path.join(tmpdir(), 'twt-img-'));
  try {
    const [base, app] = [await nodeBase(work, made), await appImage(work, made)];
    const h = createHash('sha256').update(`${base}\0${app}\0`).update(readFileSync(DOCKERFILE));
    const tag = `${TWINE_IMAGE_REPO}:${h.digest('hex').slice(0, 16)}`;
    if (!(await imageExists(tag))) {
      // The prebuilt target copies nothing from the context: an empty one.
      const context = path.join(work, 'context');
      mkdirSync(context);
      await run('env', [
        'DOCKER_BUILDKIT=0',
        'docker', 'build', '-q', '-f', DOCKERFILE, '--target', 'prebuilt',
        '--build-arg', `NODE_IMAGE=${base}`, '--build-arg', `APP_IMAGE=${app}`,
        '-t', tag, context,
      ], { timeoutMs: 300_000 });
      made.push(tag);
      await dropOtherTags(TWINE_IMAGE_REPO, tag);
    }
    return { tag, base, made };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
