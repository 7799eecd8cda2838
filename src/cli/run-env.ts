/**
 * The environment `run exec` gives its command: the runner's, minus whatever leads to the credential
 * that mints runs, plus the run key and its run id. The docs promise that environment holds no
 * credential that mints runs; a sixth-round tester's runner had the parent token in
 * STRIPE_SECRET_KEY, and with `--env-var MY_STRIPE_KEY` the command found it there, unchanged.
 */

/** Variables never handed to the command: they lead to the credential that mints runs. */
const WITHHELD = ['KEYBRAKE_TOKEN_FILE'];

export interface CommandEnvironment {
  readonly env: NodeJS.ProcessEnv;
  /**
   * The variables left out because their value held the credential, and not set again to the run
   * key: their names alone, so a user learns why one is missing without the value being printed.
   */
  readonly withheld: readonly string[];
}

export interface RunHandOver {
  /** The credential `run exec` presented (`--token-file`'s): a parent vault token or a ServiceAccount token. */
  readonly credential: string;
  readonly token: string;
  readonly runId: string;
  /** Where the run key goes. */
  readonly variables: readonly string[];
}

/**
 * Drops every variable whose value contains `credential` verbatim (a copy of it, `Bearer <it>`, a URL
 * carrying it), with or without `--user`: a copy encoded otherwise (base64, percent-encoded) is not
 * recognised.
 */
export function commandEnvironment(runner: NodeJS.ProcessEnv, run: RunHandOver): CommandEnvironment {
  const env: NodeJS.ProcessEnv = {};
  const withheld: string[] = [];
  for (const [name, value] of Object.entries(runner)) {
    if (value === undefined || WITHHELD.includes(name)) continue;
    if (value.includes(run.credential)) {
      if (!run.variables.includes(name)) withheld.push(name);
      continue;
    }
    env[name] = value;
  }
  env['KEYBRAKE_RUN_ID'] = run.runId;
  for (const name of run.variables) env[name] = run.token;
  return { env, withheld };
}
