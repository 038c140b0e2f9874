// `twine start`: the daemon. For now it connects to Docker, reports every
// running container that carries twine.* labels, and follows the event stream
// (re-listing after every reconnect). Exits 0 within 2 s of SIGINT/SIGTERM.

import { createLogger, type Logger } from '../log.js';
import { createDockerClient, describeEndpoint, pingDocker, resolveDockerEndpoint } from '../docker/client.js';
import { DockerEventStream, type DockerEvent } from '../docker/events.js';
import { hasTwineLabels, listRunningContainers } from '../docker/inventory.js';
import { DOCKER_OPTIONS, LOG_OPTIONS, UsageError, type OptionValues } from './options.js';
import { EXIT_OK, type CliIO, type Command } from './command.js';
import { readVersion } from './version.js';

/** Container actions worth an info line; the rest (exec_*, health_status...) go to debug. */
const CONTAINER_ACTIONS = new Set(['create', 'start', 'restart', 'stop', 'die', 'kill', 'destroy', 'rename', 'pause', 'unpause']);

function twineLabels(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).filter(([k]) => k.startsWith('twine.')));
}

function logEvent(log: Logger, e: DockerEvent): void {
  const fields = { type: e.type, action: e.action, id: e.id.slice(0, 12), timeNano: e.timeNano.toString() };
  if (e.type === 'container') {
    const name = e.attributes.name;
    const labels = twineLabels(e.attributes);
    const level = CONTAINER_ACTIONS.has(e.action) ? 'info' : 'debug';
    log[level]({ ...fields, container: name, labels }, `container ${e.action}: ${name ?? e.id}`);
  } else {
    log.debug({ ...fields, network: e.attributes.name, container: e.attributes.container?.slice(0, 12) }, `network ${e.action}`);
  }
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
  const docker = createDockerClient(endpoint);
  log.info({ version: readVersion(), docker: describeEndpoint(endpoint) }, 'twine starting');

  let stopping = false;
  const events = new DockerEventStream({
    docker,
    onEvent: (e) => logEvent(log, e),
    onConnect: async ({ reconnect }) => {
      const v = await pingDocker(docker);
      const all = await listRunningContainers(docker);
      const labelled = all.filter((c) => hasTwineLabels(c.labels));
      log.info({ dockerVersion: v.version, apiVersion: v.apiVersion, reconnect }, 'connected to docker');
      for (const c of labelled) {
        log.info(
          { container: c.name, id: c.id.slice(0, 12), containerPid: c.pid, labels: twineLabels(c.labels), networks: c.networks.map((n) => n.networkName) },
          `labelled container: ${c.name}`,
        );
      }
      log.info({ running: all.length, labelled: labelled.length }, 'inventory synced');
    },
    onDisconnect: (err, retryInMs) => {
      if (!stopping) log.warn({ err: err.message, retryInMs }, 'docker unreachable; retrying');
    },
  });

  const done = new Promise<string>((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(sig);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  events.start();
  const signal = await done;
  stopping = true;
  const t0 = Date.now();
  // Safety net: whatever still holds the event loop, the process ends well within 2 s.
  setTimeout(() => process.exit(EXIT_OK), 1500).unref();
  await events.stop();
  log.info({ signal, stopMs: Date.now() - t0 }, 'twine stopped');
  await new Promise<void>((resolve) => log.flush(() => resolve()));
  return EXIT_OK;
}

export const startCommand: Command = {
  name: 'start',
  summary: 'Run the daemon against the Docker engine',
  description:
    'Connects to the Docker engine, reports every running container with twine.* labels and follows\n' +
    'the event stream, reconnecting with backoff (max 5 s). SIGINT or SIGTERM stops it with exit code 0.',
  options: [...DOCKER_OPTIONS, ...LOG_OPTIONS],
  run: (values, _positionals, io) => runStart(values, io),
};
