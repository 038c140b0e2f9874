// `twine runtime install` / `uninstall`: puts the wrapper (twine-runc) and its
// settings in a directory on the Docker host,
// registers the wrapper as runtime `twine` in daemon.json, and with `reload`
// makes dockerd re-read it (SIGHUP) and waits until the engine lists the
// runtime (or no longer does). What install added to daemon.json besides
// Twine's entry is remembered next to the executables, so that uninstall
// leaves the file as it found it.

import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TwineError } from '../errors.js';
import type { DockerClient } from '../docker/api.js';
import { addRuntime, dropRuntimesKey, removeRuntime, RUNTIME_NAME } from './daemon-json.js';

export const DEFAULT_DIR = '/usr/local/lib/twine';
export const DEFAULT_DAEMON_JSON = '/etc/docker/daemon.json';
export const DEFAULT_PIDFILE = '/var/run/docker.pid';
export const WRAPPER = 'twine-runc';
/** An executable of earlier versions (an OCI prestart hook): removed by install and uninstall. */
const OLD_HOOK = 'twine-hook';
/** Read by the wrapper (native/runtime/common.cc). */
export const CONF = 'twine-runtime.conf';
/** What install added to daemon.json, for uninstall. */
const STATE = 'twine-runtime.install.json';

export interface RuntimeSettings {
  /** The daemon's unix socket as the host sees it. */
  socket: string;
  timeoutMs: number;
  mode: 'closed' | 'open';
  /** The real runc; empty: found on PATH when the wrapper runs. */
  runc: string;
  /** dockerd's data root, where the wrapper reads a container's labels; empty: always ask the daemon. */
  dockerRoot: string;
}

export interface InstallOptions {
  dir: string;
  daemonJson: string;
  settings: RuntimeSettings;
  /** Where the built executables are (default: the package's build/Release). */
  from?: string;
}

interface InstallState {
  daemonJson: string;
  added: 'none' | 'key' | 'file';
}

/** Where the build put the executables: build/Release of this package. */
export function builtDir(): string {
  return fileURLToPath(new URL('../../../build/Release/', import.meta.url));
}

/** Writes a file next to its final name, then renames: readers see the old or the new file, never half of one. */
function writeAtomic(file: string, data: string | Buffer, mode: number): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.twine-tmp`);
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

function copyAtomic(src: string, dst: string): void {
  const tmp = path.join(path.dirname(dst), `.${path.basename(dst)}.twine-tmp`);
  copyFileSync(src, tmp);
  chmodSync(tmp, 0o755);
  // A running container's shim may be executing the old file: rename never touches it.
  renameSync(tmp, dst);
}

export function confText(s: RuntimeSettings): string {
  return (
    '# Written by `twine runtime install`; read by twine-runc.\n' +
    `socket=${s.socket}\ntimeout_ms=${s.timeoutMs}\nmode=${s.mode}\nrunc=${s.runc}\ndocker_root=${s.dockerRoot}\n`
  );
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function fileMode(file: string, fallback: number): number {
  try {
    return statSync(file).mode & 0o7777;
  } catch {
    return fallback;
  }
}

export interface InstallResult {
  wrapper: string;
  changedDaemonJson: boolean;
}

export function install(o: InstallOptions): InstallResult {
  const from = o.from ?? builtDir();
  if (!existsSync(path.join(from, WRAPPER))) throw new TwineError(`${path.join(from, WRAPPER)} is missing: build it with \`node scripts/build-native.mjs\` (npm ci does)`);
  if (!path.isAbsolute(o.dir)) throw new TwineError(`--dir ${o.dir}: expected an absolute path (dockerd runs the wrapper from there)`);
  mkdirSync(o.dir, { recursive: true, mode: 0o755 });
  copyAtomic(path.join(from, WRAPPER), path.join(o.dir, WRAPPER));
  rmSync(path.join(o.dir, OLD_HOOK), { force: true });
  writeAtomic(path.join(o.dir, CONF), confText(o.settings), 0o644);

  const wrapper = path.join(o.dir, WRAPPER);
  const before = readText(o.daemonJson);
  const r = addRuntime(before ?? '', wrapper, o.daemonJson);
  const statePath = path.join(o.dir, STATE);
  // A second install keeps what the first one added.
  const earlier = readState(statePath);
  const state: InstallState = { daemonJson: o.daemonJson, added: earlier?.daemonJson === o.daemonJson ? earlier.added : r.added };
  writeAtomic(statePath, `${JSON.stringify(state)}\n`, 0o644);
  if (r.text !== before) {
    mkdirSync(path.dirname(o.daemonJson), { recursive: true, mode: 0o755 });
    writeAtomic(o.daemonJson, r.text, fileMode(o.daemonJson, 0o644));
  }
  return { wrapper, changedDaemonJson: r.text !== before };
}

function readState(file: string): InstallState | undefined {
  const t = readText(file);
  if (t === undefined) return undefined;
  try {
    const s = JSON.parse(t) as InstallState;
    return typeof s.daemonJson === 'string' && ['none', 'key', 'file'].includes(s.added) ? s : undefined;
  } catch {
    return undefined;
  }
}

export interface UninstallResult {
  /** Install added `runtimes` (or the file): it goes once dockerd has reloaded without Twine (finishUninstall). */
  pendingKey?: 'key' | 'file';
}

/** Takes `twine` out of daemon.json and removes the files install put in `dir`. */
export function uninstall(o: { dir: string; daemonJson: string }): UninstallResult {
  const state = readState(path.join(o.dir, STATE));
  const before = readText(o.daemonJson);
  if (before !== undefined) {
    const after = removeRuntime(before, o.daemonJson);
    if (after !== before) writeAtomic(o.daemonJson, after, fileMode(o.daemonJson, 0o644));
  }
  for (const name of [WRAPPER, OLD_HOOK, CONF, STATE]) {
    try {
      unlinkSync(path.join(o.dir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  try {
    if (readdirSync(o.dir).length === 0) rmdirSync(o.dir);
  } catch {
    // not there, or not ours to remove
  }
  const added = state?.daemonJson === o.daemonJson ? state.added : 'none';
  return added === 'none' ? {} : { pendingKey: added };
}

/** Once dockerd no longer lists the runtime: removes the empty `runtimes` (or the file) install added. */
export function finishUninstall(daemonJson: string, added: 'key' | 'file'): void {
  const text = readText(daemonJson);
  if (text === undefined) return;
  const after = dropRuntimesKey(text, added, daemonJson);
  if (after === undefined) unlinkSync(daemonJson);
  else if (after !== text) writeAtomic(daemonJson, after, fileMode(daemonJson, 0o644));
}

/** dockerd's pid: from its pidfile, else the one process named dockerd. */
export function dockerdPid(pidfile: string): number {
  const t = readText(pidfile);
  if (t !== undefined) {
    const pid = Number(t.trim());
    if (Number.isInteger(pid) && pid > 0 && readText(`/proc/${pid}/comm`)?.trim() === 'dockerd') return pid;
  }
  const found: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    if (readTextQuiet(`/proc/${e}/comm`)?.trim() === 'dockerd') found.push(Number(e));
  }
  if (found.length === 1) return found[0]!;
  throw new TwineError(
    found.length === 0
      ? `no dockerd found (pidfile ${pidfile}, /proc); is it running, and does twine see the host's processes (pid: host)?`
      : `${found.length} dockerd processes (${found.join(', ')}) and none in ${pidfile}: give --dockerd-pidfile`,
  );
}

function readTextQuiet(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Sends SIGHUP to dockerd and waits (at most timeoutMs) until its runtimes do or do not list `twine`. */
export async function reloadDockerd(docker: DockerClient, pidfile: string, want: boolean, timeoutMs = 10_000): Promise<void> {
  const pid = dockerdPid(pidfile);
  process.kill(pid, 'SIGHUP');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await docker.getJson<{ Runtimes?: Record<string, unknown> }>('/info');
    if ((info.Runtimes?.[RUNTIME_NAME] !== undefined) === want) return;
    if (Date.now() > deadline) {
      throw new TwineError(`dockerd (pid ${pid}) still ${want ? 'does not list' : 'lists'} runtime ${RUNTIME_NAME} ${timeoutMs} ms after SIGHUP; see its log`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
