// A Plan is what one container's namespace should look like, in kernel terms:
// the applier diffs it against what it observes and changes only the difference.

import type { NsTarget, Route, Rule } from '../netns/types.js';
import type { TableDef } from '../firewall/nft.js';

export interface SysctlSetting {
  /** Dotted key under net., e.g. "net.ipv4.ip_forward". */
  key: string;
  value: string;
}

export interface ContainerRef {
  id: string;
  name: string;
  pid: number;
}

export interface Plan {
  container: ContainerRef;
  ns: NsTarget;
  /** Sysctls Twine owns in this namespace and their desired values. */
  sysctls: SysctlSetting[];
  /**
   * Every route Twine wants in the namespace, all with protocol TWINE_RT_PROTO.
   * Routes of Twine's protocol that are not listed here are deleted.
   */
  routes: Route[];
  /** Every policy rule Twine wants (protocol TWINE_RT_PROTO); others of that protocol are deleted. */
  rules?: Rule[];
  /**
   * Docker's own default routes, to put back when Twine no longer replaces
   * them (a 0.0.0.0/0 or ::/0 label that went away).
   */
  defaultRoutes: Route[];
  /** The desired content of `table inet twine`; empty chains list = no table needed. */
  table: TableDef;
  /** Routes for the host's namespace (only applied with --allow-host-routes). */
  hostRoutes: Route[];
}
