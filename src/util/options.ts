// Command-line options with an environment-variable twin each (compose users
// configure services through `environment:`). A flag given on the command line
// wins over its environment variable, which wins over the default.

import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';

export interface OptionSpec {
  /** Long name without dashes: "docker-socket". */
  name: string;
  type: 'string' | 'boolean';
  /** The environment variable that also sets it: "TWINE_DOCKER_SOCKET". */
  env?: string;
  short?: string;
  description: string;
  /** Placeholder shown in --help for string options. */
  valueName?: string;
  default?: string | boolean;
  /** Allowed values of a string option. */
  choices?: readonly string[];
  /** Checks a string value; returns what is wrong with it ("expected a number from 0 to 60"), else undefined. */
  check?: (value: string) => string | undefined;
}

export type OptionValues = Record<string, string | boolean | undefined>;

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off', '']);

function fromEnv(spec: OptionSpec, raw: string): string | boolean {
  if (spec.type === 'string') return raw;
  const v = raw.trim().toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new UsageError(`${spec.env}=${JSON.stringify(raw)}: expected one of 1, true, yes, on, 0, false, no, off`);
}

/**
 * Parses argv against the specs (strict: unknown options and stray values are
 * UsageErrors), then fills what was not given from the environment and the
 * defaults, and checks choices.
 */
export function parseOptions(
  specs: readonly OptionSpec[],
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  allowPositionals = false,
): { values: OptionValues; positionals: string[] } {
  const config: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const s of specs) config[s.name] = s.short ? { type: s.type, short: s.short } : { type: s.type };
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: config, strict: true, allowPositionals }) as typeof parsed;
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  const values: OptionValues = {};
  for (const s of specs) {
    let v = parsed.values[s.name];
    let source = `--${s.name}`;
    if (v === undefined && s.env !== undefined && env[s.env] !== undefined) {
      v = fromEnv(s, env[s.env]!);
      source = s.env;
    }
    v ??= s.default;
    if (v !== undefined && s.choices && typeof v === 'string' && !s.choices.includes(v)) {
      throw new UsageError(`${source}=${JSON.stringify(v)}: expected one of ${s.choices.join(', ')}`);
    }
    // Where the value came from is named in the error: the flag, or the variable that set it.
    const wrong = typeof v === 'string' && s.check ? s.check(v) : undefined;
    if (wrong !== undefined) throw new UsageError(`${source}=${JSON.stringify(v)}: ${wrong}`);
    values[s.name] = v;
  }
  return { values, positionals: parsed.positionals };
}

/** The options block of a command's --help. */
export function formatOptions(specs: readonly OptionSpec[]): string {
  const rows = specs.map((s) => {
    const flag = `${s.short ? `-${s.short}, ` : '    '}--${s.name}${s.type === 'string' ? ` <${s.valueName ?? 'value'}>` : ''}`;
    const extra: string[] = [];
    if (s.choices) extra.push(`one of ${s.choices.join('|')}`);
    if (s.default !== undefined) extra.push(`default ${String(s.default)}`);
    if (s.env) extra.push(`env ${s.env}`);
    return [flag, `${s.description}${extra.length ? ` (${extra.join('; ')})` : ''}`] as const;
  });
  const w = Math.max(0, ...rows.map(([f]) => f.length));
  return rows.map(([f, d]) => `  ${f.padEnd(w)}  ${d}`).join('\n');
}

/** What a parser's error says about the value, without the value it quotes first. */
export function problemOf(parse: () => unknown): string | undefined {
  try {
    parse();
    return undefined;
  } catch (err) {
    return (err as Error).message.replace(/^[^:]*"(?:[^"\\]|\\.)*": /, '');
  }
}
