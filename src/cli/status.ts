// `twine status [container]`: what the running daemon applied, per container,
// from its status API (/api/containers over the unix socket, or --url).

import type { ContainerDoc, HealthDoc } from '../server/api.js';
import { isTwineLabel } from '../labels/visible.js';
import type { DesiredState, Peer } from '../resolve/desired.js';
import { getJson } from '../server/client.js';
import { CLIENT_OPTIONS, clientFrom } from '../server/options.js';
import { errorText, formatLatency, renderTable } from '../server/table.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, USAGE_EXIT, type CliIO, type Command } from './command.js';
import type { OptionValues } from '../util/options.js';
import { printable } from '../util/printable.js';

/**
 * One line per label that names a destination: what it resolved to, or why it is down
 * (a route is then unreachable, a forward or rule left out).
 */
export function referenceLines(desired: unknown): string[] {
  if (desired === null || typeof desired !== 'object') return [];
  const d = desired as Partial<DesiredState>;
  const via = (p: Peer | undefined): string => (p ? ` (${p.name} on ${p.network})` : '');
  const out: string[] = [];
  for (const r of d.routes ?? []) {
    out.push(r.state === 'down' ? `${r.label} → ${r.dest}: down, ${r.reason ?? 'unresolved'}; the route is unreachable` : `${r.label} → ${r.dest}: up, gateway ${r.gateway ?? '?'}${via(r.via)}`);
  }
  for (const f of d.forwards ?? []) {
    const file = f.portFile;
    const fromFile = file && f.state === 'up' ? `port ${f.port.lo} from ${file.path}${file.problem ? ` (kept: ${file.problem})` : ''}, ` : '';
    out.push(
      f.state === 'down'
        ? `${f.label} → ${f.dest}: down, ${f.reason ?? 'unresolved'}; not forwarded`
        : `${f.label} → ${f.dest}: up, ${fromFile}${f.targets.map((t) => `${t.ip}${via(t.via)}`).join(', ')}`,
    );
  }
  for (const w of d.whitelists ?? []) {
    for (const side of [w.from, w.to]) {
      if (!side) continue;
      const nets = [...side.v4, ...side.v6];
      const down = side.down?.length ? `; ${side.down.join(', ')} not resolved (allows nothing)` : '';
      out.push(`${side.label}: ${nets.length ? nets.join(', ') : 'nothing'}${down}`);
    }
  }
  for (const r of d.rules ?? []) if (r.state === 'down') out.push(`${r.label}: down, ${r.reason ?? 'unresolved'}; rule left out`);
  for (const h of d.hostRoutes ?? []) if (h.reason) out.push(`twine.host.routes ${h.dst}: skipped, ${h.reason}`);
  return out;
}

/** `twine status <name>`: the container's line plus what a user needs to act on it. */
export function renderDetail(d: ContainerDoc): string {
  const out = [...renderTable([d]).trimEnd().split('\n'), ''];
  out.push(`id:            ${d.id}`);
  out.push(`last apply:    ${d.lastApplyAt ?? 'never'}${d.lastLatencyMs !== undefined ? ` (${formatLatency(d.lastLatencyMs)} after the Docker event)` : ''}`);
  if (d.natInterfaces.length) out.push(`nat:           ${d.natInterfaces.join(', ')}`);
  if (d.killSwitchDropped !== undefined) out.push(`kill switch:   ${d.killSwitchDropped} packets dropped (nft list counter inet twine killswitch)`);
  if (d.whitelistDropped !== undefined) out.push(`whitelists:    ${d.whitelistDropped} packets dropped (nft list counter inet twine whitelist)`);
  if (d.dependencies && d.dependencies.refs.length) out.push(`depends on:    ${d.dependencies.refs.join(', ')}`);
  const refs = referenceLines(d.desired);
  if (refs.length) out.push('references:', ...refs.map((l) => `  ${l}`));
  const labels = Object.entries(d.labels).filter(([k]) => isTwineLabel(k));
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
  for (const w of d.warnings) out.push(`warning: ${w.leak ?? w.key}: ${w.message}`);
  if (errorText(d) === '' && d.status === 'applied') out.push(`inspect:       nsenter -t <pid> -n nft list table inet twine; nsenter -t <pid> -n ip route show proto 74`);
  // Each entry is one line: a control character (or a line break) in a label, a name or an error shows escaped.
  return `${out.map(printable).join('\n')}\n`;
}

/** "docker: not connected since <time> (<reason>)", from the daemon's /healthz. */
export function dockerDownText(h: Partial<HealthDoc>): string {
  const since = h.dockerDownSince ? ` since ${h.dockerDownSince}` : '';
  return `docker: not connected${since}${h.dockerError ? ` (${h.dockerError})` : ''}; the daemon keeps retrying, what it shows may be stale`;
}

export async function runStatus(values: OptionValues, positionals: string[], io: CliIO): Promise<number> {
  const { endpoint, timeoutMs } = clientFrom(values);
  if (positionals.length > 1) {
    io.stderr('twine status: at most one container name\n');
    return EXIT_USAGE;
  }
  const name = positionals[0];
  try {
    // What the daemon shows is only as current as its view of Docker: say so, and exit 1.
    const health = (await getJson<Partial<HealthDoc>>(endpoint, '/healthz', timeoutMs)).body;
    const dockerDown = health.dockerConnected === false;
    if (dockerDown) io.stderr(`${printable(dockerDownText(health))}\n`);
    const done = dockerDown ? EXIT_FAILURE : EXIT_OK;
    if (name !== undefined) {
      const r = await getJson<ContainerDoc & { error?: string }>(endpoint, `/api/containers/${encodeURIComponent(name)}`, timeoutMs);
      if (r.status !== 200) {
        io.stderr(`twine status: ${printable(r.body.error ?? `HTTP ${r.status}`)}\n`);
        return EXIT_FAILURE;
      }
      io.stdout(values.json ? `${JSON.stringify(r.body, null, 2)}\n` : renderDetail(r.body));
      return done;
    }
    const r = await getJson<ContainerDoc[]>(endpoint, '/api/containers', timeoutMs);
    if (r.status !== 200 || !Array.isArray(r.body)) {
      io.stderr(`twine status: HTTP ${r.status}: ${JSON.stringify(r.body)}\n`);
      return EXIT_FAILURE;
    }
    io.stdout(values.json ? `${JSON.stringify(r.body, null, 2)}\n` : renderTable(r.body));
    return done;
  } catch (err) {
    io.stderr(`twine status: ${printable((err as Error).message)}\n`);
    return EXIT_FAILURE;
  }
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'Show what the running daemon applied to each labelled container',
  description:
    'Asks the running `twine start` (over its unix socket, or --url) and prints one line per container:\n' +
    'state (applied, invalid, failed, refused, pending, stopped), routes, forwards, rules, the last apply latency\n' +
    '(Docker event to commit) and the error, naming the label. With a container name: its details, and\n' +
    'each reference its labels make, with why it is down. When the daemon has lost Docker it says\n' +
    '"docker: not connected since <time> (<reason>)": what it shows may be stale until Docker is back.',
  exitCodes: [
    [EXIT_OK, 'the daemon answered and is connected to Docker (even if some containers have errors)'],
    [EXIT_FAILURE, 'the daemon does not answer, is not connected to Docker, or does not know the named container'],
    USAGE_EXIT,
  ],
  options: [...CLIENT_OPTIONS, { name: 'json', type: 'boolean', description: 'Print the API documents (JSON) instead of a table' }],
  allowPositionals: true,
  run: (values, positionals, io) => runStatus(values, positionals, io),
};
