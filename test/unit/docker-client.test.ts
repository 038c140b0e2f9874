import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseDockerEndpoint, resolveDockerEndpoint } from '../../src/docker/endpoint.js';
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

test('TLS from the environment, as the docker CLI reads it: only for tcp://, cert path defaults, ssh:// refused', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'twt-dc-'));
  try {
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(path.join(dir, f), `${f}\n`);
    // DOCKER_TLS_VERIFY: verified, all three files read.
    const v = resolveDockerEndpoint(undefined, { DOCKER_HOST: 'tcp://h:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir });
    assert.equal(v.kind, 'tcp');
    assert.ok(v.kind === 'tcp' && v.tls?.verify === true && v.tls.ca?.toString() === 'ca.pem\n' && v.tls.key?.toString() === 'key.pem\n');
    // DOCKER_TLS alone: TLS without checking the engine (no CA kept), client certificate when both halves are there.
    const t = resolveDockerEndpoint(undefined, { DOCKER_HOST: 'tcp://h:2376', DOCKER_TLS: '1', DOCKER_CERT_PATH: dir });
    assert.ok(t.kind === 'tcp' && t.tls?.verify === false && t.tls.ca === undefined && t.tls.cert !== undefined);
    // No TLS variable: plain TCP. A unix socket never uses TLS.
    assert.deepEqual(resolveDockerEndpoint(undefined, { DOCKER_HOST: 'tcp://h:2375', DOCKER_CERT_PATH: dir }), { kind: 'tcp', host: 'h', port: 2375 });
    assert.deepEqual(resolveDockerEndpoint('/x.sock', { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir }), { kind: 'unix', socketPath: '/x.sock' });
    // TLS asked for and no host named: the engine's TLS port on localhost, as for the CLI.
    const d = resolveDockerEndpoint(undefined, { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir });
    assert.ok(d.kind === 'tcp' && d.host === 'localhost' && d.port === 2376 && d.tls?.verify === true);
    // Where the files are looked for without DOCKER_CERT_PATH: $DOCKER_CONFIG, else ~/.docker.
    const home = path.join(dir, 'home');
    mkdirSync(path.join(home, '.docker'), { recursive: true });
    assert.throws(() => resolveDockerEndpoint('tcp://h:1', { DOCKER_TLS_VERIFY: '1', HOME: home }), (e: unknown) => e instanceof DockerError && e.message.includes(path.join(home, '.docker')));
    assert.throws(() => resolveDockerEndpoint('tcp://h:1', { DOCKER_TLS_VERIFY: '1', DOCKER_CONFIG: '/twt-nowhere' }), /missing in \/twt-nowhere/);
    assert.throws(() => parseDockerEndpoint('ssh://me@host'), /ssh:\/\/ is not supported/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
