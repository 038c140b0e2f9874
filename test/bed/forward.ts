// A forward's two ends in the traffic tests: a listener in the app's namespace
// that greets whoever connects, and a client in a test namespace that
// connects until the greeting comes back.

import { spawn, type ChildProcess } from 'node:child_process';
import { waitUntil } from './engine.js';
import { ncFrom } from './netns.js';

/** A TCP listener on [::]:`port` (IPv4 too) in the namespace of `pid` that sends `greeting` and a newline to each connection. */
export function greeter6(pid: number, port: number, greeting: string): ChildProcess {
  const py = `import socket\ns=socket.create_server(("::",${port}),family=socket.AF_INET6,dualstack_ipv6=True)\nwhile True:\n c,_=s.accept()\n c.sendall(b"${greeting}\\n")\n c.close()`;
  return spawn('nsenter', ['-t', String(pid), '-n', 'python3', '-c', py], { stdio: 'ignore' });
}

/** What `netns` reads from host:port once it contains `greeting` (nc every 200 ms, 10 s at most). */
export function greetingFrom(netns: string, host: string, port: number, greeting: string): Promise<string> {
  return waitUntil(
    `the greeting from ${host} port ${port}`,
    async () => {
      const r = await ncFrom(netns, host, port);
      return r.stdout.includes(greeting) ? r.stdout : false;
    },
    10_000,
    200,
  );
}
