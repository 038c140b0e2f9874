// Every `twine <command>`, in the order --help lists them. One module per command.

import type { Command } from './command.js';
import { startCommand } from './start.js';

export const commands: readonly Command[] = [startCommand];
