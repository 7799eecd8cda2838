/**
 * The environment `run exec` gives its command: the runner's, minus whatever leads to the credential
 * that mints runs, plus the run key and its run id. The docs promise that environment holds no
 * credential that mints runs; a sixth-round tester's runner had the parent token in
 * STRIPE_SECRET_KEY, and with `--env-var MY_STRIPE_KEY` the command found it there, unchanged.
 */

import { escapeForTerminal } from '../terminal-text.ts';

/** Variables never handed to the command: they lead to the credential that mints runs. */
const WITHHELD = ['KEYBRAKE_TOKEN_FILE'];

export interface CommandEnvironment {
  readonly env: NodeJS.ProcessEnv;
  /**
   * The variables left out because their value held the credential, and not set again to the run
   * key: their names alone, so a user learns why one is missing without the value being printed.
   */
  readonly withheld: readonly string[];
  /** How many were left out because their name held the credential: never named, as that prints it. */
  readonly withheldUnnamed: number;
}

export interface RunHandOver {
  /** The credential `run exec` presented (`--token-file`'s): a parent vault token or a ServiceAccount token. */
  readonly credential: string;
  readonly token: string;
  readonly runId: string;
  /** Where the run key goes: names that do not hold `credential` (`run exec` refuses such an --env-var). */
  readonly variables: readonly string[];
}

/**
 * Drops every variable whose name or value contains `credential` verbatim (a copy of it, `Bearer
 * <it>`, a URL carrying it, `NAME_<it>=x`), with or without `--user`: a copy encoded otherwise
 * (base64, percent-encoded) is not recognised.
 */
export function commandEnvironment(runner: NodeJS.ProcessEnv, run: RunHandOver): CommandEnvironment {
  const env: NodeJS.ProcessEnv = {};
  const withheld: string[] = [];
  let withheldUnnamed = 0;
  for (const [name, value] of Object.entries(runner)) {
    if (value === undefined || WITHHELD.includes(name)) continue;
    // A sixth-round tester's `NAME_<token>=x` reached the command, and stderr printed the name.
    if (name.includes(run.credential)) {
      withheldUnnamed++;
      continue;
    }
    if (value.includes(run.credential)) {
      if (!run.variables.includes(name)) withheld.push(name);
      continue;
    }
    env[name] = value;
  }
  env['KEYBRAKE_RUN_ID'] = run.runId;
  for (const name of run.variables) env[name] = run.token;
  return { env, withheld, withheldUnnamed };
}

/** The stderr line that says which variables the command does not get, or undefined when none. */
export function withheldNotice({ withheld, withheldUnnamed }: CommandEnvironment): string | undefined {
  const why = 'holds the credential of --token-file, which mints runs';
  const unnamed = `${withheldUnnamed} variable${withheldUnnamed === 1 ? '' : 's'}`;
  const clauses = [
    // Names are the runner's text: escaped, so none can colour the terminal or forge a line.
    ...(withheld.length > 0
      ? [`not passing ${withheld.map(escapeForTerminal).join(', ')} to the command: the value ${why}`]
      : []),
    ...(withheldUnnamed > 0 ? [`not passing ${unnamed} to the command: the name ${why} (not printed)`] : []),
  ];
  return clauses.length > 0 ? `keybrake run exec: ${clauses.join('; ')}\n` : undefined;
}
