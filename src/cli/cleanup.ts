// `twine cleanup`: its options, the refusal while a daemon runs, and the
// report. What is taken back, and how: ../engine/cleanup.ts.

import { createDockerClient } from '../docker/client.js';
import { findByNameOrId } from '../docker/container-ref.js';
import { resolveDockerEndpoint } from '../docker/endpoint.js';
import { cleanupAll } from '../engine/cleanup.js';
import { EXIT_ALREADY_RUNNING, UsageError } from '../errors.js';
import { selectTransport, type TransportChoice } from '../firewall/select.js';
import { createLogger } from '../log.js';
import { nativeBackend } from '../netns/backend.js';
import { socketAlive } from '../server/instance.js';
import { SOCKET_OPTION } from '../server/options.js';
import { EXIT_FAILURE, EXIT_OK, USAGE_EXIT, type CliIO, type Command } from './command.js';
import { HOST_NETNS_OPTION, NFT_TRANSPORT_OPTION } from './engine-options.js';
import { readInventory } from './inventory.js';
import { DOCKER_OPTIONS, LOG_OPTIONS } from './options.js';

export const cleanupCommand: Command = {
  name: 'cleanup',
  summary: 'Remove every route, table and host route Twine wrote',
  allowPositionals: true,
  description:
    'twine cleanup [container...]: with containers named (names or ids), cleans only those and leaves the host alone.\n' +
    'For every running container: deletes `table inet twine`, deletes the routes of Twine\'s protocol (74) and\n' +
    'puts back the default route Docker gave it; on the host (--host-netns): deletes the routes of protocol 74.\n' +
    'Sysctls (ip_forward, route_localnet) are left as they are. Refuses while a daemon answers on --socket\n' +
    '(stop it first): a running daemon puts back what was removed at its next re-check (--resync-interval) or\n' +
    'at the next Docker event of the container, and until then reports it as applied. --force cleans anyway.',
  exitCodes: [
    [EXIT_OK, 'everything Twine wrote is removed'],
    [EXIT_FAILURE, 'something could not be removed (each failure is printed; the rest is still cleaned), or Docker unreachable'],
    [USAGE_EXIT[0], `${USAGE_EXIT[1]}, or a named container is not running`],
    [EXIT_ALREADY_RUNNING, 'a twine daemon answers on --socket: stop it first, or pass --force'],
  ],
  options: [
    { ...SOCKET_OPTION, description: "A running daemon's unix socket: cleanup refuses while one answers there" },
    { name: 'force', type: 'boolean', short: 'f', default: false, description: 'Clean even while a daemon answers on --socket' },
    ...DOCKER_OPTIONS,
    ...LOG_OPTIONS,
    HOST_NETNS_OPTION,
    { name: 'no-host', type: 'boolean', env: 'TWINE_CLEANUP_NO_HOST', default: false, description: 'Leave the host namespace alone' },
    NFT_TRANSPORT_OPTION,
  ],
  async run(values, positionals, io) {
    if (values.force !== true && (await refuseWhileRunning(String(values.socket), io))) return EXIT_ALREADY_RUNNING;
    const log = createLogger({ level: values['log-level'] as string, pretty: values['log-format'] === 'pretty' });
    const docker = createDockerClient(resolveDockerEndpoint(values['docker-socket'] as string | undefined, io.env));
    const inv = await readInventory(docker);
    const nft = selectTransport(values['nft-transport'] as TransportChoice);
    let only: Set<string> | undefined;
    if (positionals.length > 0) {
      only = new Set();
      for (const p of positionals) {
        const c = findByNameOrId(inv.containers, p);
        if (!c) throw new UsageError(`twine cleanup: no running container ${JSON.stringify(p)}`);
        only.add(c.id);
      }
    }
    const host = values['no-host'] || only ? undefined : String(values['host-netns']);
    const report = await cleanupAll({ netns: nativeBackend, nft }, inv, host, log, only);
    io.stdout(
      `cleaned ${report.changed.length} of ${report.containers} running containers` +
        `${report.changed.length ? ` (${report.changed.join(', ')})` : ''}; ${report.hostRoutesDeleted} host routes removed\n`,
    );
    if (report.skipped.length) io.stdout(`not touched (not in a network namespace of their own): ${report.skipped.join(', ')}\n`);
    for (const e of report.errors) io.stderr(`twine cleanup: ${e}\n`);
    return report.errors.length ? EXIT_FAILURE : EXIT_OK;
  },
};

/** True (after saying why) when a daemon answers on `socket`, or when that cannot be told. */
async function refuseWhileRunning(socket: string, io: CliIO): Promise<boolean> {
  if (socket === '' || socket === 'none') return false;
  let why: string;
  try {
    if (!(await socketAlive(socket))) return false;
    why = `a twine daemon is running (socket ${socket} answers)`;
  } catch (err) {
    why = `cannot tell whether a twine daemon holds ${socket} (${(err as Error).message})`;
  }
  io.stderr(
    `twine cleanup: ${why}; stop it first: it would put back what cleanup removes at its next re-check or Docker event, ` +
      'and report it applied until then. --force cleans anyway.\n',
  );
  return true;
}
