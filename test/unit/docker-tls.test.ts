// Docker over TCP with TLS, as the docker CLI does it (DOCKER_TLS_VERIFY,
// DOCKER_TLS, DOCKER_CERT_PATH): what goes on the wire when TLS is asked for,
// and a real TLS engine stand-in that verifies client certificates. The CA and
// the certificates are made here with the openssl CLI.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createDockerClient, engineInfo } from '../../src/docker/client.js';
import { describeEndpoint, resolveDockerEndpoint } from '../../src/docker/endpoint.js';
import { DockerError } from '../../src/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'twt-tls-'));
const at = (...p: string[]): string => path.join(dir, ...p);

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA: <name>.pem and <name>-key.pem. */
function makeCa(name: string): void {
  openssl(['req', '-x509', ...EC, '-keyout', `${name}-key.pem`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=twt-${name}`]);
}

/** A certificate signed by `ca`: <name>-cert.pem and <name>-key.pem. */
function makeCert(name: string, ca: string, ext: string): void {
  writeFileSync(at(`${name}.ext`), `${ext}\n`);
  openssl(['req', ...EC, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=twt-${name}`]);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}-key.pem`, '-CAcreateserial', '-out', `${name}-cert.pem`, '-days', '2', '-extfile', `${name}.ext`]);
}

/** A DOCKER_CERT_PATH directory with the given files (ca.pem, cert.pem, key.pem) copied from `from`. */
function certDir(name: string, files: Record<string, string>): string {
  const d = at(name);
  mkdirSync(d);
  for (const [to, src] of Object.entries(files)) copyFileSync(at(src), path.join(d, to));
  return d;
}

let clientDir: string;
let otherCaDir: string;
let emptyDir: string;

before(() => {
  makeCa('ca');
  makeCa('other');
  makeCert('server', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth');
  makeCert('client', 'ca', 'extendedKeyUsage=clientAuth');
  clientDir = certDir('client-dir', { 'ca.pem': 'ca.pem', 'cert.pem': 'client-cert.pem', 'key.pem': 'client-key.pem' });
  otherCaDir = certDir('other-dir', { 'ca.pem': 'other.pem', 'cert.pem': 'client-cert.pem', 'key.pem': 'client-key.pem' });
  emptyDir = certDir('empty-dir', {});
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A TCP server that records the first bytes of each connection, then hangs up. */
async function recorder(): Promise<{ port: number; first: Buffer[]; close: () => Promise<void> }> {
  const first: Buffer[] = [];
  const server = net.createServer((s) => {
    s.once('data', (d: Buffer) => {
      first.push(d);
      s.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, first, close: () => new Promise((r) => server.close(() => r())) };
}

describe('docker over TCP with TLS', () => {
  it('TLS asked for: the first bytes on the wire are a TLS ClientHello, never plaintext HTTP', async () => {
    const rec = await recorder();
    try {
      const host = `tcp://127.0.0.1:${rec.port}`;
      // Control: without TLS the recorder does see plaintext HTTP.
      const plain = createDockerClient(resolveDockerEndpoint(undefined, { DOCKER_HOST: host }));
      await assert.rejects(plain.ping({ timeoutMs: 5000 }));
      assert.equal(rec.first.at(-1)!.subarray(0, 10).toString('latin1'), 'GET /_ping');

      const envs = [
        { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: clientDir },
        // Like the CLI, any non-empty value asks for verification.
        { DOCKER_TLS_VERIFY: '0', DOCKER_CERT_PATH: clientDir },
        { DOCKER_TLS: '1', DOCKER_CERT_PATH: emptyDir },
      ];
      for (const env of envs) {
        const docker = createDockerClient(resolveDockerEndpoint(undefined, { ...env, DOCKER_HOST: host }));
        const seen = rec.first.length;
        await assert.rejects(docker.ping({ timeoutMs: 5000 }));
        await assert.rejects(docker.events(undefined, { timeoutMs: 5000 }));
        assert.equal(rec.first.length, seen + 2, JSON.stringify(env));
        for (const b of rec.first.slice(seen)) {
          // TLS record: type 22 (handshake), version 3.x, then a ClientHello (handshake type 1).
          assert.equal(b[0], 0x16, `not a TLS handshake record: ${JSON.stringify(b.subarray(0, 16).toString('latin1'))}`);
          assert.equal(b[1], 0x03);
          assert.equal(b[5], 0x01, 'not a ClientHello');
          assert.ok(!b.subarray(0, 16).toString('latin1').includes('GET'), JSON.stringify(env));
        }
        docker.close();
      }
      plain.close();
    } finally {
      await rec.close();
    }
  });

  it('DOCKER_TLS_VERIFY with a file missing: a clear error naming it, no connection at all', () => {
    const noKey = certDir('nokey-dir', { 'ca.pem': 'ca.pem', 'cert.pem': 'client-cert.pem' });
    for (const [d, missing] of [[noKey, 'key.pem'], [emptyDir, 'ca.pem, cert.pem, key.pem']] as const) {
      assert.throws(
        () => resolveDockerEndpoint(undefined, { DOCKER_HOST: 'tcp://127.0.0.1:1', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: d }),
        (e: unknown) => e instanceof DockerError && e.message.includes(missing) && e.message.includes(d) && /nor without TLS/.test(e.message),
      );
    }
    // DOCKER_TLS alone: a client certificate needs both halves.
    assert.throws(() => resolveDockerEndpoint(undefined, { DOCKER_HOST: 'tcp://127.0.0.1:1', DOCKER_TLS: '1', DOCKER_CERT_PATH: noKey }), /key\.pem is missing/);
  });

  describe('against a TLS engine that requires client certificates', () => {
    let server: https.Server;
    let port: number;
    const clients: string[] = [];

    before(async () => {
      server = https.createServer(
        { key: readFileSync(at('server-key.pem')), cert: readFileSync(at('server-cert.pem')), ca: readFileSync(at('ca.pem')), requestCert: true, rejectUnauthorized: true },
        (req, res) => {
          clients.push(String((req.socket as TLSSocket).getPeerCertificate().subject?.CN));
          if (req.url === '/_ping') res.end('OK');
          else if (req.url === '/version') res.end(JSON.stringify({ Version: '99.0.0-twt', ApiVersion: '1.99' }));
          else res.writeHead(404).end('{"message":"no"}');
        },
      );
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as net.AddressInfo).port;
    });
    after(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });

    it('answers /_ping and /version through our client, with our client certificate', async () => {
      const endpoint = resolveDockerEndpoint(undefined, { DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: clientDir });
      assert.equal(describeEndpoint(endpoint), `tcp://127.0.0.1:${port} (TLS, verified)`);
      const docker = createDockerClient(endpoint);
      try {
        await docker.ping();
        assert.deepEqual(await engineInfo(docker), { version: '99.0.0-twt', apiVersion: '1.99' });
        assert.deepEqual(clients.slice(-2), ['twt-client', 'twt-client']);
      } finally {
        docker.close();
      }
    });

    it('refuses an engine whose certificate another CA signed, and is refused without a client certificate', async () => {
      const wrongCa = createDockerClient(resolveDockerEndpoint(undefined, { DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: otherCaDir }));
      await assert.rejects(engineInfo(wrongCa), (e: Error) => e instanceof DockerError && /does not verify against ca\.pem/.test(e.message));
      wrongCa.close();
      const noCert = createDockerClient(resolveDockerEndpoint(undefined, { DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS: '1', DOCKER_CERT_PATH: emptyDir }));
      await assert.rejects(engineInfo(noCert), DockerError);
      noCert.close();
    });
  });
});
