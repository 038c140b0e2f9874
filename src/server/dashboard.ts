// The dashboard's static files (dashboard/ at the package root), served by the
// status server itself: the page makes no request anywhere but to the listener
// it came from (its Content-Security-Policy says so to the browser too), so it
// works on a host with no way out.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../util/package-root.js';

export interface StaticFile {
  contentType: string;
  body: Buffer;
}

const FILES: Record<string, { file: string; contentType: string }> = {
  '/': { file: 'index.html', contentType: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: 'app.js', contentType: 'text/javascript; charset=utf-8' },
  '/dashboard/style.css': { file: 'style.css', contentType: 'text/css; charset=utf-8' },
};

export const DASHBOARD_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

let cache: Map<string, StaticFile> | undefined;

/** The file served at `pathname`, or undefined when the dashboard has none there. Read once, on first use. */
export function dashboardFile(pathname: string, dir = path.join(packageRoot(), 'dashboard')): StaticFile | undefined {
  const entry = FILES[pathname];
  if (!entry) return undefined;
  cache ??= new Map();
  let f = cache.get(pathname);
  if (!f) {
    f = { contentType: entry.contentType, body: readFileSync(path.join(dir, entry.file)) };
    cache.set(pathname, f);
  }
  return f;
}

export const DASHBOARD_PATHS = Object.keys(FILES);
