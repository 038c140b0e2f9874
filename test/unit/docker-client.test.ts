import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerEndpoint, resolveDockerEndpoint } from '../../src/docker/client.js';
import { DockerError } from '../../src/errors.js';

test('endpoint precedence: explicit (flag/TWINE_DOCKER_SOCKET), then DOCKER_HOST, then the default socket', () => {
  assert.deepEqual(resolveDockerEndpoint('/x.sock', { DOCKER_HOST: 'tcp://h:1' }), { kind: 'unix', socketPath: '/x.sock' });
  assert.deepEqual(resolveDockerEndpoint(undefined, { DOCKER_HOST: 'unix:///run/d.sock' }), { kind: 'unix', socketPath: '/run/d.sock' });
  assert.deepEqual(resolveDockerEndpoint(undefined, {}), { kind: 'unix', socketPath: '/var/run/docker.sock' });
  assert.deepEqual(resolveDockerEndpoint('  ', { DOCKER_HOST: '' }), { kind: 'unix', socketPath: '/var/run/docker.sock' });
});

test('tcp:// endpoints, with and without a port, IPv6 literals', () => {
  assert.deepEqual(parseDockerEndpoint('tcp://10.0.0.5:2376'), { kind: 'tcp', host: '10.0.0.5', port: 2376 });
  assert.deepEqual(parseDockerEndpoint('tcp://docker'), { kind: 'tcp', host: 'docker', port: 2375 });
  assert.deepEqual(parseDockerEndpoint('tcp://[fd00::1]:2375'), { kind: 'tcp', host: 'fd00::1', port: 2375 });
});

test('unsupported endpoints are DockerErrors that quote the value', () => {
  assert.throws(() => parseDockerEndpoint('ssh://me@host'), (e: unknown) => e instanceof DockerError && /ssh:\/\/me@host/.test(e.message));
  assert.throws(() => parseDockerEndpoint('unix://relative.sock'), DockerError);
  assert.throws(() => parseDockerEndpoint('docker.sock'), DockerError);
});
