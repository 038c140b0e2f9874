// What a `twine <command>` module exports. main.ts dispatches on the name;
// adding a command means one new module plus one line in commands.ts.

import type { OptionSpec, OptionValues } from './options.js';

export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

export interface Command {
  name: string;
  /** One line for the command list in `twine --help`. */
  summary: string;
  /** Extra paragraph for `twine <command> --help`. */
  description?: string;
  options: readonly OptionSpec[];
  allowPositionals?: boolean;
  /** Returns the process exit code. */
  run(values: OptionValues, positionals: string[], io: CliIO): Promise<number>;
}

/** Exit codes shared by every command (documented in --help). */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
