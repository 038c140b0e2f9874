// `twine` entry point: global flags, then dispatch to one command module.

import { commands } from './commands.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, formatExitCodes, type CliIO, type Command } from './command.js';
import { formatOptions, parseOptions } from '../util/options.js';
import { readVersion } from '../util/version.js';
import { UsageError } from '../errors.js';

const EXIT_CODES = `Exit codes (each command's --help says what they mean for it):
  0  success
  1  failure
  2  usage error (unknown command or option, invalid option value or environment variable)
  3  start: another twine already runs on this host; cleanup: a twine daemon is running`;

function mainHelp(): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return `twine ${readVersion()}: routes, NAT, port forwards and firewall rules for Docker containers, from their labels.

Usage: twine <command> [options]
       twine <command> --help
       twine --help | --version

Commands:
${commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`).join('\n')}

Every option can also be set with the environment variable shown in the command's --help;
a flag on the command line wins over the environment.

${EXIT_CODES}
`;
}

function commandHelp(c: Command): string {
  return `Usage: twine ${c.name} [options]

${c.summary}.${c.description ? `\n${c.description}` : ''}

Options:
${formatOptions([...c.options, { name: 'help', type: 'boolean', short: 'h', description: 'Show this help' }])}

${formatExitCodes(c.exitCodes)}
`;
}

const defaultIO: CliIO = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
};

export async function main(argv: string[], ioOverrides: Partial<CliIO> = {}): Promise<number> {
  const io: CliIO = { ...defaultIO, ...ioOverrides };
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const target = first === 'help' ? commands.find((c) => c.name === rest[0]) : undefined;
    io.stdout(target ? commandHelp(target) : mainHelp());
    return first === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (first === '--version' || first === '-V') {
    io.stdout(`${readVersion()}\n`);
    return EXIT_OK;
  }
  const cmd = commands.find((c) => c.name === first);
  if (!cmd) {
    io.stderr(
      first.startsWith('-')
        ? `twine: unknown option ${first}\nRun \`twine --help\` for usage.\n`
        : `twine: unknown command ${JSON.stringify(first)} (commands: ${commands.map((c) => c.name).join(', ')})\nRun \`twine --help\` for usage.\n`,
    );
    return EXIT_USAGE;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(commandHelp(cmd));
    return EXIT_OK;
  }
  try {
    const { values, positionals } = parseOptions(cmd.options, rest, io.env, cmd.allowPositionals ?? false);
    return await cmd.run(values, positionals, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`twine ${cmd.name}: ${err.message}\nRun \`twine ${cmd.name} --help\` for usage.\n`);
      return EXIT_USAGE;
    }
    io.stderr(`twine ${cmd.name}: ${err instanceof Error ? err.message : String(err)}\n`);
    // Errors may carry their own exit code (e.g. 3: another instance is running).
    const code = (err as { exitCode?: unknown } | null)?.exitCode;
    return typeof code === 'number' && Number.isInteger(code) && code > 0 ? code : EXIT_FAILURE;
  }
}
