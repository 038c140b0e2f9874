import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDockerClient, engineInfo, isNotFound, type DockerClient } from '../../src/docker/client.js';
import { inspectContainer, listRunningContainers } from '../../src/docker/inventory.js';
import { DockerApiError, DockerError } from '../../src/errors.js';

// A fake engine on a unix socket that answers the five calls Twine makes the
// way dockerd 20.10 does (status codes, {"message"} error bodies, a chunked
// /events response that stays open), and records each request.
const dir = mkdtempSync(path.join(tmpdir(), 'twt-api-'));
const sock = path.join(dir, 'docker.sock');
const seen: string[] = [];
const sockets = new Set<unknown>();
const openEvents: http.ServerResponse[] = [];
let hang = false;

function inspect(id: string, name: string): object {
  return {
    Id: id,
    Name: `/${name}`,
    State: { Running: true, Pid: 0, Status: 'running' },
    Config: { Labels: { 'twine.route.10.0.0.0/8': 'gw' } },
    NetworkSettings: { Networks: { 'twt-n': { NetworkID: 'n1', IPAddress: '172.30.0.2', IPPrefixLen: 16, MacAddress: '02:42:ac:1e:00:02' } } },
  };
}

const server = http.createServer((req, res) => {
  seen.push(`${req.method} ${req.url}`);
  const json = (status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const url = new URL(req.url ?? '/', 'http://x');
  if (hang) return; // never answers
  if (url.pathname === '/_ping') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
  } else if (url.pathname === '/version') {
    json(200, { Version: '20.10.99', ApiVersion: '1.41' });
  } else if (url.pathname === '/containers/json') {
    // c2 is listed but gone by the time it is inspected.
    json(200, [{ Id: 'c1', Names: ['/twt-one'] }, { Id: 'c2', Names: ['/twt-gone'] }]);
  } else if (url.pathname === '/containers/c1/json') {
    json(200, inspect('c1', 'twt-one'));
  } else if (url.pathname.startsWith('/containers/')) {
    json(404, { message: `No such container: ${decodeURIComponent(url.pathname.split('/')[2]!)}` });
  } else if (url.pathname === '/events' && url.searchParams.get('filters')?.includes('bogus')) {
    json(400, { message: "invalid filter 'type=bogus'" });
  } else if (url.pathname === '/events') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
    openEvents.push(res);
  } else {
    json(404, { message: 'page not found' });
  }
});
server.on('connection', (s) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
});

let docker: DockerClient;

before(async () => {
  await new Promise<void>((r) => server.listen(sock, r));
  docker = createDockerClient({ kind: 'unix', socketPath: sock });
});

after(async () => {
  docker.close();
  for (const r of openEvents) r.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

test('JSON GETs: ping, version, running containers, inspect; unversioned paths over one kept-alive connection', async () => {
  seen.length = 0;
  await docker.ping();
  assert.deepEqual(await engineInfo(docker), { version: '20.10.99', apiVersion: '1.41' });
  const list = await docker.listContainers();
  assert.deepEqual(list.map((c) => c.Id), ['c1', 'c2']);
  const c = await inspectContainer(docker, 'c1');
  assert.equal(c.name, 'twt-one');
  assert.equal(c.networks[0]!.ipv4, '172.30.0.2');
  assert.deepEqual(seen, ['GET /_ping', 'GET /version', 'GET /containers/json', 'GET /containers/c1/json']);
  assert.equal(sockets.size, 1, 'sequential requests reuse one keep-alive connection');
});

test('a 404 keeps its status through dockerError and isNotFound; the engine message is quoted', async () => {
  const err = await docker.inspectContainer('twt-nope').then(
    () => assert.fail('resolved'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof DockerApiError);
  assert.equal(err.statusCode, 404);
  assert.match(err.message, /GET \/containers\/twt-nope\/json: HTTP 404: No such container: twt-nope/);
  await assert.rejects(inspectContainer(docker, 'twt-nope'), (e: unknown) => {
    assert.ok(e instanceof DockerError);
    assert.equal(isNotFound(e), true);
    assert.match(e.message, /^docker: inspect container twt-nope: .*No such container: twt-nope/);
    return true;
  });
  // Listed-then-gone containers are skipped, as before.
  assert.deepEqual((await listRunningContainers(docker)).map((x) => x.id), ['c1']);
  // Names with reserved characters stay one path segment.
  await assert.rejects(docker.inspectContainer('a/b?c'), (e: unknown) => isNotFound(e) && /No such container: a\/b\?c/.test((e as Error).message));
});

test('an engine that is not there: the errno code survives, not a status', async () => {
  const gone = createDockerClient({ kind: 'unix', socketPath: path.join(dir, 'missing.sock') });
  await assert.rejects(engineInfo(gone), (e: unknown) => {
    const de = e as DockerError & { code?: string; statusCode?: number };
    assert.ok(de instanceof DockerError);
    assert.equal(de.code, 'ENOENT');
    assert.equal(de.statusCode, undefined);
    assert.equal(isNotFound(de), false);
    assert.match(de.message, /^docker: version: /);
    return true;
  });
  gone.close();
});

test('a GET that gets no answer fails at its deadline with ETIMEDOUT', async () => {
  hang = true;
  try {
    const t0 = performance.now();
    await assert.rejects(docker.version({ timeoutMs: 100 }), (e: unknown) => (e as DockerApiError).code === 'ETIMEDOUT');
    const ms = performance.now() - t0;
    // Not before the deadline; the upper bound only rules out "never" (the server hangs), with room for a loaded machine.
    assert.ok(ms >= 90 && ms < 5000, `took ${ms} ms`);
  } finally {
    hang = false;
  }
  // The client still works afterwards.
  await docker.ping();
});

test('events: filters as JSON in the query, JSON lines as they come, destroy ends the request', async () => {
  seen.length = 0;
  const stream = await docker.events({ type: ['container', 'network'] });
  assert.equal(seen.length, 1);
  const q = new URL(seen[0]!.slice(4), 'http://x').searchParams.get('filters');
  assert.deepEqual(JSON.parse(q!), { type: ['container', 'network'] });
  const res = openEvents.at(-1)!;
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString()));
  res.write('{"Type":"container","Action":"start"}\n{"Type":"net');
  res.write('work","Action":"connect"}\n');
  await waitFor(() => text.split('\n').length === 3);
  assert.deepEqual(text.trim().split('\n').map((l) => (JSON.parse(l) as { Action: string }).Action), ['start', 'connect']);

  const serverSide = new Promise<void>((r) => res.on('close', () => r()));
  const closed = new Promise<void>((r) => stream.on('close', () => r()));
  stream.destroy();
  await closed;
  await serverSide; // the engine sees the connection go
  assert.equal(res.destroyed, true);
});

test('events: a non-200 answer rejects with the status and message; an unanswered connect is aborted or times out', async () => {
  await assert.rejects(docker.events({ type: ['bogus'] }), (err: unknown) => {
    assert.ok(err instanceof DockerApiError);
    assert.equal(err.statusCode, 400);
    assert.match(err.message, /HTTP 400: invalid filter 'type=bogus'/);
    return true;
  });

  hang = true;
  try {
    const ac = new AbortController();
    const p = docker.events({ type: ['container'] }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 30);
    await assert.rejects(p, (err: unknown) => (err as DockerApiError).code === 'ABORT_ERR');
    await assert.rejects(docker.events(undefined, { timeoutMs: 50 }), (err: unknown) => (err as DockerApiError).code === 'ETIMEDOUT');
  } finally {
    hang = false;
  }
});

async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('errors quote the path without its URL-encoded filters', async () => {
  const gone = createDockerClient({ kind: 'unix', socketPath: path.join(dir, 'missing.sock') });
  await assert.rejects(gone.events({ type: ['container', 'network'] }), (err: unknown) => {
    const m = (err as Error).message;
    assert.match(m, /^GET \/events: connect ENOENT /);
    assert.doesNotMatch(m, /%7B|%22|filters=/);
    return true;
  });
  await assert.rejects(gone.listContainers({ filters: { status: ['running'] } }), (err: unknown) => /^GET \/containers\/json: /.test((err as Error).message));
  gone.close();
  await assert.rejects(docker.events({ type: ['bogus'] }), (err: unknown) => {
    assert.equal((err as Error).message, "GET /events: HTTP 400: invalid filter 'type=bogus'");
    return true;
  });
});
