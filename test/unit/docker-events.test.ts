import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DockerEventStream, parseDockerEvent, type DockerEvent } from '../../src/docker/events.js';
import { createDockerClient } from '../../src/docker/client.js';

test('parseDockerEvent keeps timeNano exact and types container/network events', () => {
  const line =
    '{"status":"start","id":"efbadf5c7962","from":"twine-test/busybox","Type":"container","Action":"start",' +
    '"Actor":{"ID":"efbadf5c7962","Attributes":{"name":"twt-a","twine.x":"1"}},"scope":"local","time":1795845527,"timeNano":1795845527438197067}';
  const e = parseDockerEvent(line)!;
  assert.equal(e.type, 'container');
  assert.equal(e.action, 'start');
  assert.equal(e.attributes.name, 'twt-a');
  assert.equal(e.timeNano, 1795845527438197067n);
  assert.ok(Math.abs(e.timeMs - 1795845527438.197) < 0.001);
  const n = parseDockerEvent(
    '{"Type":"network","Action":"connect","Actor":{"ID":"net1","Attributes":{"container":"c1","name":"twt-n","type":"bridge"}},"time":5,"timeNano":5000000001}',
  )!;
  assert.equal(n.type, 'network');
  assert.equal(n.attributes.container, 'c1');
  assert.equal(n.timeNano, 5000000001n);
  assert.equal(parseDockerEvent('{"Type":"image","Action":"pull","Actor":{"ID":"x"}}'), undefined);
  assert.equal(parseDockerEvent('not json'), undefined);
});

// A fake engine on a unix socket: /events streams whatever the test writes and
// can be cut to simulate dockerd going away.
test('the stream reconnects with backoff, re-syncs after every connect, and stop() ends it promptly', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'twt-ev-'));
  const sock = path.join(dir, 'docker.sock');
  const open: http.ServerResponse[] = [];
  let requests = 0;
  let refuse = 0;
  const server = http.createServer((req, res) => {
    if (!req.url?.startsWith('/events')) {
      res.writeHead(404).end();
      return;
    }
    requests++;
    if (refuse > 0) {
      refuse--;
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"message":"engine starting"}');
      return;
    }
    assert.match(decodeURIComponent(req.url), /"type":\["container","network"\]/);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
    open.push(res);
  });
  await new Promise<void>((r) => server.listen(sock, r));
  const events: DockerEvent[] = [];
  const connects: boolean[] = [];
  const disconnects: number[] = [];
  let onConnected: (() => void) | undefined;
  const stream = new DockerEventStream({
    docker: createDockerClient({ kind: 'unix', socketPath: sock }),
    initialBackoffMs: 20,
    maxBackoffMs: 80,
    onEvent: (e) => events.push(e),
    onConnect: ({ reconnect }) => {
      connects.push(reconnect);
      onConnected?.();
    },
    onDisconnect: (_err, retry) => disconnects.push(retry),
  });
  const connected = (): Promise<void> => new Promise((r) => (onConnected = r));
  try {
    let c = connected();
    stream.start();
    await c;
    assert.equal(stream.connected, true);
    // One event split across two writes, then two in one write.
    const ev = (a: string, t: string): string => `{"Type":"container","Action":"${a}","Actor":{"ID":"c1","Attributes":{"name":"x"}},"timeNano":${t}}\n`;
    const first = ev('start', '1000000000000000001');
    open[0]!.write(first.slice(0, 20));
    open[0]!.write(first.slice(20) + ev('die', '2') + ev('stop', '3'));
    await waitFor(() => events.length === 3);
    assert.deepEqual(events.map((e) => [e.action, e.timeNano]), [['start', 1000000000000000001n], ['die', 2n], ['stop', 3n]]);

    // dockerd goes away and answers 500 three times: backoff doubles up to the cap, then a re-sync.
    refuse = 3;
    c = connected();
    open[0]!.destroy();
    await c;
    assert.deepEqual(connects, [false, true]);
    assert.deepEqual(disconnects, [20, 40, 80, 80]);
    assert.equal(requests, 5);

    const t0 = performance.now();
    await stream.stop();
    // The server never ends the request, so a stop that waited for it would hang: the bound need only hold under load.
    assert.ok(performance.now() - t0 < 5000, 'stop() is prompt');
    assert.equal(stream.connected, false);
  } finally {
    await stream.stop();
    for (const r of open) r.destroy();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('stop() is prompt while the engine has not answered the events request yet', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'twt-ev-'));
  const sock = path.join(dir, 'docker.sock');
  let asked = 0;
  const server = http.createServer(() => {
    asked++; // never answers
  });
  await new Promise<void>((r) => server.listen(sock, r));
  const disconnects: string[] = [];
  // A throwing handler would be caught by the stream: record events instead and assert on them.
  const events: unknown[] = [];
  const stream = new DockerEventStream({
    docker: createDockerClient({ kind: 'unix', socketPath: sock }),
    onEvent: (ev) => events.push(ev),
    onDisconnect: (err) => disconnects.push(err.message),
  });
  try {
    stream.start();
    await waitFor(() => asked === 1);
    const t0 = performance.now();
    await stream.stop();
    // The server never answers: a stop that waited would hang, so a bound that holds under load suffices.
    assert.ok(performance.now() - t0 < 5000, 'stop() does not wait for the answer');
    assert.equal(stream.connected, false);
    assert.equal(stream.connects, 0);
    assert.deepEqual(disconnects, [], 'a stop is not reported as a disconnect');
    assert.deepEqual(events, [], 'no events expected');
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});

async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
