// `twine start`: the daemon. Binds the status socket first (one twine per
// host), then follows Docker's events and applies every labelled container's
// transactions until SIGINT/SIGTERM; in-flight transactions finish, what was
// applied stays in the namespaces.

import { createLogger } from '../log.js';
import { createDockerClient } from '../docker/client.js';
import { describeEndpoint, resolveDockerEndpoint } from '../docker/endpoint.js';
import type { OptionValues } from '../util/options.js';
import { buildIdentity, readVersion } from '../util/version.js';
import { Daemon } from '../engine/daemon.js';
import { selectTransport } from '../firewall/select.js';
import { nativeBackend, setReadLimits } from '../netns/backend.js';
import { startServer, type RunningServer } from '../server/http.js';
import { Metrics } from '../server/metrics.js';
import { SERVER_OPTIONS, serverOptionsFrom } from '../server/options.js';
import { daemonView } from '../server/view.js';
import { ENGINE_OPTIONS, engineSettings, inspectCacheFile, planMemoFile } from './engine-options.js';
import { DOCKER_OPTIONS, LOG_OPTIONS } from './options.js';
import { EXIT_FAILURE, EXIT_OK, USAGE_EXIT, type CliIO, type Command } from './command.js';
import { setProcessNice } from '../util/priority.js';
import { AlreadyRunningError, EXIT_ALREADY_RUNNING, UsageError } from '../errors.js';

/** In-flight transactions get this long to finish after SIGINT/SIGTERM. */
const SHUTDOWN_GRACE_MS = 1500;

/** Resolves with the first SIGINT or SIGTERM. */
function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(sig);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export async function runStart(values: OptionValues, io: CliIO): Promise<number> {
  const format = values['log-format'] as string;
  const log = createLogger({
    level: values['log-level'] as string,
    pretty: format === 'auto' ? process.stdout.isTTY === true : format === 'pretty',
  });
  let endpoint;
  try {
    endpoint = resolveDockerEndpoint(values['docker-socket'] as string | undefined, io.env);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const settings = engineSettings(values);
  const serverOpts = serverOptionsFrom(values);
  const nft = selectTransport(settings.nftTransport);
  const docker = createDockerClient(endpoint);
  const cacheFile = inspectCacheFile(settings.inspectCache, serverOpts.socket);
  const files = cacheFile !== undefined ? { inspectCacheFile: cacheFile, planMemoFile: planMemoFile(cacheFile) } : {};
  // What one read of a container's namespace may take follows what one container may ask for.
  const readLimits = setReadLimits(settings.limits);
  const daemon = new Daemon(docker, nativeBackend, nft, log, { ...settings, ...files, build: buildIdentity() });
  const metrics = new Metrics();
  daemon.engine.on('transaction', (e) => metrics.onTransaction(e));
  let server: RunningServer;
  try {
    server = await startServer({
      view: daemonView(daemon.engine, daemon.events),
      metrics,
      ...serverOpts,
      runtimeHook: (id, pid) => daemon.engine.runtimeApply(id, pid),
      log,
    });
  } catch (err) {
    if (err instanceof AlreadyRunningError) {
      io.stderr(`twine: ${err.message}\n`);
      await new Promise<void>((resolve) => log.flush(() => resolve()));
      return EXIT_ALREADY_RUNNING;
    }
    log.error({ err }, 'cannot start the status server');
    return EXIT_FAILURE;
  }
  // One line, once this daemon holds the socket (the one-per-host lock): a refused start logs nothing.
  log.info(
    {
      version: readVersion(),
      docker: describeEndpoint(endpoint),
      nftTransport: nft.name,
      allowHostRoutes: settings.allowHostRoutes,
      applyBeforeStart: settings.applyBeforeStart,
      nice: settings.nice,
      limits: settings.limits,
      hostNetns: settings.allowHostRoutes ? settings.hostNetns : undefined,
      hostRoutesAllow: settings.hostRoutesAllow?.map((c) => `${c.addr}/${c.prefixLen}`),
      listen: server.tcp ? `${server.tcp.host}:${server.tcp.port}` : 'off',
      socket: server.socket ?? 'off',
    },
    'twine starting',
  );
  log.debug({ readLimits }, 'namespace read limits');
  if (settings.nice !== 0) {
    const r = setProcessNice(settings.nice);
    if (r.failed > 0) log.warn({ nice: settings.nice, threads: r.threads, failed: r.failed, err: r.error }, 'could not set the CPU priority of every thread');
  }

  const done = stopSignal();
  daemon.start();
  const signal = await done;
  const t0 = Date.now();
  // Safety net: whatever still holds the event loop, the process ends within 2 s.
  setTimeout(() => process.exit(EXIT_OK), SHUTDOWN_GRACE_MS + 400).unref();
  const drained = await daemon.stop(SHUTDOWN_GRACE_MS);
  await server.close();
  log.info({ signal, stopMs: Date.now() - t0, drained }, 'twine stopped; what was applied stays in place');
  await new Promise<void>((resolve) => log.flush(() => resolve()));
  return EXIT_OK;
}

export const startCommand: Command = {
  name: 'start',
  summary: 'Run the daemon against the Docker engine',
  description:
    'Applies the twine.* labels of every running container and keeps them true as containers start, stop and\n' +
    'move: routes and sysctls through netlink, firewall rules as one nft batch per container. Follows Docker\'s\n' +
    'event stream (reconnecting with backoff, max 5 s, and re-syncing after each reconnect) and re-checks\n' +
    'everything every --resync-interval. SIGINT or SIGTERM: in-flight transactions finish, exit 0; what was\n' +
    'applied stays. An unreachable Docker is not an exit: the daemon keeps retrying, `twine status` and\n' +
    '/healthz say since when and why it is not connected.',
  options: [...DOCKER_OPTIONS, ...ENGINE_OPTIONS, ...SERVER_OPTIONS, ...LOG_OPTIONS],
  exitCodes: [
    [EXIT_OK, 'stopped by SIGINT or SIGTERM; in-flight transactions finished, what was applied stays'],
    [EXIT_FAILURE, 'runtime failure (e.g. the status server could not bind --listen)'],
    USAGE_EXIT,
    [EXIT_ALREADY_RUNNING, 'another twine already holds --socket'],
  ],
  run: (values, _positionals, io) => runStart(values, io),
};
