// `twine status` as a table: one line per container, the error (if any) last
// and in full, so the line a user greps for names the container and the label.

import type { ContainerDoc, Counts } from './api.js';
import { printable } from '../util/printable.js';

const HEADERS = ['CONTAINER', 'STATE', 'ROUTES', 'FORWARDS', 'RULES', 'LATENCY', 'ERROR'] as const;

function counts(c: Counts): string {
  if (c.up + c.down === 0) return '-';
  return c.down > 0 ? `${c.up + c.down} (${c.down} down)` : String(c.up);
}

export function formatLatency(ms: number | undefined): string {
  if (ms === undefined) return '-';
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** The error column: label errors as `key: reason` (all of them), else the last transaction error's first line. */
export function errorText(c: Pick<ContainerDoc, 'labelErrors' | 'lastError'>): string {
  if (c.labelErrors.length > 0) return c.labelErrors.map((i) => `${i.key}: ${i.reason}`).join('; ');
  if (c.lastError) return c.lastError.split('\n')[0]!;
  return '';
}

/** The leaks a container's warnings report ("dns-leak", "ipv6-bypass"), in their order. */
export function leaksOf(c: Pick<ContainerDoc, 'warnings'>): string[] {
  return (c.warnings ?? []).flatMap((w) => (w.leak ? [w.leak] : []));
}

/** The last column: the error, else the leaks (the detail view has their fix). */
function lastColumn(d: ContainerDoc): string {
  const e = errorText(d);
  const leaks = leaksOf(d);
  return e !== '' || leaks.length === 0 ? e : `warning: ${leaks.join(', ')} (twine status ${d.name})`;
}

export function renderTable(docs: readonly ContainerDoc[]): string {
  if (docs.length === 0) return 'no containers with twine.* labels\n';
  const rows = docs.map((d) => [d.name, d.status, counts(d.routes), counts(d.forwards), counts(d.rules), formatLatency(d.lastLatencyMs), lastColumn(d)].map(printable));
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(HEADERS), ...rows.map(line)].join('\n')}\n`;
}
