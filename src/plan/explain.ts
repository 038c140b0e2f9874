// Renderers for `twine plan`: what Twine would do for one container, as text
// for people and as JSON for tools. Pure; the CLI prints the result.

import { freshTableBatch } from '../firewall/batch.js';
import { TABLE_FAMILY, TABLE_NAME, type NftBatch, type NftExpr, type TableDef } from '../firewall/nft.js';
import type { Route } from '../netns/types.js';
import type { DesiredState, Resolution } from '../resolve/desired.js';
import type { Plan } from './types.js';

export interface PlanReport {
  container: Plan['container'];
  desired: DesiredState;
  deps: string[];
  refs: string[];
  unresolved: Resolution['unresolved'];
  plan: Plan;
  /** The exact batch Twine sends to a namespace without its table (`nft -j -f -` takes it as is). */
  nft: NftBatch;
}

export function explainJson(res: Resolution, plan: Plan): PlanReport {
  return {
    container: plan.container,
    desired: res.desired,
    deps: res.deps,
    refs: res.refs,
    unresolved: res.unresolved,
    plan,
    nft: freshTableBatch(plan.table),
  };
}

export function routeText(r: Route): string {
  const parts: string[] = [r.type === 'unicast' ? '' : r.type, r.dst];
  if (r.gateway) parts.push('via', r.gateway);
  if (r.dev) parts.push('dev', r.dev);
  if (r.table !== undefined && r.table !== 254) parts.push('table', String(r.table));
  if (r.protocol !== undefined) parts.push('proto', String(r.protocol));
  return parts.filter((p) => p !== '').join(' ');
}

/** A short nft-like rendering of a statement, for reading only (the JSON is what gets applied). */
export function exprText(e: NftExpr): string {
  const val = (v: unknown): string => {
    if (v === null || v === undefined) return '';
    if (typeof v !== 'object') return String(v);
    if (Array.isArray(v)) return v.map(val).join(',');
    const o = v as Record<string, unknown>;
    if (o.range && Array.isArray(o.range)) return `${String(o.range[0])}-${String(o.range[1])}`;
    if (o.prefix) {
      const p = o.prefix as { addr: string; len: number };
      return `${p.addr}/${p.len}`;
    }
    if (o.payload) {
      const p = o.payload as { protocol: string; field: string };
      return `${p.protocol} ${p.field}`;
    }
    if (o.meta) return (o.meta as { key: string }).key;
    if (o.ct) return `ct ${(o.ct as { key: string }).key}`;
    if (o.fib) {
      const f = o.fib as { result: string; flags: string[] };
      return `fib ${f.flags.join(' . ')} ${f.result}`;
    }
    if (o.set && Array.isArray(o.set)) return `{ ${o.set.map(val).join(', ')} }`;
    return JSON.stringify(v);
  };
  const [k, v] = Object.entries(e)[0] ?? ['', undefined];
  const o = (v ?? {}) as Record<string, unknown>;
  switch (k) {
    case 'match': {
      const op = o.op === '==' || o.op === 'in' ? '' : ` ${String(o.op)}`;
      const right = typeof o.right === 'string' && /[^\w.:/-]/.test(o.right) ? JSON.stringify(o.right) : val(o.right);
      return `${val(o.left)}${op} ${right}`;
    }
    case 'dnat':
    case 'snat': {
      const addr = o.family === 'ip6' && o.port !== undefined ? `[${String(o.addr)}]` : String(o.addr ?? '');
      const port = o.port !== undefined ? `:${val(o.port)}` : '';
      return `${k} ${String(o.family ?? '')} to ${addr}${port}`.replace(/ {2}/g, ' ');
    }
    case 'masquerade':
      return 'masquerade';
    case 'jump':
    case 'goto':
      return `${k} ${String(o.target)}`;
    case 'accept':
    case 'drop':
    case 'return':
    case 'continue':
      return k;
    default:
      return `${k} ${JSON.stringify(v)}`;
  }
}

export function explainText(res: Resolution, plan: Plan): string {
  const d = res.desired;
  const out: string[] = [];
  out.push(`container ${d.container.name} (${d.container.id.slice(0, 12)}, pid ${d.container.pid})`);
  for (const w of d.warnings) out.push(`  warning: ${w.leak ?? w.key}: ${w.message}`);
  if (res.refs.length) out.push(`  references: ${res.refs.join(', ')}`);
  for (const u of res.unresolved) out.push(`  unresolved: ${u.label}: ${u.reason}`);

  out.push('', 'sysctls:');
  if (plan.sysctls.length === 0) out.push('  (none)');
  for (const s of plan.sysctls) out.push(`  ${s.key} = ${s.value}`);

  out.push('', 'routes:');
  if (plan.routes.length === 0) out.push('  (none)');
  d.routes.forEach((r, i) => {
    const route = plan.routes[i];
    const why = r.state === 'down' ? `   # kill switch: ${r.reason ?? 'gateway down'}` : r.via ? `   # via ${r.via.name} on ${r.via.network}` : '';
    out.push(`  ${route ? routeText(route) : r.dst}${why}   [${r.label}]`);
  });
  for (const p of d.replyPaths ?? []) {
    const rt = plan.routes.find((x) => x.table !== undefined && x.table !== 254 && x.family === p.family);
    const ports = p.ports.map((x) => `${x.proto} ${x.ports.join(',')}`).join('; ');
    out.push(`  published ports (${ports}): replies to what the host routes to them on ${p.dev} (from ${p.bridgeMac}, outside ${p.subnet}) go via Docker (${p.gateway}):`);
    if (rt) out.push(`    ${routeText(rt)}`);
    for (const r of plan.rules ?? []) if (r.family === p.family) out.push(`    rule ${r.priority}: fwmark 0x${(r.fwmark ?? 0).toString(16)}/0x${(r.fwmask ?? 0xffffffff).toString(16)} lookup ${r.table} proto ${r.protocol ?? 0}`);
  }
  if (plan.defaultRoutes.length) {
    out.push('  Docker default (restored when no label replaces it):');
    for (const r of plan.defaultRoutes) out.push(`    ${routeText(r)}`);
  }

  if (d.natInterfaces.length) {
    out.push('', `nat gateway: ${d.natInterfaces.join(', ')}; kill switch ${d.killSwitch ? 'on' : 'off'}; MSS clamp ${d.mss === 'route' ? 'to the route MTU' : d.mss}`);
  }

  out.push('', 'forwards:');
  if (d.forwards.length === 0) out.push('  (none)');
  for (const f of d.forwards) {
    const port = f.port.lo === f.port.hi ? `${f.port.lo}` : `${f.port.lo}-${f.port.hi}`;
    const dport = f.destPort.lo === f.destPort.hi ? `${f.destPort.lo}` : `${f.destPort.lo}-${f.destPort.hi}`;
    if (f.state === 'down') {
      out.push(f.portFile ? `  ${f.iface} ${f.proto}/(port file) → ${f.dest}   DOWN: ${f.reason ?? ''}` : `  ${f.iface} ${f.proto}/${port} → ${f.dest}:${dport}   DOWN: ${f.reason ?? ''}`);
      continue;
    }
    if (f.portFile) out.push(`  port ${port} from ${f.portFile.path}${f.portFile.problem ? ` (kept: ${f.portFile.problem})` : ''}:`);
    for (const t of f.targets) {
      out.push(
        `  ${f.iface} ${f.proto}/${port} → ${t.family === 6 ? `[${t.ip}]` : t.ip}:${dport}${t.dev ? ` dev ${t.dev}` : ''}` +
          `   (${f.iface === 'lo' ? 'via route_localnet' : t.masquerade ? 'masquerade' : 'keeps client address'})`,
      );
    }
  }

  if (d.whitelists?.length) {
    out.push('', 'whitelists (what may leave through a nat interface; the rest is dropped, counter whitelist):');
    for (const w of d.whitelists) {
      for (const [word, side] of [['from', w.from], ['to', w.to]] as const) {
        if (side) out.push(`  ${w.iface ?? 'any nat interface'} ${word}: ${[...side.v4, ...side.v6].join(', ') || 'nothing'}${side.down?.length ? `; not resolved, allowing nothing: ${side.down.join(', ')}` : ''}`);
      }
    }
  }

  if (d.rules.length) {
    out.push('', 'custom rules:');
    for (const r of d.rules) out.push(`  ${r.chain} ${r.name}: ${r.state === 'up' ? 'up' : `DOWN: ${r.reason ?? ''}`}`);
  }

  if (plan.hostRoutes.length || d.hostRoutes.some((h) => h.reason)) {
    out.push('', 'host routes (only with host routes allowed):');
    for (const r of plan.hostRoutes) out.push(`  ${routeText(r)}`);
    for (const h of d.hostRoutes) if (h.reason) out.push(`  ${h.dst}: skipped, ${h.reason}`);
  }

  out.push('', ...tableText(plan.table));
  return `${out.join('\n')}\n`;
}

/** The table as nft-like text, for reading (the status API and `twine plan`). */
export function tableText(table: TableDef): string[] {
  const out = [`nftables: table ${TABLE_FAMILY} ${TABLE_NAME}`];
  if (table.chains.length === 0) out.push('  (no table needed)');
  for (const c of table.chains) {
    const base = c.base ? ` { type ${c.base.type} hook ${c.base.hook} priority ${c.base.prio} }` : '';
    out.push(`  chain ${c.name}${base}`);
    for (const r of c.rules) out.push(`    ${r.expr.map(exprText).join(' ')}   # ${r.comment}`);
  }
  return out;
}
