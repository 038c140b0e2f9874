// The status server's TCP listener against hostile clients: the Host check
// (DNS rebinding), the headers and request timeouts, the connection cap.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Metrics } from '../../src/server/metrics.js';
import { startServer, type RunningServer } from '../../src/server/http.js';
import { hostCheck, parseAllowedHosts, parseHostHeader } from '../../src/server/host-check.js';
import type { DaemonView } from '../../src/server/view.js';
import type { Logger } from '../../src/log.js';

const view: DaemonView = {
  containers: () => [],
  container: () => undefined,
  reconciled: true,
  dockerConnected: () => true,
};

/** GET with an explicit Host header (or none); status and body. */
function get(target: { port: number } | { socketPath: string }, host: string | undefined, urlPath = '/healthz'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (host !== undefined) headers.host = host;
    const req = http.request({ ...('port' in target ? { host: '127.0.0.1', port: target.port } : target), path: urlPath, headers, setHost: host !== undefined }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A raw TCP client: sends `data`, collects what comes back until the server closes. */
function rawUntilClosed(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => {
      if (data !== '') c.write(data);
    });
    let got = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => (got += d));
    c.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
    c.on('close', () => resolve(got));
  });
}

describe('Host check (pure)', () => {
  it('parses Host values: name, port, bracketed IPv6, canonical IP text', () => {
    assert.deepEqual(parseHostHeader('LocalHost:9117'), { name: 'localhost', port: 9117 });
    assert.deepEqual(parseHostHeader('[0:0:0:0:0:0:0:1]:80'), { name: '::1', port: 80 });
    assert.deepEqual(parseHostHeader('example.org'), { name: 'example.org' });
    for (const bad of ['', 'a:b:c', 'h:99999', 'h:', 'evil.example:9117@127.0.0.1', '::1:9117']) assert.equal(parseHostHeader(bad), undefined, bad);
  });

  it('a loopback listener: its address and port, localhost and loopback literals; nothing else', () => {
    const ok = hostCheck({ configured: '127.0.0.1', address: '127.0.0.1', port: 9117 });
    for (const h of ['127.0.0.1:9117', 'localhost:9117', 'LOCALHOST:9117', '[::1]:9117', '127.0.0.2:9117']) assert.ok(ok(h), h);
    for (const h of [undefined, '', 'evil.example:9117', 'evil.example', '127.0.0.1:9118', 'localhost', 'localhost.evil.example:9117', '10.0.0.1:9117']) {
      assert.ok(!ok(h), String(h));
    }
  });

  it('a listener on one address: that address and port (and the name --listen gave), not localhost', () => {
    const ok = hostCheck({ configured: 'twine.lan', address: '10.1.2.3', port: 9117 });
    assert.ok(ok('10.1.2.3:9117'));
    assert.ok(ok('twine.lan:9117'));
    assert.ok(ok('TWINE.LAN:9117'));
    assert.ok(!ok('localhost:9117'));
    assert.ok(!ok('127.0.0.1:9117'));
    assert.ok(!ok('10.1.2.3:80'));
    assert.ok(!ok('attacker.example:9117'));
  });

  it('a wildcard listener: any IP literal and localhost on any port (published ports), no other name', () => {
    for (const address of ['0.0.0.0', '::']) {
      const ok = hostCheck({ configured: address, address, port: 9117 });
      for (const h of ['192.0.2.50:19117', '[fd00::1]:9117', 'localhost:8080', '127.0.0.1']) assert.ok(ok(h), `${address} ${h}`);
      for (const h of ['twine.lan:9117', 'attacker.example:9117', '']) assert.ok(!ok(h), `${address} ${h}`);
    }
  });

  it('--listen-allowed-hosts adds names (any port) and rejects what is not a host name', () => {
    const ok = hostCheck({ configured: '0.0.0.0', address: '0.0.0.0', port: 9117 }, parseAllowedHosts('twine.lan, Metrics.Example ,'));
    assert.ok(ok('twine.lan:9117'));
    assert.ok(ok('metrics.example'));
    assert.ok(!ok('other.lan:9117'));
    assert.deepEqual(parseAllowedHosts('[::1],a.b'), ['::1', 'a.b']);
    for (const bad of ['http://x', 'x:9117', 'a b', '*']) assert.throws(() => parseAllowedHosts(bad), /not a host name/, bad);
  });
});

describe('status server TCP listener', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'twt-limits-'));
  const socketPath = path.join(dir, 'twine.sock');
  const warnings: unknown[] = [];
  const log = { warn: (o: unknown) => warnings.push(o), info: () => undefined, debug: () => undefined, error: () => undefined } as unknown as Logger;
  let srv: RunningServer;
  let port: number;

  before(async () => {
    srv = await startServer({
      view,
      metrics: new Metrics(),
      listen: '127.0.0.1:0',
      socket: socketPath,
      allowedHosts: ['twine.test'],
      limits: { headersTimeoutMs: 300, requestTimeoutMs: 600, maxConnections: 3 },
      log,
    });
    port = srv.tcp!.port;
  });
  after(async () => {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers its own address, localhost and allowed names; any other Host gets 421 and no data', async () => {
    for (const h of [`127.0.0.1:${port}`, `localhost:${port}`, 'twine.test:1']) assert.equal((await get({ port }, h)).status, 200, h);
    for (const h of [`rebind.attacker.example:${port}`, `127.0.0.1:${port + 1}`]) {
      const r = await get({ port }, h, '/api/containers');
      assert.equal(r.status, 421, h);
      assert.match(r.text, /DNS rebinding/);
      assert.ok(!r.text.includes('['), 'no API data in the refusal');
    }
    // No Host header: HTTP/1.1 requires one (Node answers 400); HTTP/1.0 gets the 421.
    assert.equal((await get({ port }, undefined)).status, 400, 'no Host header');
    assert.match(await rawUntilClosed(port, 'GET /api/containers HTTP/1.0\r\n\r\n'), /^HTTP\/1\.1 421 /);
  });

  it('the unix socket does not check Host (a browser cannot reach it)', async () => {
    assert.equal((await get({ socketPath }, 'rebind.attacker.example')).status, 200);
  });

  it('a client that sends nothing, or headers that never end, is answered 408 and closed (headers timeout)', async () => {
    assert.match(await rawUntilClosed(port, ''), /^HTTP\/1\.1 408 /);
    assert.match(await rawUntilClosed(port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Slow: 1\r\n`), /^HTTP\/1\.1 408 /);
  });

  it('a request whose body never completes is closed (request timeout)', async () => {
    const got = await rawUntilClosed(port, `PUT /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 1000\r\n\r\npartial`);
    // The refusal (405) comes at once; the connection then waits for the body until the request timeout.
    assert.match(got, /^HTTP\/1\.1 405 /);
    assert.match(got, /HTTP\/1\.1 408 Request Timeout/);
  });

  it('caps open connections: one over the cap is closed at once, and a slot frees when a client leaves', async () => {
    const held: net.Socket[] = [];
    // Kept-alive connections that completed a request: they are open and counted.
    for (let i = 0; i < 3; i++) {
      const s = net.connect(port, '127.0.0.1');
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.once('data', () => resolve());
        s.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      });
      held.push(s);
    }
    const over = await rawUntilClosed(port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    assert.equal(over, '', 'a connection over the cap gets no answer');
    assert.equal(warnings.length, 1, 'the drop is logged');
    assert.match(JSON.stringify(warnings[0]), /"maxConnections":3/);

    const gone = new Promise((resolve) => held[0]!.once('close', resolve));
    held[0]!.end();
    await gone;
    // The server sees the close a moment later: retry until it answers (bounded by the test's timeout).
    for (;;) {
      const r = await rawUntilClosed(port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
      if (r !== '') {
        assert.match(r, /^HTTP\/1\.1 200 /);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const s of held) s.destroy();
  });
});
