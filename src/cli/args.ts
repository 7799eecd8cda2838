import { parseArgs } from 'node:util';
import { closestFlag } from './closest-flag.ts';

/** One flag of a subcommand: its help line, and whether it repeats. */
export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly help: string;
  readonly multiple?: boolean;
  readonly default?: string | string[];
  readonly short?: string;
  readonly placeholder?: string;
  /** Not read from KEYBRAKE_<FLAG> (the variable means something else there, or nothing). */
  readonly noEnv?: boolean;
  /**
   * A repeated flag whose command-line values are taken whole (policy-check's --header: a value may
   * hold commas); only its KEYBRAKE_<FLAG> is comma-separated. Every other repeated flag also takes
   * `a,b` (parseFlags), which its help says.
   */
  readonly whole?: boolean;
}

export type Flags = Record<string, FlagSpec>;

/** Raised for bad command-line input; the CLI prints the message and the usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** `--vendor-port` → `KEYBRAKE_VENDOR_PORT`. */
export function envName(flag: string): string {
  return `KEYBRAKE_${flag.replace(/-/g, '_').toUpperCase()}`;
}

/**
 * Parses flags, with KEYBRAKE_* environment variables as fallbacks (comma-separated for repeated
 * flags) and then the defaults. Unknown flags are errors, not silently ignored.
 */
export function parseFlags(
  argv: readonly string[],
  flags: Flags,
  env: NodeJS.ProcessEnv = process.env,
  opts: { positionals?: boolean } = {},
): { values: Record<string, string | string[] | boolean | undefined>; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const [name, spec] of Object.entries(flags)) {
    options[name] = {
      type: spec.type,
      ...(spec.multiple ? { multiple: true } : {}),
      ...(spec.short ? { short: spec.short } : {}),
    };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options,
      allowPositionals: opts.positionals ?? false,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(withSuggestion(err as Error & { code?: string }, Object.keys(flags)));
  }
  const values: Record<string, string | string[] | boolean | undefined> = {};
  for (const [name, spec] of Object.entries(flags)) {
    let v = parsed.values[name] as string | string[] | boolean | undefined;
    if (v === undefined && !readsEnv(name, spec)) {
      // No fallback: the flag is not read from the environment.
    } else if (v === undefined) {
      const fromEnv = env[envName(name)];
      if (fromEnv !== undefined && fromEnv !== '') {
        if (spec.type === 'boolean') v = fromEnv === 'true' || fromEnv === '1';
        else v = spec.multiple ? splitList(fromEnv) : fromEnv;
      }
    }
    if (v === undefined && spec.default !== undefined) v = spec.default;
    if (spec.multiple && Array.isArray(v)) v = v.flatMap(splitList);
    values[name] = v;
  }
  return { values, positionals: parsed.positionals };
}

/** node:util's message for an unknown option, with the flag it most likely meant. */
function withSuggestion(err: Error & { code?: string }, flags: readonly string[]): string {
  const typed =
    err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /^Unknown option '(--[^']+)'/.exec(err.message) : null;
  const meant = typed ? closestFlag(typed[1]!, flags) : undefined;
  if (!typed || meant === undefined) return err.message;
  return `${typed[0]} (did you mean --${meant}?)${err.message.slice(typed[0].length)}`;
}

/**
 * A usage error about a flag that was not on the command line but read from its KEYBRAKE_* variable
 * names the variable: `KEYBRAKE_MAX_BODY=1e3 keybrake serve` said only "--max-body 1e3: expected a
 * positive whole number", a flag the user never typed (seventh round). The flag's messages start
 * `--<flag> <value>: …` (flag-values.ts); the variable goes before the first ": ".
 */
export function nameFlagSource(
  message: string,
  flags: Flags,
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): string {
  const name = /^--([a-z0-9-]+)\b/.exec(message)?.[1];
  const spec = name === undefined ? undefined : flags[name];
  if (name === undefined || spec === undefined || !readsEnv(name, spec)) return message;
  if (argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`))) return message;
  const variable = envName(name);
  if (env[variable] === undefined || env[variable] === '') return message;
  const colon = message.indexOf(': ');
  return colon === -1
    ? `${message} (from ${variable})`
    : `${message.slice(0, colon)} (from ${variable})${message.slice(colon)}`;
}

/** `--help` is answered before any flag is parsed, so KEYBRAKE_HELP means nothing. */
function readsEnv(name: string, spec: FlagSpec): boolean {
  return !spec.noEnv && name !== 'help';
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Help text for a subcommand, generated from its flag table so the two cannot drift. */
export function usage(command: string, summary: string, flags: Flags, positional = ''): string {
  const lines = [
    // The subcommand or operands first, as they are typed: `keybrake token new [flags]`.
    `Usage: keybrake ${command}${positional ? ` ${positional}` : ''} [flags]`,
    '',
    summary,
    '',
    'Flags:',
  ];
  const entries = Object.entries(flags).map(([name, spec]) => ({
    name,
    spec,
    flag: `  --${name}${spec.type === 'string' ? ` <${spec.placeholder ?? 'value'}>` : ''}`,
  }));
  // One column for every flag's text, wide enough for the longest: none runs into its help.
  const column = Math.max(34, ...entries.map((e) => e.flag.length + 2));
  for (const { name, spec, flag } of entries) {
    const def = spec.default !== undefined ? ` (default: ${[spec.default].flat().join(',')})` : '';
    const rep = spec.multiple ? (spec.whole ? ' (repeatable)' : ' (repeatable, or comma-separated)') : '';
    const env = readsEnv(name, spec) ? `  [env ${envName(name)}]` : '';
    lines.push(flag.padEnd(column) + `${spec.help}${rep}${def}${env}`);
  }
  return lines.join('\n');
}
