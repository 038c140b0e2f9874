// `twine runtime install|uninstall`: the fail-closed start (see ../runtime/install.ts).

import { createDockerClient } from '../docker/client.js';
import { resolveDockerEndpoint } from '../docker/endpoint.js';
import type { OptionValues } from '../util/options.js';
import type { DockerClient } from '../docker/api.js';
import { TwineError, UsageError } from '../errors.js';
import { DEFAULT_SOCKET } from '../server/instance.js';
import { mapLimit } from '../util/map-limit.js';
import {
  DEFAULT_DAEMON_JSON,
  DEFAULT_DIR,
  DEFAULT_PIDFILE,
  finishUninstall,
  install,
  reloadDockerd,
  uninstall,
  type RuntimeSettings,
} from '../runtime/install.js';
import { EXIT_FAILURE, EXIT_OK, USAGE_EXIT, type CliIO, type Command } from './command.js';
import { DOCKER_OPTIONS } from './options.js';

function settingsFrom(values: OptionValues): RuntimeSettings {
  const socket = String(values['hook-socket'] ?? DEFAULT_SOCKET);
  if (!socket.startsWith('/') || Buffer.byteLength(socket) >= 108) throw new UsageError(`--hook-socket ${JSON.stringify(socket)}: expected an absolute path under 108 bytes`);
  const raw = String(values['hook-timeout']);
  const secs = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw.trim()) || secs < 0.1 || secs > 600) throw new UsageError(`--hook-timeout ${JSON.stringify(raw)}: expected 0.1 to 600 seconds`);
  const runc = String(values.runc ?? '');
  if (runc !== '' && !runc.startsWith('/')) throw new UsageError(`--runc ${JSON.stringify(runc)}: expected an absolute path`);
  const dockerRoot = String(values['docker-root'] ?? '');
  if (dockerRoot !== '' && !dockerRoot.startsWith('/')) throw new UsageError(`--docker-root ${JSON.stringify(dockerRoot)}: expected an absolute path, or "" to always ask the daemon`);
  if (/[\n\r]/.test(socket + runc + dockerRoot)) throw new UsageError('paths must not contain line breaks');
  return { socket, timeoutMs: Math.round(secs * 1000), mode: values['hook-mode'] === 'open' ? 'open' : 'closed', runc, dockerRoot };
}

/** Containers that were created with the runtime: their shim runs the wrapper for as long as they exist. */
async function containersUsingRuntime(docker: DockerClient): Promise<string[]> {
  const all = await docker.getJson<{ Id: string; Names?: string[] }[]>('/containers/json?all=1');
  const using = await mapLimit(all, 8, async (c) => {
    const i = (await docker.inspectContainer(c.Id).catch(() => undefined)) as { HostConfig?: { Runtime?: string } } | undefined;
    return i?.HostConfig?.Runtime === 'twine' ? (c.Names?.[0] ?? c.Id).replace(/^\//, '') : undefined;
  });
  return using.filter((x): x is string => x !== undefined);
}

async function run(values: OptionValues, positionals: string[], io: CliIO): Promise<number> {
  const [action, ...extra] = positionals;
  if ((action !== 'install' && action !== 'uninstall') || extra.length > 0) throw new UsageError('expected `twine runtime install` or `twine runtime uninstall`');
  const dir = String(values.dir);
  const daemonJson = String(values['daemon-json']);
  const reload = values.reload === true;
  const pidfile = String(values['dockerd-pidfile']);
  const docker = (): DockerClient => createDockerClient(resolveDockerEndpoint(values['docker-socket'] as string | undefined, io.env));
  if (action === 'install') {
    const r = install({ dir, daemonJson, settings: settingsFrom(values) });
    io.stdout(`installed ${r.wrapper}; ${daemonJson} ${r.changedDaemonJson ? 'now registers' : 'already registered'} runtime twine\n`);
    if (reload) {
      await reloadDockerd(docker(), pidfile, true);
      io.stdout('dockerd reloaded: containers can use --runtime twine\n');
    } else {
      io.stdout('dockerd reads it on its next reload (kill -HUP $(pidof dockerd)) or restart; or run this with --reload\n');
    }
    return EXIT_OK;
  }
  if (values.force !== true) {
    const using = await containersUsingRuntime(docker()).catch((err: unknown) => {
      throw new TwineError(`cannot check which containers use the runtime (${(err as Error).message}); give --force to uninstall anyway`);
    });
    if (using.length > 0) {
      throw new TwineError(`containers created with --runtime twine still exist (${using.join(', ')}): Docker runs the wrapper to stop and remove them; remove them first, or give --force`);
    }
  }
  const r = uninstall({ dir, daemonJson });
  io.stdout(`removed runtime twine from ${daemonJson} and its files from ${dir}\n`);
  if (reload) {
    await reloadDockerd(docker(), pidfile, false);
    if (r.pendingKey) finishUninstall(daemonJson, r.pendingKey);
    io.stdout(`dockerd reloaded without runtime twine; ${daemonJson} is as it was before install\n`);
  } else if (r.pendingKey) {
    io.stdout(
      `${daemonJson} keeps an empty "runtimes": {} that install added: dockerd re-reads runtimes on SIGHUP only when the key is there.\n` +
        'After the next reload it may go; `twine runtime uninstall --reload` removes it for you.\n',
    );
  }
  return EXIT_OK;
}

export const runtimeCommand: Command = {
  name: 'runtime',
  summary: 'Install or uninstall the twine runtime: a labelled container starts only once Twine has applied it',
  allowPositionals: true,
  exitCodes: [
    [EXIT_OK, 'installed (with --reload: dockerd lists the runtime), or uninstalled'],
    [EXIT_FAILURE, 'daemon.json unreadable or not a JSON object, files not writable, no dockerd to reload, dockerd did not reload in 10 s, or containers still use the runtime'],
    USAGE_EXIT,
  ],
  description:
    'twine runtime install|uninstall: puts twine-runc (a wrapper around runc) in --dir and registers it as runtime\n' +
    '"twine" in --daemon-json, keeping the rest of the file byte for byte. Containers run with --runtime twine\n' +
    '(compose: runtime: twine) then start only after the daemon, asked by the wrapper when runc is told to start them\n' +
    'over --hook-socket, has committed and verified their routes and rules; if it cannot within --hook-timeout the\n' +
    'start fails with its reason (--hook-mode open: the start goes on, with a warning in the log). Containers without\n' +
    'twine.* labels pass straight through. --reload makes dockerd re-read daemon.json (SIGHUP) and waits for it.\n' +
    'uninstall leaves daemon.json as install found it (with --reload; without, an empty "runtimes" it added stays).',
  options: [
    { name: 'dir', type: 'string', env: 'TWINE_RUNTIME_DIR', valueName: 'dir', default: DEFAULT_DIR, description: 'Where the executables go, as the host sees it' },
    { name: 'daemon-json', type: 'string', env: 'TWINE_DAEMON_JSON', valueName: 'path', default: DEFAULT_DAEMON_JSON, description: "Docker's daemon.json" },
    { name: 'reload', type: 'boolean', default: false, description: 'SIGHUP dockerd and wait until it (no longer) lists the runtime' },
    { name: 'hook-socket', type: 'string', env: 'TWINE_HOOK_SOCKET', valueName: 'path', default: DEFAULT_SOCKET, description: "The daemon's unix socket (its --socket) as the host sees it" },
    { name: 'hook-timeout', type: 'string', env: 'TWINE_HOOK_TIMEOUT', valueName: 'seconds', default: '10', description: 'How long a start waits for the daemon (also while it restarts)' },
    { name: 'hook-mode', type: 'string', env: 'TWINE_HOOK_MODE', valueName: 'closed|open', default: 'closed', choices: ['closed', 'open'], description: 'closed: the start fails when Twine cannot apply; open: it goes on with a warning' },
    { name: 'runc', type: 'string', env: 'TWINE_RUNC', valueName: 'path', description: 'The real runc (default: the first runc on the PATH dockerd gives the wrapper)' },
    {
      name: 'docker-root',
      type: 'string',
      env: 'TWINE_DOCKER_ROOT',
      valueName: 'dir',
      default: '/var/lib/docker',
      description: "dockerd's data root: the wrapper reads a container's labels there, so unlabelled ones start even while Twine is down (\"\": always ask Twine)",
    },
    { name: 'dockerd-pidfile', type: 'string', env: 'TWINE_DOCKERD_PIDFILE', valueName: 'path', default: DEFAULT_PIDFILE, description: "dockerd's pidfile, for --reload (else the one dockerd process)" },
    { name: 'force', type: 'boolean', default: false, description: 'uninstall even while containers created with the runtime exist' },
    ...DOCKER_OPTIONS,
  ],
  run,
};
