/**
 * The environment `run exec` gives its command: the runner's, minus whatever leads to the credential
 * that mints runs, plus the run key and its run id. The docs promise that environment holds no
 * credential that mints runs; a sixth-round tester's runner had the parent token in
 * STRIPE_SECRET_KEY, and with `--env-var MY_STRIPE_KEY` the command found it there, unchanged.
 */

import { textCarriesCredential } from '../proxy/credential-scan.ts';
import { jsonUnescaped, latin1Narrowed } from '../proxy/escapes.ts';
import type { UpstreamCredential } from '../snapshot/types.ts';
import { escapeForTerminal } from '../terminal-text.ts';
import { carriesToken, holdsTokenShape, tokenPrefixesFor } from '../tokens/redact.ts';
import { hasValidChecksum, tokenPrefixPart } from '../tokens/token.ts';

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
 * Drops every variable whose name or value holds a Keybrake key (holdsKey): the credential (a copy
 * of it, `Bearer <it>`, a URL carrying it, `NAME_<it>=x`, encoded or a near miss of it) or any other
 * vault token or run key, with or without `--user`.
 */
export function commandEnvironment(runner: NodeJS.ProcessEnv, run: RunHandOver): CommandEnvironment {
  const env: NodeJS.ProcessEnv = {};
  const withheld: string[] = [];
  let withheldUnnamed = 0;
  const holds = keyFinder(run.credential);
  for (const [name, value] of Object.entries(runner)) {
    if (value === undefined || WITHHELD.includes(name)) continue;
    // A sixth-round tester's `NAME_<token>=x` reached the command, and stderr printed the name.
    if (holds(name)) {
      withheldUnnamed++;
      continue;
    }
    if (holds(value)) {
      if (!run.variables.includes(name)) withheld.push(name);
      continue;
    }
    env[name] = value;
  }
  env['KEYBRAKE_RUN_ID'] = run.runId;
  for (const name of run.variables) env[name] = run.token;
  return { env, withheld, withheldUnnamed };
}

/**
 * Whether a variable's name or value holds a Keybrake key (thirteenth round: the parent token in a
 * Basic credential, percent-encoded or JSON-escaped, and another key's vault token, reached a
 * `--user` command, which decoded the parent token and minted runs of its own with it):
 * - the credential of `--token-file`: as it is, a near miss of it, percent-encoded (redact.ts
 *   carriesToken), and in every form the proxy's scan of answers finds an upstream key in (its
 *   base64 and base64url at any alignment, JSON `\u` and URL `%XX` escapes in any mix, wrapped);
 * - any vault token or run key by its shape (a known prefix: the vendors' and the credential's
 *   own), as it is, percent-encoded, JSON-escaped or in base64 at any alignment: another key's
 *   vault token mints runs of that key, and a run key spends.
 * The environment is the runner's, not the agent's: this is the runner's mistake caught, and a
 * variable withheld wrongly costs the command a value it can be given otherwise.
 */
function keyFinder(credential: string): (text: string) => boolean {
  const asUpstream: UpstreamCredential = { kind: 'bearer', token: credential };
  const own = hasValidChecksum(credential) ? [tokenPrefixPart(credential)] : [];
  const prefixes = tokenPrefixesFor(own);
  return (text) =>
    carriesToken(text, credential) ||
    textCarriesCredential(text, asUpstream) ||
    readings(text).some((reading) => holdsTokenShape(reading, prefixes));
}

/** A base64 run long enough to hold a vault token (prefix of 2 or more, body, checksum). */
const BASE64_RUN = /[A-Za-z0-9+/_-]{55,}/g;

/** `text`, its JSON `\u` escapes decoded, and every long base64 run in it decoded at each alignment. */
function readings(text: string): string[] {
  const out = [text];
  if (text.includes('\\')) out.push(jsonUnescaped(latin1Narrowed(text)).toString('latin1'));
  for (const [run] of text.matchAll(BASE64_RUN))
    for (let start = 0; start < 4; start++)
      out.push(Buffer.from(run.slice(start), 'base64').toString('latin1'));
  return out;
}

/** The stderr line that says which variables the command does not get, or undefined when none. */
export function withheldNotice({ withheld, withheldUnnamed }: CommandEnvironment): string | undefined {
  const why = 'holds the credential of --token-file, which mints runs, or another Keybrake key';
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
