// One Twine per host, guarded by its unix socket: no lock file to clean up.
// - the socket path exists and accepts a connection → another daemon is alive: refuse;
// - the path exists but nobody answers (ECONNREFUSED: the owner crashed or was
//   killed with -9 and left its socket behind) → unlink it and listen;
// - the path exists and is not a socket → refuse (never delete a user's file).

import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { AlreadyRunningError, TwineError } from '../errors.js';

export const DEFAULT_SOCKET = '/run/twine/twine.sock';

/** Resolves true when something accepts a connection on the socket, false when it is refused/absent. */
export function socketAlive(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ path: socketPath });
    const timer = setTimeout(() => {
      // A listener that never accepts is still a live process holding the socket.
      s.destroy();
      resolve(true);
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve(true);
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolve(false);
      else reject(err);
    });
  });
}

function listenOnce(server: net.Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(socketPath);
  });
}

/**
 * Makes `server` listen on the unix socket at `socketPath`, taking over a
 * stale socket and refusing (AlreadyRunningError) when a live daemon holds it.
 * The directory is created 0755, the socket made 0660 (root and its group).
 * Returns true when a stale socket was removed.
 */
export async function listenExclusive(server: net.Server, socketPath: string, mode = 0o660): Promise<{ tookOverStale: boolean }> {
  mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  let tookOverStale = false;
  for (let attempt = 0; ; attempt++) {
    try {
      await listenOnce(server, socketPath);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 2) throw err;
      let st;
      try {
        st = lstatSync(socketPath);
      } catch {
        continue; // vanished in between: try again
      }
      if (!st.isSocket()) throw new TwineError(`${socketPath} exists and is not a socket; refusing to replace it`);
      if (await socketAlive(socketPath)) throw new AlreadyRunningError(socketPath);
      try {
        unlinkSync(socketPath);
        tookOverStale = true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
  }
  chmodSync(socketPath, mode);
  return { tookOverStale };
}
