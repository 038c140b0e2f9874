// Options of the commands that change namespaces (start, cleanup).

import { TRANSPORT_CHOICES, type TransportChoice } from '../firewall/select.js';
import { DEFAULT_LIMITS, type Limits } from '../labels/limits.js';
import { parseCidr, type Cidr } from '../net/cidr.js';
import { type OptionSpec, type OptionValues } from '../util/options.js';
import { UsageError } from '../errors.js';

export const DEFAULT_HOST_NETNS = '/proc/1/ns/net';

export const HOST_NETNS_OPTION: OptionSpec = {
  name: 'host-netns',
  type: 'string',
  env: 'TWINE_HOST_NETNS',
  valueName: 'path',
  default: DEFAULT_HOST_NETNS,
  description: "The Docker host's network namespace, for twine.host.routes",
};

export const NFT_TRANSPORT_OPTION: OptionSpec = {
  name: 'nft-transport',
  type: 'string',
  env: 'TWINE_NFT_TRANSPORT',
  valueName: 'lib|exec|auto',
  default: 'auto',
  choices: TRANSPORT_CHOICES,
  description: 'How nft batches are applied: libnftables in-process (lib), spawning nft (exec); auto = lib when built in',
};

const MAX_LIMIT = 1_000_000;
const limitProblem = (v: string): string | undefined =>
  /^\d+$/.test(v.trim()) && Number(v) >= 1 && Number(v) <= MAX_LIMIT ? undefined : `expected an integer from 1 to ${MAX_LIMIT}`;

/** Per-container limits: the daemon and `twine plan` take the same. */
export const LIMIT_OPTION_SPECS: readonly OptionSpec[] = [
  {
    name: 'max-rules',
    type: 'string',
    env: 'TWINE_MAX_RULES',
    valueName: 'n',
    default: String(DEFAULT_LIMITS.rules),
    check: limitProblem,
    description: "Firewall rules one container's labels may expand to (port ranges and address families counted); over it the container is refused",
  },
  {
    name: 'max-routes',
    type: 'string',
    env: 'TWINE_MAX_ROUTES',
    valueName: 'n',
    default: String(DEFAULT_LIMITS.routes),
    check: limitProblem,
    description: 'Routes one container may ask for (twine.route.* plus the CIDRs of twine.host.routes)',
  },
  {
    name: 'max-labels',
    type: 'string',
    env: 'TWINE_MAX_LABELS',
    valueName: 'n',
    default: String(DEFAULT_LIMITS.labels),
    check: limitProblem,
    description: 'twine.* labels one container may have',
  },
];

/** --host-routes-allow's CIDRs, or why the value is not a list of them. */
function allowList(raw: string): Cidr[] | string {
  const out: Cidr[] = [];
  for (const part of raw.split(',').map((p) => p.trim())) {
    const c = parseCidr(part);
    if (typeof c === 'string') return c;
    out.push(c);
  }
  return out;
}

export const HOST_ROUTES_ALLOW_OPTION: OptionSpec = {
  name: 'host-routes-allow',
  type: 'string',
  env: 'TWINE_HOST_ROUTES_ALLOW',
  valueName: 'cidr[,cidr...]',
  check: (v) => {
    const r = allowList(v);
    return typeof r === 'string' ? r : undefined;
  },
  description:
    'With --allow-host-routes: accept only host routes inside these prefixes (default routes, loopback, link-local, multicast and subnets connected on the host are refused regardless)',
};

/** --host-routes-allow as CIDRs; undefined when not given. */
export function hostRoutesAllowFrom(values: OptionValues): Cidr[] | undefined {
  const raw = values['host-routes-allow'];
  if (typeof raw !== 'string') return undefined;
  const r = allowList(raw);
  if (typeof r === 'string') throw new UsageError(`--host-routes-allow=${JSON.stringify(raw)}: ${r}`);
  return r;
}

export const ENGINE_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'allow-host-routes',
    type: 'boolean',
    env: 'TWINE_ALLOW_HOST_ROUTES',
    default: false,
    description: 'Let twine.host.routes labels add routes on the Docker host (off: such labels are errors)',
  },
  HOST_NETNS_OPTION,
  HOST_ROUTES_ALLOW_OPTION,
  {
    name: 'resync-interval',
    type: 'string',
    env: 'TWINE_RESYNC_INTERVAL',
    valueName: 'seconds',
    default: '60',
    check: (v) => numberProblem(v, 0, 86400),
    description: 'Re-check every container and repair drift this often; 0 disables',
  },
  {
    name: 'inspect-cache',
    type: 'string',
    env: 'TWINE_INSPECT_CACHE',
    valueName: 'path|none',
    description:
      "Keep Docker's inspect answers here across restarts (default: beside --socket, <socket>.inspects.json); a restart inspects only containers Docker's list shows changed. none: memory only",
  },
  {
    name: 'concurrency',
    type: 'string',
    env: 'TWINE_CONCURRENCY',
    valueName: 'n',
    default: '8',
    check: (v) => numberProblem(v, 1, 256),
    description: 'Containers whose transactions may run at the same time',
  },
  NFT_TRANSPORT_OPTION,
  ...LIMIT_OPTION_SPECS,
  {
    name: 'nice',
    type: 'string',
    env: 'TWINE_NICE',
    valueName: 'n',
    default: '-10',
    check: (v) => (/^-?\d+$/.test(v.trim()) && Number(v) >= -20 && Number(v) <= 19 ? undefined : 'expected an integer from -20 to 19'),
    description: "The daemon's nice value, -20 (first) to 19; below 0 it wins the CPU while Docker starts many containers at once",
  },
  {
    name: 'apply-before-start',
    type: 'string',
    env: 'TWINE_APPLY_BEFORE_START',
    valueName: 'on|off',
    default: 'on',
    choices: ['on', 'off'],
    description: "Apply as soon as Docker has set up a starting container's network, before its process runs (off: at the start event)",
  },
];

function numberProblem(raw: string, min: number, max: number): string | undefined {
  const n = Number(raw);
  return /^\d+(\.\d+)?$/.test(raw.trim()) && n >= min && n <= max ? undefined : `expected a number from ${min} to ${max}`;
}

/** A value parseOptions() has checked (the spec's check names the flag or variable it came from). */
function number(values: OptionValues, name: string): number {
  const raw = String(values[name]);
  const spec = ENGINE_OPTIONS.find((s) => s.name === name);
  const wrong = spec?.check?.(raw);
  if (wrong !== undefined) throw new UsageError(`--${name}=${JSON.stringify(raw)}: ${wrong}`);
  return Number(raw);
}

/** The limits of LIMIT_OPTION_SPECS. */
export function limitsFrom(values: OptionValues): Limits {
  const int = (name: string): number => {
    const raw = String(values[name]).trim();
    const wrong = limitProblem(raw);
    if (wrong !== undefined) throw new UsageError(`--${name}=${JSON.stringify(raw)}: ${wrong}`);
    return Number(raw);
  };
  return { rules: int('max-rules'), routes: int('max-routes'), labels: int('max-labels') };
}

export interface EngineSettings {
  allowHostRoutes: boolean;
  hostNetns: string;
  resyncIntervalMs: number;
  concurrency: number;
  nftTransport: TransportChoice;
  applyBeforeStart: boolean;
  nice: number;
  limits: Limits;
  hostRoutesAllow?: Cidr[];
  /** --inspect-cache as given (undefined: the default beside the socket). */
  inspectCache?: string;
}

/** The inspect cache's file: --inspect-cache, else beside the socket; undefined for none. */
export function inspectCacheFile(setting: string | undefined, socket: string): string | undefined {
  if (setting === 'none') return undefined;
  if (setting !== undefined && setting !== '') return setting;
  return `${socket}.inspects.json`;
}

/** The plan memo's file (engine/plan-memo.ts), beside the inspect cache's: `<x>.inspects.json` → `<x>.plans.json`. */
export function planMemoFile(inspectFile: string): string {
  return `${inspectFile.replace(/\.inspects\.json$/, '')}.plans.json`;
}

export function engineSettings(values: OptionValues): EngineSettings {
  const settings: EngineSettings = {
    allowHostRoutes: values['allow-host-routes'] === true,
    hostNetns: String(values['host-netns']),
    resyncIntervalMs: Math.round(number(values, 'resync-interval') * 1000),
    concurrency: Math.floor(number(values, 'concurrency')),
    nftTransport: values['nft-transport'] as TransportChoice,
    applyBeforeStart: values['apply-before-start'] !== 'off',
    nice: number(values, 'nice'),
    limits: limitsFrom(values),
    ...(typeof values['inspect-cache'] === 'string' ? { inspectCache: values['inspect-cache'] } : {}),
  };
  const allow = hostRoutesAllowFrom(values);
  return allow ? { ...settings, hostRoutesAllow: allow } : settings;
}
