// How much one container's labels may ask for. Each limit bounds the work a
// transaction does for that container (parsing, the nft batch, its diff and
// read-back), so no label set can stall the daemon for the others; a container
// over a limit is refused as a whole, like any invalid label.

export interface Limits {
  /** twine.* labels per container (other labels are never parsed). */
  labels: number;
  /** Firewall rules after expansion (port ranges, address families), Twine's own jump rules not counted. */
  rules: number;
  /** Routes: twine.route.* in the container's namespace plus the CIDRs of twine.host.routes. */
  routes: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = { labels: 1024, rules: 4096, routes: 1024 };

/** The option and variable that raise each limit, for error messages. */
export const LIMIT_OPTIONS: Readonly<Record<keyof Limits, string>> = {
  labels: '--max-labels or TWINE_MAX_LABELS',
  rules: '--max-rules or TWINE_MAX_RULES',
  routes: '--max-routes or TWINE_MAX_ROUTES',
};
