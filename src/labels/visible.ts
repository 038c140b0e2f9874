// Which of a container's labels Twine keeps. Labels often carry secrets
// (basic-auth hashes, tokens, connection strings), so Twine reads Docker's
// labels once, at the Docker boundary, and keeps only its own (`twine.*`) and
// the two compose labels that name a container: nothing else can reach the
// API, the logs, `twine status` or `twine plan`.

export const TWINE_LABEL_PREFIX = 'twine.';
export const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';
export const COMPOSE_SERVICE_LABEL = 'com.docker.compose.service';

export function isTwineLabel(key: string): boolean {
  return key.startsWith(TWINE_LABEL_PREFIX);
}

/** A label Twine may keep, show and log. */
export function isVisibleLabel(key: string): boolean {
  return isTwineLabel(key) || key === COMPOSE_PROJECT_LABEL || key === COMPOSE_SERVICE_LABEL;
}

/** The labels Twine keeps: `twine.*` and the compose project and service; never any other. */
export function visibleLabels(labels: Readonly<Record<string, string>> | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels ?? {})) if (isVisibleLabel(k)) out[k] = v;
  return out;
}
