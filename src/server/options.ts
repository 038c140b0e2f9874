// Command-line options for the status server (`twine start`) and for the
// commands that talk to it (`twine status`, `twine healthcheck`).

import { problemOf, type OptionSpec, type OptionValues } from '../util/options.js';
import type { Endpoint } from './client.js';
import { parseAllowedHosts } from './host-check.js';
import { DEFAULT_LISTEN, parseListen } from './http.js';
import { DEFAULT_SOCKET } from './instance.js';
import { UsageError } from '../errors.js';

export const SOCKET_OPTION: OptionSpec = {
  name: 'socket',
  type: 'string',
  env: 'TWINE_SOCKET',
  valueName: 'path',
  default: DEFAULT_SOCKET,
  description: "The daemon's unix socket (status API; also guards one twine per host)",
};

/** For `twine start`: add these to its options and pass the values to serverOptionsFrom(). */
export const SERVER_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'listen',
    type: 'string',
    env: 'TWINE_LISTEN',
    valueName: 'host:port|none',
    default: DEFAULT_LISTEN,
    check: (v) => problemOf(() => parseListen(v)),
    description: 'HTTP address for /healthz, /metrics and /api/containers; none disables TCP (the unix socket stays)',
  },
  {
    name: 'listen-allowed-hosts',
    type: 'string',
    env: 'TWINE_LISTEN_ALLOWED_HOSTS',
    valueName: 'name[,name…]',
    description:
      'Host names the --listen address also answers to (e.g. the name Prometheus scrapes); other names get 421 (DNS rebinding guard)',
  },
  SOCKET_OPTION,
];

/** Validated --listen / --socket / --listen-allowed-hosts values (UsageError on a malformed one). */
export function serverOptionsFrom(values: OptionValues): { listen: string; socket: string; allowedHosts: string[] } {
  const listen = (values.listen as string | undefined) ?? DEFAULT_LISTEN;
  const socket = (values.socket as string | undefined) ?? DEFAULT_SOCKET;
  try {
    parseListen(listen);
    return { listen, socket, allowedHosts: parseAllowedHosts((values['listen-allowed-hosts'] as string | undefined) ?? '') };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** For the client commands. */
export const CLIENT_OPTIONS: readonly OptionSpec[] = [
  SOCKET_OPTION,
  {
    name: 'url',
    type: 'string',
    env: 'TWINE_URL',
    valueName: 'url',
    description: 'Talk to the daemon over HTTP instead of the socket, e.g. http://127.0.0.1:9117',
  },
  {
    name: 'timeout',
    type: 'string',
    env: 'TWINE_TIMEOUT',
    valueName: 'seconds',
    default: '5',
    check: (v) => (Number.isFinite(Number(v)) && Number(v) > 0 && v.trim() !== '' ? undefined : 'expected a positive number of seconds'),
    description: 'Give up when the daemon does not answer within this time',
  },
];

export function clientFrom(values: OptionValues): { endpoint: Endpoint; timeoutMs: number } {
  const url = values.url as string | undefined;
  const socket = (values.socket as string | undefined) ?? DEFAULT_SOCKET;
  const raw = (values.timeout as string | undefined) ?? '5';
  const secs = Number(raw);
  if (!Number.isFinite(secs) || secs <= 0) throw new UsageError(`--timeout ${JSON.stringify(raw)}: expected a positive number of seconds`);
  if (url !== undefined && url !== '' && !/^http:\/\//.test(url)) throw new UsageError(`--url ${JSON.stringify(url)}: expected http://host:port`);
  return { endpoint: url ? { url } : { socket }, timeoutMs: Math.round(secs * 1000) };
}
