// A "LAN client": a test namespace behind a veth whose other end is the
// host's, holding `base`.1 (the client `base`.2, routed by default via the
// host), so that a port Docker publishes on `base`.1 can be reached as from
// the local network.

import { execIn, netnsAdd, vethPair, type TestNs } from './netns.js';

/** The client namespace `name`; `hostLink` is the host end's name (a twt-* name; the file's tear-down deletes it with the namespace). */
export async function lanClient(name: string, hostLink: string, base: string): Promise<TestNs> {
  await netnsAdd(name);
  const ns: TestNs = { netns: name };
  await vethPair(hostLink, { ns: 'root', name: hostLink, addresses: [`${base}.1/24`] }, { ns, name: 'eth0', addresses: [`${base}.2/24`] });
  await execIn(ns, 'ip', ['route', 'add', 'default', 'via', `${base}.1`]);
  return ns;
}
