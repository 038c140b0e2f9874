// How a user or Docker names a container: by name, by full id, or by a prefix
// of its id (at least 4 characters, so a short word is not taken for an id).
// `twine plan`, `twine cleanup`, the status API and `container:<x>` network
// modes all look containers up this way.

/** The first of `items` whose name or id is `ref`, or whose id starts with `ref` (4+ characters). */
export function findByNameOrId<T extends { id: string; name: string }>(items: Iterable<T>, ref: string): T | undefined {
  for (const c of items) if (c.id === ref || c.name === ref || (ref.length >= 4 && c.id.startsWith(ref))) return c;
  return undefined;
}
