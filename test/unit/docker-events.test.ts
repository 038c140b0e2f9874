import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DockerEventStream, parseDockerEvent, type DockerEvent } from '../../src/docker/events.js';
import { createDockerClient } from '../../src/docker/client.js';
import { LineSplitter } from '../../src/docker/json-lines.js';

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
  const svc = parseDockerEvent('{"Type":"service","Action":"update","Actor":{"ID":"s1","Attributes":{"name":"gw"}},"scope":"swarm","time":5,"timeNano":5000000001}')!;
  assert.deepEqual([svc.type, svc.action, svc.attributes.name], ['service', 'update', 'gw']);
  assert.equal(parseDockerEvent('{"Type":"node","Action":"update","Actor":{"ID":"n1"}}')?.type, 'node');
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
    assert.match(decodeURIComponent(req.url), /"type":\["container","network","service","node"\]/);
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

test('lines: a UTF-8 character split across chunks survives, at every cut', () => {
  const text = '{"name":"café-€-😀"}\n{"n":"ü"}\n';
  const bytes = Buffer.from(text, 'utf8');
  for (let cut = 1; cut < bytes.length; cut++) {
    const lines: string[] = [];
    const split = new LineSplitter((l) => lines.push(l), () => assert.fail('nothing is oversized'));
    split.push(bytes.subarray(0, cut));
    split.push(bytes.subarray(cut));
    assert.deepEqual(lines, ['{"name":"café-€-😀"}', '{"n":"ü"}'], `cut at byte ${cut}`);
  }
  // Byte by byte, too.
  const lines: string[] = [];
  const split = new LineSplitter((l) => lines.push(l), () => assert.fail('nothing is oversized'));
  for (const b of bytes) split.push(Buffer.from([b]));
  assert.deepEqual(lines, ['{"name":"café-€-😀"}', '{"n":"ü"}']);
});

test('lines: one over the limit is dropped and reported once, the lines around it pass', () => {
  const lines: string[] = [];
  const over: number[] = [];
  const split = new LineSplitter((l) => lines.push(l), (max) => over.push(max), 100);
  split.push('a\n');
  split.push('x'.repeat(60));
  split.push('x'.repeat(60)); // passes 100 here
  split.push('x'.repeat(500));
  split.push('x\nb\n' + 'y'.repeat(100) + '\n' + 'z'.repeat(101) + '\nc');
  split.push('\n');
  assert.deepEqual(lines, ['a', 'b', 'y'.repeat(100), 'c'], 'exactly the limit passes');
  assert.deepEqual(over, [100, 100]);
});

// The same through the event stream, against a fake engine: a split character, a
// 2 MiB line in many chunks, then an ordinary event on the same connection.
test('the event stream decodes split characters, drops a line over 1 MiB with a report, and goes on', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'twt-ev-'));
  const sock = path.join(dir, 'docker.sock');
  let res: http.ServerResponse | undefined;
  const server = http.createServer((_req, r) => {
    r.writeHead(200, { 'content-type': 'application/json' });
    r.flushHeaders();
    res = r;
  });
  await new Promise<void>((r) => server.listen(sock, r));
  const events: DockerEvent[] = [];
  const oversized: number[] = [];
  let connects = 0;
  let connected!: () => void;
  const isConnected = new Promise<void>((r) => (connected = r));
  let gotLast!: () => void;
  const last = new Promise<void>((r) => (gotLast = r));
  const stream = new DockerEventStream({
    docker: createDockerClient({ kind: 'unix', socketPath: sock }),
    onEvent: (e) => {
      events.push(e);
      if (e.action === 'stop') gotLast();
    },
    onConnect: () => {
      connects++;
      connected();
    },
    onOversizedLine: (max) => oversized.push(max),
  });
  try {
    stream.start();
    await isConnected;
    const ev = (a: string, name: string): Buffer =>
      Buffer.from(`{"Type":"container","Action":"${a}","Actor":{"ID":"c1","Attributes":{"name":"${name}"}},"timeNano":1}\n`, 'utf8');
    const first = ev('start', 'twt-ü€😀');
    const cut = first.indexOf(Buffer.from('😀', 'utf8')) + 2; // inside the 4-byte character
    await write(res!, first.subarray(0, cut));
    await write(res!, first.subarray(cut));
    // A 2 MiB line (say, a container with huge labels), in 64 KiB writes, then an ordinary event.
    const huge = Buffer.from(`{"Type":"container","Action":"create","Actor":{"ID":"c2","Attributes":{"x":"${'a'.repeat(2 * 1024 * 1024)}"}}}\n`);
    for (let i = 0; i < huge.length; i += 65536) await write(res!, huge.subarray(i, i + 65536));
    await write(res!, ev('stop', 'after'));
    await last;
    assert.deepEqual(events.map((e) => [e.action, e.attributes.name]), [['start', 'twt-ü€😀'], ['stop', 'after']]);
    assert.deepEqual(oversized, [1024 * 1024]);
    assert.equal(connects, 1, 'the same connection carried on');
  } finally {
    await stream.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});

function write(res: http.ServerResponse, b: Buffer): Promise<void> {
  return new Promise((resolve, reject) => res.write(b, (err) => (err ? reject(err) : resolve())));
}

async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
