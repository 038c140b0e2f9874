// What a `twine <command>` module exports. main.ts dispatches on the name;
// adding a command means one new module plus one line in commands.ts.

import type { OptionSpec, OptionValues } from '../util/options.js';

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
  /** What each exit code of this command means, for its --help. */
  exitCodes: readonly ExitCode[];
  allowPositionals?: boolean;
  /** Returns the process exit code. */
  run(values: OptionValues, positionals: string[], io: CliIO): Promise<number>;
}

/** One line of a command's exit-code list: [code, meaning]. */
export type ExitCode = readonly [number, string];

/** Exit codes every command uses; each command's --help says what they mean for it. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export const USAGE_EXIT: ExitCode = [EXIT_USAGE, 'usage error (unknown option, invalid option value or environment variable)'];

export function formatExitCodes(codes: readonly ExitCode[]): string {
  return `Exit codes:\n${codes.map(([c, m]) => `  ${c}  ${m}`).join('\n')}`;
}
