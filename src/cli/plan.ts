// `twine plan <container> [--json]`: what Twine would apply, changing nothing.

import { printableLines } from '../util/printable.js';
import { createDockerClient } from '../docker/client.js';
import { resolveDockerEndpoint } from '../docker/endpoint.js';
import { findByNameOrId } from '../docker/container-ref.js';
import { LabelError, UsageError } from '../errors.js';
import { planContainer } from '../engine/planner.js';
import { explainJson, explainText } from '../plan/explain.js';
import { EXIT_FAILURE, EXIT_OK, USAGE_EXIT, type Command } from './command.js';
import { readInventory } from './inventory.js';
import { DOCKER_OPTIONS } from './options.js';
import { HOST_NETNS_OPTION, HOST_ROUTES_ALLOW_OPTION, hostRoutesAllowFrom, LIMIT_OPTION_SPECS, limitsFrom } from './engine-options.js';
import { NetworkIndex } from '../docker/networks.js';
import { hostRoutePolicy } from '../engine/host-subnets.js';
import { BridgeMacs } from '../engine/bridge-macs.js';
import { HOST_ROUTES_LABEL, type HostRoutePolicy } from '../labels/host-routes.js';
import { nativeBackend } from '../netns/backend.js';
import type { Addr, Route } from '../netns/types.js';

export const planCommand: Command = {
  name: 'plan',
  summary: 'Show what Twine would apply to one container (changes nothing)',
  description:
    'Reads the running containers from Docker, resolves <container>\'s labels and prints the desired state,\n' +
    'the route operations and the nft table; --json adds the exact nft JSON batch (`nft`) Twine sends to a\n' +
    'namespace without its table: `twine plan app --json | jq .nft | nft -j -f -` checks it against a kernel.',
  options: [
    ...DOCKER_OPTIONS,
    { name: 'json', type: 'boolean', description: 'Print JSON instead of text' },
    { name: 'allow-host-routes', type: 'boolean', env: 'TWINE_ALLOW_HOST_ROUTES', default: false, description: 'Plan twine.host.routes as a daemon with the opt-in would' },
    HOST_NETNS_OPTION,
    HOST_ROUTES_ALLOW_OPTION,
    ...LIMIT_OPTION_SPECS,
  ],
  exitCodes: [
    [EXIT_OK, 'the plan was printed'],
    [EXIT_FAILURE, 'a label is invalid (every error is listed), no such running container, or Docker unreachable'],
    USAGE_EXIT,
  ],
  allowPositionals: true,
  async run(values, positionals, io) {
    if (positionals.length !== 1) throw new UsageError('twine plan takes exactly one container (name or id)');
    const target = positionals[0]!;
    const limits = limitsFrom(values);
    const allow = hostRoutesAllowFrom(values);
    const docker = createDockerClient(resolveDockerEndpoint(values['docker-socket'] as string | undefined, io.env));
    const found = await readInventory(docker);
    const info = findByNameOrId(found.containers, target);
    if (!info) {
      io.stderr(`twine plan: no running container ${JSON.stringify(target)}\n`);
      return EXIT_FAILURE;
    }
    // Its published ports' reply mark needs the bridges' MACs, as the daemon reads them.
    const bridges = new BridgeMacs(nativeBackend, [String(values['host-netns']), '/proc/self/ns/net']);
    if (info.published?.length) await bridges.ensure([], true).catch((err: unknown) => io.stderr(`twine plan: cannot read Docker's bridges (${(err as Error).message}): no reply mark for published ports here\n`));
    const inv = { ...found, bridgeMacs: bridges.current };
    let hostRoutes: HostRoutePolicy | undefined;
    if (values['allow-host-routes'] === true && info.labels[HOST_ROUTES_LABEL] !== undefined) {
      const networks = new NetworkIndex(docker);
      await networks.refresh();
      let addrs: Addr[] = [];
      let routes: Route[] = [];
      try {
        const host = { path: String(values['host-netns']) };
        [addrs, routes] = await Promise.all([nativeBackend.addrList(host), nativeBackend.routeList(host)]);
      } catch (err) {
        io.stderr(`twine plan: cannot read the addresses and routes in ${String(values['host-netns'])} (${(err as Error).message}): only Docker's networks count as connected subnets here\n`);
      }
      hostRoutes = hostRoutePolicy(addrs, networks.all(), allow, routes);
    }
    try {
      const dockerVersion = (await docker.version().catch(() => undefined))?.Version;
      const o = planContainer(info, inv, { allowHostRoutes: values['allow-host-routes'] === true, limits, ...(hostRoutes ? { hostRoutes } : {}), ...(dockerVersion ? { dockerVersion } : {}) });
      io.stdout(values.json ? `${JSON.stringify(explainJson(o.resolution, o.plan), null, 2)}\n` : `${printableLines(explainText(o.resolution, o.plan))}\n`);
      return EXIT_OK;
    } catch (err) {
      if (!(err instanceof LabelError)) throw err;
      if (values.json) io.stdout(`${JSON.stringify({ container: info.name, errors: err.issues }, null, 2)}\n`);
      else io.stderr(`${printableLines(err.message)}\n`);
      return EXIT_FAILURE;
    }
  },
};
