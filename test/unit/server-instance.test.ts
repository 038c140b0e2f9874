// One twine per host: the unix socket guard. A live owner makes the second
// refuse; a socket left behind by a crashed owner is taken over; a file that
// is not a socket is never deleted.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { listenExclusive, socketAlive } from '../../src/server/instance.js';
import { AlreadyRunningError, EXIT_ALREADY_RUNNING } from '../../src/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'twt-instance-'));
const servers: net.Server[] = [];

function server(): net.Server {
  const s = net.createServer((c) => c.end());
  servers.push(s);
  return s;
}

function close(s: net.Server): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

describe('instance guard', () => {
  after(async () => {
    await Promise.all(servers.filter((s) => s.listening).map(close));
    rmSync(dir, { recursive: true, force: true });
  });

  it('a second guard on a live socket refuses with exit code 3 and a clear message', async () => {
    const sock = path.join(dir, 'live.sock');
    const first = server();
    assert.deepEqual(await listenExclusive(first, sock), { tookOverStale: false });
    const second = server();
    await assert.rejects(listenExclusive(second, sock), (err: unknown) => {
      assert.ok(err instanceof AlreadyRunningError);
      assert.equal(err.exitCode, EXIT_ALREADY_RUNNING);
      assert.equal(EXIT_ALREADY_RUNNING, 3);
      assert.match(err.message, /another twine is already running \(socket .*live\.sock/);
      return true;
    });
    assert.equal(second.listening, false);
    assert.ok(await socketAlive(sock), 'the first still serves');
    await close(first);
    assert.equal(existsSync(sock), false, 'a clean stop removes the socket');
    assert.deepEqual(await listenExclusive(second, sock), { tookOverStale: false });
    await close(second);
  });

  it('takes over the socket a SIGKILLed owner left behind', async () => {
    const sock = path.join(dir, 'crashed.sock');
    // A real process that binds the socket and is then killed with -9: the file stays, nobody listens.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => console.log('up'))`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    assert.ok(await socketAlive(sock));
    const refused = server();
    await assert.rejects(listenExclusive(refused, sock), AlreadyRunningError);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    assert.ok(statSync(sock).isSocket(), 'the crash left the socket file behind');
    assert.equal(await socketAlive(sock), false);
    const next = server();
    assert.deepEqual(await listenExclusive(next, sock), { tookOverStale: true });
    assert.ok(await socketAlive(sock));
    assert.equal(statSync(sock).mode & 0o777, 0o660);
    await close(next);
  });

  it('refuses to replace a path that is not a socket', async () => {
    const p = path.join(dir, 'file.sock');
    writeFileSync(p, 'keep me');
    await assert.rejects(listenExclusive(server(), p), /exists and is not a socket/);
    assert.ok(statSync(p).isFile());
  });
});
