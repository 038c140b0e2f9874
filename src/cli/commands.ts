// Every `twine <command>`, in the order --help lists them. One module per command.

import type { Command } from './command.js';
import { startCommand } from './start.js';
import { statusCommand } from './status.js';
import { healthcheckCommand } from './healthcheck.js';
import { planCommand } from './plan.js';
import { cleanupCommand } from './cleanup.js';
import { runtimeCommand } from './runtime.js';

export const commands: readonly Command[] = [startCommand, planCommand, statusCommand, healthcheckCommand, cleanupCommand, runtimeCommand];
