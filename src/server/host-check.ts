// The TCP listener's Host check, against DNS rebinding: a web page on
// attacker.example can make a browser resolve its own name to 127.0.0.1 and
// then read http://attacker.example:9117/api/containers from the user's
// machine. The browser still sends `Host: attacker.example:9117`, so the
// listener answers only requests whose Host names this listener:
// - its address and port as bound (the name given to --listen too);
// - for a loopback listener, also localhost and the loopback literals;
// - for a wildcard listener (0.0.0.0, ::), any IP literal and localhost, on any
//   port: it cannot know through which address or published port it is
//   reached, and an IP literal cannot be rebound;
// - any name given with --listen-allowed-hosts (on any port).
// The unix socket needs no check: a browser cannot reach it.

import net from 'node:net';

/** Host header → accepted? */
export type HostCheck = (host: string | undefined) => boolean;

export interface ListenerAddress {
  /** As given to --listen (an address or a name). */
  configured: string;
  /** As bound (server.address()). */
  address: string;
  port: number;
}

/** The name and port of a Host header value; undefined when malformed. */
export function parseHostHeader(value: string): { name: string; port?: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(value.trim());
  if (!m) return undefined;
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && port > 65535) return undefined;
  return { name: canonicalHost(m[1] ?? m[2]!), ...(port === undefined ? {} : { port }) };
}

/** Lower case; an IP literal in its canonical text form (URL parsing: browsers send it so). */
function canonicalHost(name: string): string {
  const n = name.toLowerCase();
  const v = net.isIP(n);
  if (v === 0) return n;
  try {
    return new URL(`http://${v === 6 ? `[${n}]` : n}/`).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return n;
  }
}

export function isLoopbackIp(ip: string): boolean {
  const v = net.isIP(ip);
  if (v === 4) return ip.startsWith('127.');
  if (v === 6) return ip === '::1' || /^::ffff:127\./.test(ip);
  return false;
}

function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/** The Host check of one bound listener. `allowed`: the extra names (--listen-allowed-hosts). */
export function hostCheck(listener: ListenerAddress, allowed: readonly string[] = []): HostCheck {
  const extra = new Set(allowed.map((a) => canonicalHost(a.trim())).filter((a) => a !== ''));
  const address = canonicalHost(listener.address);
  const configured = canonicalHost(listener.configured.replace(/^\[|\]$/g, ''));
  const loopback = isLoopbackIp(address);
  const wildcard = isWildcard(address);
  return (value) => {
    if (value === undefined) return false;
    const h = parseHostHeader(value);
    if (!h) return false;
    if (extra.has(h.name)) return true;
    if (wildcard) return h.name === 'localhost' || net.isIP(h.name) !== 0;
    if ((h.port ?? 80) !== listener.port) return false;
    if (h.name === address || h.name === configured) return true;
    return loopback && (h.name === 'localhost' || isLoopbackIp(h.name));
  };
}

/** Parses --listen-allowed-hosts: host names (or IP literals), comma-separated. */
export function parseAllowedHosts(value: string): string[] {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const n of names) {
    if (!/^[A-Za-z0-9.-]+$/.test(n) && net.isIP(n.replace(/^\[|\]$/g, '')) === 0) {
      throw new Error(`--listen-allowed-hosts: ${JSON.stringify(n)} is not a host name or an IP address (no port, no scheme)`);
    }
  }
  return names.map((n) => n.replace(/^\[|\]$/g, ''));
}
