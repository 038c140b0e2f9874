// `twine status [container]`: what the running daemon applied, per container,
// from its status API (/api/containers over the unix socket, or --url).

import type { ContainerDoc } from '../server/api.js';
import { getJson } from '../server/client.js';
import { CLIENT_OPTIONS, clientFrom } from '../server/options.js';
import { errorText, formatLatency, renderTable } from '../server/table.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIO, type Command } from './command.js';
import type { OptionValues } from './options.js';

/** `twine status <name>`: the container's line plus what a user needs to act on it. */
export function renderDetail(d: ContainerDoc): string {
  const out = [renderTable([d]).trimEnd(), ''];
  out.push(`id:            ${d.id}`);
  out.push(`last apply:    ${d.lastApplyAt ?? 'never'}${d.lastLatencyMs !== undefined ? ` (${formatLatency(d.lastLatencyMs)} after the Docker event)` : ''}`);
  if (d.natInterfaces.length) out.push(`nat:           ${d.natInterfaces.join(', ')}`);
  if (d.dependencies && d.dependencies.refs.length) out.push(`depends on:    ${d.dependencies.refs.join(', ')}`);
  const labels = Object.entries(d.labels).filter(([k]) => k.startsWith('twine.'));
  if (labels.length) {
    out.push('labels:');
    for (const [k, v] of labels) out.push(`  ${k}=${v}`);
  }
  if (d.labelErrors.length) {
    out.push('label errors (nothing applied, last good state kept):');
    for (const i of d.labelErrors) out.push(`  ${i.key}=${JSON.stringify(i.value)}: ${i.reason}`);
  } else if (d.refusal) {
    out.push('refused (nothing written):');
    out.push(`  ${d.refusal.message}`);
  } else if (d.lastError) {
    out.push('last error (rolled back):');
    for (const l of d.lastError.split('\n')) out.push(`  ${l}`);
  }
  for (const w of d.warnings) out.push(`warning: ${w.key}: ${w.message}`);
  if (errorText(d) === '' && d.status === 'applied') out.push(`inspect:       nsenter -t <pid> -n nft list table inet twine; nsenter -t <pid> -n ip route show proto 74`);
  return `${out.join('\n')}\n`;
}

export async function runStatus(values: OptionValues, positionals: string[], io: CliIO): Promise<number> {
  const { endpoint, timeoutMs } = clientFrom(values);
  if (positionals.length > 1) {
    io.stderr('twine status: at most one container name\n');
    return EXIT_USAGE;
  }
  const name = positionals[0];
  try {
    if (name !== undefined) {
      const r = await getJson<ContainerDoc & { error?: string }>(endpoint, `/api/containers/${encodeURIComponent(name)}`, timeoutMs);
      if (r.status !== 200) {
        io.stderr(`twine status: ${r.body.error ?? `HTTP ${r.status}`}\n`);
        return EXIT_FAILURE;
      }
      io.stdout(values.json ? `${JSON.stringify(r.body, null, 2)}\n` : renderDetail(r.body));
      return EXIT_OK;
    }
    const r = await getJson<ContainerDoc[]>(endpoint, '/api/containers', timeoutMs);
    if (r.status !== 200 || !Array.isArray(r.body)) {
      io.stderr(`twine status: HTTP ${r.status}: ${JSON.stringify(r.body)}\n`);
      return EXIT_FAILURE;
    }
    io.stdout(values.json ? `${JSON.stringify(r.body, null, 2)}\n` : renderTable(r.body));
    return EXIT_OK;
  } catch (err) {
    io.stderr(`twine status: ${(err as Error).message}\n`);
    return EXIT_FAILURE;
  }
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'Show what the running daemon applied to each labelled container',
  description:
    'Asks the running `twine start` (over its unix socket, or --url) and prints one line per container:\n' +
    'state (applied, invalid, failed, refused, pending, stopped), routes, forwards, rules, the last apply latency\n' +
    '(Docker event to commit) and the error, naming the label. With a container name: its details.\n' +
    'Exit status: 0 the daemon answered (even if containers have errors), 1 daemon unreachable or\n' +
    'unknown container, 2 usage error.',
  options: [...CLIENT_OPTIONS, { name: 'json', type: 'boolean', description: 'Print the API documents (JSON) instead of a table' }],
  allowPositionals: true,
  run: (values, positionals, io) => runStatus(values, positionals, io),
};
