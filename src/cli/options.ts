// The options several commands share: logging and where the Docker engine is.

import { parseDockerEndpoint } from '../docker/endpoint.js';
import { problemOf, type OptionSpec } from '../util/options.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Logging options every long-running command shares. */
export const LOG_OPTIONS: readonly OptionSpec[] = [
  { name: 'log-level', type: 'string', env: 'TWINE_LOG_LEVEL', valueName: 'level', default: 'info', choices: LOG_LEVELS, description: 'Log level' },
  {
    name: 'log-format',
    type: 'string',
    env: 'TWINE_LOG_FORMAT',
    valueName: 'format',
    default: 'auto',
    choices: ['auto', 'json', 'pretty'],
    description: 'JSON lines, or readable; auto = readable when stdout is a terminal',
  },
];

export const DOCKER_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'docker-socket',
    type: 'string',
    env: 'TWINE_DOCKER_SOCKET',
    valueName: 'path|url',
    check: (v) => (v.trim() === '' ? undefined : problemOf(() => parseDockerEndpoint(v.trim()))),
    description:
      'Docker engine: a socket path, unix:///path or tcp://host:port (default: $DOCKER_HOST, else /var/run/docker.sock); ' +
      'tcp:// uses TLS as the docker CLI does: DOCKER_TLS_VERIFY, DOCKER_TLS, DOCKER_CERT_PATH',
  },
];
