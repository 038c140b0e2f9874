// The inventory as the one-shot commands (plan, cleanup) see it: every running
// container, with interface names read from its namespace.

import type { DockerClient } from '../docker/client.js';
import { listRunningContainers } from '../docker/inventory.js';
import { nativeBackend } from '../netns/backend.js';
import type { Inventory } from '../docker/container.js';

export async function readInventory(docker: DockerClient): Promise<Inventory> {
  return { containers: await listRunningContainers(docker, (pid) => nativeBackend.linkList({ pid })) };
}
