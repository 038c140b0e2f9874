// `twine cleanup`: take back everything Twine wrote. For a container, that is
// the plan of the same container without its twine labels (no routes of
// Twine's protocol, no table, Docker's default route back), applied by the
// ordinary transaction; for the host, deleting every route of Twine's
// protocol. Sysctls are left as they are: Twine does not know what they were
// before, and they die with the namespace.

import { createDockerClient } from '../docker/client.js';
import type { ContainerInfo, Inventory } from '../docker/container.js';
import { resolveDockerEndpoint } from '../docker/endpoint.js';
import { planContainer } from '../engine/planner.js';
import { hostNamespaceInodes, openOwnNamespace } from '../engine/ownership.js';
import { applyRoutesBestEffort } from '../engine/route-apply.js';
import { applyPlan, type Applier } from '../engine/transaction.js';
import { describeError, EXIT_ALREADY_RUNNING, NamespaceRefusedError, UsageError } from '../errors.js';
import { isTwineLabel } from '../labels/visible.js';
import type { Logger } from '../log.js';
import { TWINE_RT_PROTO } from '../netns/types.js';
import type { Plan } from '../plan/types.js';
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
        const c = inv.containers.find((x) => x.name === p || x.id === p || (p.length >= 4 && x.id.startsWith(p)));
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

/** The plan that leaves no trace of Twine in a container's namespace: its own without the twine labels. */
export function emptyPlan(info: ContainerInfo, inv: Inventory): Plan {
  const labels = Object.fromEntries(Object.entries(info.labels).filter(([k]) => !isTwineLabel(k)));
  return planContainer({ ...info, labels }, inv, { allowHostRoutes: false }).plan;
}

export interface CleanupReport {
  containers: number;
  changed: string[];
  /** Containers not in a namespace of their own (host mode, container:<x>): not touched. */
  skipped: string[];
  hostRoutesDeleted: number;
  errors: string[];
}

export async function cleanupAll(
  a: Applier,
  inv: Inventory,
  hostNetns: string | undefined,
  log: Logger,
  /** Clean only these containers (ids); default every running one. */
  only?: ReadonlySet<string>,
): Promise<CleanupReport> {
  const report: CleanupReport = { containers: 0, changed: [], skipped: [], hostRoutesDeleted: 0, errors: [] };
  const hostNs = hostNamespaceInodes(hostNetns);
  for (const c of inv.containers) {
    if (!c.running || c.pid <= 0 || (only !== undefined && !only.has(c.id))) continue;
    report.containers++;
    try {
      // Only a container's own namespace: a host-mode one's is the host's, whose table and routes are not a label's.
      const handle = openOwnNamespace(c, { hostInodes: hostNs, containers: inv.containers });
      let r;
      try {
        r = await applyPlan(a, { ...emptyPlan(c, inv), ns: handle.target }, { fresh: false });
      } finally {
        handle.close();
      }
      if (!r.noop) {
        report.changed.push(c.name);
        log.info({ container: c.name, routesRemoved: r.routesDeleted.length + r.routesReplaced.length, nftCommands: r.nftCommands }, 'cleaned');
      }
    } catch (err) {
      if (err instanceof NamespaceRefusedError) {
        report.skipped.push(c.name);
        log.info({ container: c.name, reason: err.message }, 'not cleaned: not its own namespace');
        continue;
      }
      // Keep going: one container that died meanwhile must not stop the rest.
      report.errors.push(`${c.name}: ${describeError(err)}`);
    }
  }
  if (hostNetns) {
    const ns = { path: hostNetns };
    try {
      const done = await applyRoutesBestEffort(a.netns, ns, { replace: [], del: await a.netns.routeList(ns, { protocol: TWINE_RT_PROTO }) });
      report.hostRoutesDeleted = done.deleted.length;
      for (const f of done.failures) report.errors.push(`host route ${f.route.dst}: ${describeError(f.error)}`);
    } catch (err) {
      report.errors.push(`host namespace ${hostNetns}: ${describeError(err)}`);
    }
  }
  return report;
}
