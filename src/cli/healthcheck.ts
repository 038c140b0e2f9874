// `twine healthcheck`: exit 0 when the running daemon reports healthy, 1
// otherwise. For the image's HEALTHCHECK and for scripts.

import type { HealthDoc } from '../server/api.js';
import { getJson } from '../server/client.js';
import { CLIENT_OPTIONS, clientFrom } from '../server/options.js';
import { EXIT_FAILURE, EXIT_OK, USAGE_EXIT, type CliIO, type Command } from './command.js';
import type { OptionValues } from '../util/options.js';

export async function runHealthcheck(values: OptionValues, io: CliIO): Promise<number> {
  const { endpoint, timeoutMs } = clientFrom(values);
  try {
    const r = await getJson<HealthDoc>(endpoint, '/healthz', timeoutMs);
    const h = r.body;
    if (r.status === 200 && h.ok) {
      if (!values.quiet) io.stdout(`healthy: docker connected, ${h.containers} container(s), ${h.errors} with errors\n`);
      return EXIT_OK;
    }
    io.stderr(`unhealthy: ${h.reason ?? `HTTP ${r.status}`}\n`);
    return EXIT_FAILURE;
  } catch (err) {
    io.stderr(`unhealthy: ${(err as Error).message}\n`);
    return EXIT_FAILURE;
  }
}

export const healthcheckCommand: Command = {
  name: 'healthcheck',
  summary: 'Exit 0 when the running daemon is healthy, 1 when not (for HEALTHCHECK)',
  description:
    'Healthy = the daemon answers on its socket (or --url), is connected to Docker and finished its\n' +
    'first reconcile. Containers with label errors do not make it unhealthy (see `twine status`).',
  options: [...CLIENT_OPTIONS, { name: 'quiet', type: 'boolean', short: 'q', description: 'Print nothing when healthy' }],
  exitCodes: [
    [EXIT_OK, 'healthy'],
    [EXIT_FAILURE, 'unhealthy (the reason is printed) or the daemon does not answer'],
    USAGE_EXIT,
  ],
  run: (values, _positionals, io) => runHealthcheck(values, io),
};
