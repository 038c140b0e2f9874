// The dashboard's files as the status server serves them: the page, its
// script and style at fixed paths, with a policy that lets the browser ask
// nothing of anyone but the listener, and no reference to anything else.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHandler } from '../../src/server/http.js';
import { Metrics } from '../../src/server/metrics.js';
import type { DaemonView } from '../../src/server/view.js';

const view: DaemonView = { containers: () => [], container: () => undefined, reconciled: true, dockerConnected: () => true };

async function get(path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const server = http.createServer(createHandler(view, new Metrics()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as AddressInfo;
    return await new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      }).on('error', reject);
    });
  } finally {
    server.close();
  }
}

test('GET / is the dashboard page, with a policy that allows only its own origin', async () => {
  const r = await get('/');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/html/);
  const csp = String(r.headers['content-security-policy']);
  assert.match(csp, /default-src 'none'/);
  for (const d of ['script-src', 'style-src', 'connect-src']) assert.match(csp, new RegExp(`${d} 'self'(;|$)`), d);
  assert.equal(r.headers['x-content-type-options'], 'nosniff');
  // Every reference in the page is a path on this server.
  const refs = [...r.body.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
  assert.deepEqual(refs.sort(), ['/dashboard/app.js', '/dashboard/style.css']);
});

test('the script and the style are served, and name no other host', async () => {
  const js = await get('/dashboard/app.js');
  assert.equal(js.status, 200);
  assert.match(String(js.headers['content-type']), /^text\/javascript/);
  // The only URL in the script is SVG's namespace name, which is never fetched.
  assert.deepEqual([...js.body.matchAll(/\bhttps?:\/\/[^\s'"`]+/g)].map((m) => m[0]), ['http://www.w3.org/2000/svg']);
  // Values from the API (labels are hostile input) reach the DOM as text, never as HTML.
  assert.doesNotMatch(js.body, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  const css = await get('/dashboard/style.css');
  assert.equal(css.status, 200);
  assert.match(String(css.headers['content-type']), /^text\/css/);
  assert.doesNotMatch(css.body, /url\(|@import/);
});

test('the API stays where it was; unknown paths are still 404', async () => {
  assert.equal((await get('/api/containers')).status, 200);
  assert.equal((await get('/dashboard/other.js')).status, 404);
});
