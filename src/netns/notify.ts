// "Something changed in this namespace": rtnetlink notifications delivered to
// the event loop, without a thread per watch (native/notify.cc). Callers read
// the state they care about on each signal; the signal carries no content.

import { loadAddon } from './addon.js';
import type { NativeTarget } from './native.js';

/** rtnetlink multicast groups (linux/rtnetlink.h, RTNLGRP_*). */
const GROUPS = {
  link: 1,
  'ipv4-addr': 5,
  'ipv4-route': 7,
  'ipv6-addr': 9,
  'ipv6-route': 11,
} as const;

export type NotifyGroup = keyof typeof GROUPS;

export interface NsNotifier {
  close(): void;
}

/**
 * Subscribes to `groups` in the target's namespace; `onChange` runs after each
 * batch of notifications (overrun: some were lost). The subscription is in place
 * when the promise resolves, so a check made after that misses nothing.
 */
export async function nsNotify(target: NativeTarget, groups: readonly NotifyGroup[], onChange: (overrun: boolean) => void): Promise<NsNotifier> {
  const addon = loadAddon();
  const fd = await addon.notifyOpen(target, groups.map((g) => GROUPS[g]));
  return addon.notifyStart(fd, (overrun) => {
    try {
      onChange(overrun);
    } catch {
      // A watcher's own bug must not surface in the event loop; watchers log their errors.
    }
  });
}
