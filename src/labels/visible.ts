// Which of a container's labels Twine keeps. Labels often carry secrets
// (basic-auth hashes, tokens, connection strings), so Twine reads Docker's
// labels once, at the Docker boundary, and keeps only its own (`twine.*`), the
// two compose labels and the swarm labels that name a container (service, task,
// stack; names and ids, no secrets): nothing else can reach the API, the logs,
// `twine status` or `twine plan`.

export const TWINE_LABEL_PREFIX = 'twine.';
export const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';
export const COMPOSE_SERVICE_LABEL = 'com.docker.compose.service';
export const SWARM_SERVICE_LABEL = 'com.docker.swarm.service.name';
export const SWARM_TASK_NAME_LABEL = 'com.docker.swarm.task.name';
export const SWARM_TASK_ID_LABEL = 'com.docker.swarm.task.id';
export const STACK_LABEL = 'com.docker.stack.namespace';

const NAMING_LABELS = new Set([COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL, SWARM_SERVICE_LABEL, SWARM_TASK_NAME_LABEL, SWARM_TASK_ID_LABEL, STACK_LABEL]);

export function isTwineLabel(key: string): boolean {
  return key.startsWith(TWINE_LABEL_PREFIX);
}

/** A label Twine may keep, show and log. */
export function isVisibleLabel(key: string): boolean {
  return isTwineLabel(key) || NAMING_LABELS.has(key);
}

/** The labels Twine keeps: `twine.*`, the compose project and service, the swarm service, task and stack; never any other. */
export function visibleLabels(labels: Readonly<Record<string, string>> | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels ?? {})) if (isVisibleLabel(k)) out[k] = v;
  return out;
}
