import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { backoffDelay } from '../backoff.ts';
import {
  parseKeyRef,
  parseRunCap,
  parseRunTtl,
  RUN_ID_RULE,
  RUNS_PATH,
  type RunStarted,
  runPath,
} from '../tokens/run-api.ts';
import { looksLikeRunToken, RUN_ID_PATTERN } from '../tokens/run-token.ts';
import { hasValidChecksum } from '../tokens/token.ts';
import { type Flags, parseFlags, UsageError } from './args.ts';
import {
  inheritableDescriptors,
  namesDescriptor,
  sharedDescriptor,
  standardDescriptors,
} from './inherited-descriptor.ts';
import { readPemFlag } from './pem-file.ts';
import { commandEnvironment, withheldNotice } from './run-env.ts';
import { refusalLine } from './run-refusal.ts';
import { commandSpawnOptions, credentialExposure, parseRunUser, type RunUser } from './run-user.ts';
import { PROJECTED_TOKEN_PATH, SERVICE_ACCOUNT_TOKEN_PATH } from './service-account.ts';
import { untrustedOperatorLine } from './tls-trust.ts';

export const RUN_SUMMARY =
  'Run keys (ADR 0010): a child credential per agent run, with its own cap and lifetime.\n' +
  '  run start   mints a run key and prints it on stdout (nothing else: TOKEN=$(keybrake run start …))\n' +
  '  run stop <runId>   stops the run: its keys are refused on every proxy. The id is not checked:\n' +
  "              a stop is recorded (one of the key's 10 000) whether or not such a run was started\n" +
  '  run exec -- <command…>   mints a run key, runs the command with it in the vendor variable\n' +
  '              (STRIPE_SECRET_KEY and STRIPE_API_KEY, TWILIO_AUTH_TOKEN, RESEND_API_KEY; also\n' +
  '              KEYBRAKE_RUN_ID), passes stdio through, stops the run when the command exits\n' +
  '              (also on SIGINT/SIGTERM/SIGHUP, which it forwards) and exits with its code (1 for a 0\n' +
  '              when the stop failed after retries: the run key then stays valid until it expires;\n' +
  '              a signal during the stop makes one last attempt at once, a second gives it up).\n' +
  '              It leaves out every variable holding the --token-file credential in its value\n' +
  '              (named on stderr) or its name (counted, not named) and sets nothing else: point\n' +
  '              the command at Keybrake yourself, e.g.\n' +
  '              -- env RESEND_BASE_URL=http://127.0.0.1:8080/resend npx resend-mcp (or the preload).\n' +
  'Standalone: --admin <serve admin URL> --token-file <file holding the PARENT vault token>.\n' +
  'Kubernetes: --operator <https URL> --token-file <ServiceAccount token, audience keybrake>\n' +
  '            [--operator-ca <PEM>]; RBAC decides (create/delete on vaultkeys/runs).';

/** Where `serve` puts its admin listener unless told otherwise (--admin-listen). */
const DEFAULT_ADMIN = 'http://127.0.0.1:9090';

export const RUN_FLAGS = {
  key: {
    type: 'string',
    help: 'the parent VaultKey, <namespace>/<name> (a bare name is in namespace default, as for policy-check)',
    placeholder: 'ns/name',
  },
  cap: {
    type: 'string',
    // Tenth round: without it, on a policy with no perRunUsd, a run had no cap of its own and
    // nothing had said so beyond "cap none".
    help:
      "the run's own cap in USD, at most the policy's perRunUsd. Without it the run is capped by perRunUsd; " +
      "on a policy without perRunUsd the run has no cap of its own (the key's per-call, day, month and rate limits still apply)",
    placeholder: 'usd',
  },
  ttl: { type: 'string', help: "the run key's lifetime (default 1h, at most 168h)", placeholder: 'duration' },
  'run-id': {
    type: 'string',
    // KEYBRAKE_RUN_ID is what `run exec` gives its command: read as this flag, a `run exec` nested
    // in it would take the outer run's id, share its cap, and stop it on exit.
    noEnv: true,
    help: 'the run id (default: a random run-…; never read from KEYBRAKE_RUN_ID, which run exec sets for its command)',
    placeholder: 'id',
  },
  admin: {
    type: 'string',
    help: `standalone: serve's admin listener (${DEFAULT_ADMIN})`,
    placeholder: 'url',
  },
  operator: { type: 'string', help: "Kubernetes: the operator's HTTPS listener", placeholder: 'url' },
  'token-file': {
    type: 'string',
    help: `file holding the credential presented: the parent vault token (--admin), or a ServiceAccount token with audience keybrake (--operator; default ${PROJECTED_TOKEN_PATH} if present, else ${SERVICE_ACCOUNT_TOKEN_PATH})`,
    placeholder: 'path',
  },
  'operator-ca': {
    type: 'string',
    help: "PEM CA bundle that signed the operator's certificate (default: system roots)",
    placeholder: 'file',
  },
  'env-var': {
    type: 'string',
    multiple: true,
    help: "run exec: the variable(s) to put the run key in (default: the vendor's)",
    placeholder: 'NAME',
  },
  user: {
    type: 'string',
    help: "run exec: start the command as this user (needs root), in a session of its own and with no descriptor of the runner's but 0-2; the credential file's owner, another user, must be the only one who may read it",
    placeholder: 'uid:gid',
  },
  json: { type: 'boolean', help: 'run start: print the whole answer as JSON instead of the bare token' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Flags;

/** Where `run exec` puts the run key, by the parent's vendor (the variables their SDKs and MCP servers read). */
export const VENDOR_VARIABLES: Record<string, readonly string[]> = {
  stripe: ['STRIPE_SECRET_KEY', 'STRIPE_API_KEY'],
  twilio: ['TWILIO_AUTH_TOKEN'],
  resend: ['RESEND_API_KEY'],
};

const TIMEOUT_MS = 10_000;

interface Target {
  readonly base: string;
  readonly dispatcher: Agent;
  readonly bearer: string;
  /** The file the bearer credential was read from. */
  readonly tokenFile: string;
  /** What `base` should be, in words, for an answer that is not the run API's. */
  readonly listener: string;
  /** `--operator`: the bearer is a ServiceAccount's, and RBAC decides; absent for `--admin`. */
  readonly operator?: { readonly caFile: string | undefined };
}

/** A run id given on the command line, refused before any request; not quoted: it may be a token. */
function checkRunId(runId: string): void {
  if (!RUN_ID_PATTERN.test(runId)) throw new UsageError(`the run id must be ${RUN_ID_RULE}`);
  // A run key fits the run id's alphabet, and a stop puts its id in the URL path, where proxies and
  // access logs keep it (ninth round: `run stop <run key>` was sent).
  if (looksLikeRunToken(runId) || hasValidChecksum(runId))
    throw new UsageError(
      'that is a Keybrake key, not a run id: give the id run start printed on stderr (or in --json, runId)',
    );
}

/**
 * --cap and --ttl, by the run API's own rules, before any request: the API's 400 was an exit 1 after
 * the parent token had been sent (ninth round). Not quoted: the value may be a pasted token.
 */
function checkRunLimits(values: Record<string, unknown>): void {
  const cap = typeof values.cap === 'string' ? parseRunCap(values.cap) : 0;
  if (typeof cap !== 'number') throw new UsageError(`--cap: must be ${cap.mustBe}`);
  const ttl = typeof values.ttl === 'string' ? parseRunTtl(values.ttl) : 0;
  if (typeof ttl !== 'number') throw new UsageError(`--ttl: must be ${ttl.mustBe}`);
}

/** `keybrake run start|stop|exec`: resolves with the exit code. */
export async function runCommand(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, RUN_FLAGS, process.env, { positionals: true });
  const [sub, ...rest] = positionals;
  // The subcommand first: `run bogus` is about the word, not the missing --key.
  if (sub !== 'start' && sub !== 'stop' && sub !== 'exec') {
    throw new UsageError(
      // Echoed only when it reads as a word: a token pasted there stays off the terminal and logs.
      sub !== undefined && /^[a-z][a-z-]{0,23}$/.test(sub)
        ? `unknown subcommand "${sub}": expected start, stop or exec`
        : 'expected: keybrake run start|stop|exec',
    );
  }
  const ref = keyRef(values.key);
  const target = await targetFrom(values);
  try {
    if (sub === 'start') {
      if (rest.length > 0) throw new UsageError('run start takes no positional arguments');
      const started = await start(target, ref, values);
      process.stdout.write(values.json === true ? `${JSON.stringify(started)}\n` : `${started.token}\n`);
      return 0;
    }
    if (sub === 'stop') {
      const [runId, ...more] = rest;
      if (runId === undefined || more.length > 0)
        throw new UsageError('expected: keybrake run stop --key <ns>/<name> <runId>');
      checkRunId(runId);
      await stop(target, { ...ref, runId });
      return 0;
    }
    if (rest.length === 0) {
      throw new UsageError('expected: keybrake run exec --key <ns>/<name> [flags] -- <command…>');
    }
    return await exec(target, ref, values, rest);
  } finally {
    await target.dispatcher.close().catch(() => {});
  }
}

/**
 * `--key`: `<namespace>/<name>`, or a bare name in namespace `default`, as `policy-check --key` reads
 * it (a new-user walkthrough, sixth round, was told a given --key was "required"). Not echoed when
 * refused: a token pasted there stays off the terminal and logs.
 */
function keyRef(text: unknown): KeyRef {
  if (text === undefined) throw new UsageError('--key <namespace>/<name> is required');
  const bare = typeof text === 'string' && !text.includes('/');
  const ref = parseKeyRef(bare ? `default/${text}` : text);
  if (!ref) {
    throw new UsageError(
      '--key must be <namespace>/<name>, or a name in namespace default: Kubernetes names (lower-case letters, digits, "-" and ".")',
    );
  }
  return { ...ref, bare };
}

/** A parent key as --key named it: `bare` when given without its namespace. */
interface KeyRef {
  readonly namespace: string;
  readonly name: string;
  readonly bare: boolean;
}

/**
 * What a 403 forbidden of the run API adds: the key tried, and where a bare name looks. Through the
 * operator the bearer is a ServiceAccount token and RBAC refused it, so the standalone question
 * "is --token-file that key's token?" sent the user the wrong way there (tenth round).
 */
function forbiddenHint(ref: KeyRef, target: Target): string {
  const named = `--key named VaultKey ${ref.namespace}/${ref.name}`;
  if (ref.bare)
    return `${named}: a bare name is in namespace default; give --key <namespace>/<name> for a key of another namespace`;
  return target.operator === undefined
    ? `${named}: is --token-file that key's token?`
    : `${named}: RBAC must let the ServiceAccount of --token-file create and delete vaultkeys/runs in namespace ${ref.namespace}, as the chart's <fullname>-run-minter ClusterRole does when bound there`;
}

async function targetFrom(values: Record<string, unknown>): Promise<Target> {
  const admin = values.admin as string | undefined;
  const operator = values.operator as string | undefined;
  if ((admin === undefined) === (operator === undefined))
    throw new UsageError('give either --admin <url> (standalone) or --operator <url> (Kubernetes)');
  const url = parseUrl(admin ?? operator!, admin ? 'admin' : 'operator');
  if (operator !== undefined && url.protocol !== 'https:')
    throw new UsageError('--operator must be an https URL (the run key travels back on it)');
  const tokenFile =
    (values['token-file'] as string | undefined) ??
    (operator === undefined
      ? undefined
      : existsSync(PROJECTED_TOKEN_PATH)
        ? PROJECTED_TOKEN_PATH
        : SERVICE_ACCOUNT_TOKEN_PATH);
  if (!tokenFile)
    throw new UsageError('--token-file is required with --admin: a file holding the parent vault token');
  const bearer = (
    await readFile(tokenFile, 'utf8').catch(() => {
      throw new UsageError(`--token-file ${tokenFile}: cannot read the file`);
    })
  ).trim();
  if (!bearer) throw new UsageError(`--token-file ${tokenFile} is empty`);
  const caFile = values['operator-ca'] as string | undefined;
  const ca = caFile ? await readPemFlag('operator-ca', caFile, 'certificates') : undefined;
  const dispatcher = new Agent({
    ...(ca !== undefined ? { connect: { ca } } : {}),
    headersTimeout: TIMEOUT_MS,
    bodyTimeout: TIMEOUT_MS,
  });
  const listener = admin
    ? `--admin, serve's admin listener (default ${DEFAULT_ADMIN})`
    : "--operator, the operator's run API (its HTTPS listener, :8443 in the chart)";
  return {
    base: url.href.replace(/\/+$/, ''),
    dispatcher,
    bearer,
    tokenFile,
    listener,
    ...(operator !== undefined && { operator: { caFile } }),
  };
}

function parseUrl(text: string, flag: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--${flag} ${text}: not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`--${flag}: expected an http(s) URL`);
  if (url.username || url.password) throw new UsageError(`--${flag} must not carry credentials`);
  return url;
}

/** Calls the run API; resolves with the JSON answer, or throws the API's refusal as a one-line error. */
async function call(
  target: Target,
  ref: KeyRef,
  method: 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  abort?: AbortSignal,
): Promise<unknown> {
  const res = await request(`${target.base}${path}`, {
    method,
    dispatcher: target.dispatcher,
    headers: {
      authorization: `Bearer ${target.bearer}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: abort
      ? AbortSignal.any([AbortSignal.timeout(TIMEOUT_MS), abort])
      : AbortSignal.timeout(TIMEOUT_MS),
  }).catch((err: unknown) => {
    const untrusted = target.operator && untrustedOperatorLine(err, target.operator.caFile);
    throw untrusted ? new Error(untrusted) : err;
  });
  const text = await res.body.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (res.statusCode >= 200 && res.statusCode < 300) return parsed;
  throw new Error(
    refusalLine(
      `${method} ${path.split('/').slice(0, 3).join('/')}`,
      res.statusCode,
      parsed,
      target.listener,
      forbiddenHint(ref, target),
    ),
  );
}

async function start(target: Target, ref: KeyRef, values: Record<string, unknown>): Promise<RunStarted> {
  // Checked here, for start and exec, as stop checks its id: the server's 400 was an exit 1.
  if (typeof values['run-id'] === 'string') checkRunId(values['run-id']);
  checkRunLimits(values);
  const body = {
    key: `${ref.namespace}/${ref.name}`,
    ...(values.cap !== undefined ? { cap: values.cap } : {}),
    ...(values.ttl !== undefined ? { ttl: values.ttl } : {}),
    ...(values['run-id'] !== undefined ? { runId: values['run-id'] } : {}),
  };
  const started = (await call(target, ref, 'POST', RUNS_PATH, body)) as RunStarted;
  if (typeof started?.token !== 'string' || typeof started.runId !== 'string')
    throw new Error('the run API answered without a run key');
  process.stderr.write(
    `keybrake run: started run ${started.runId} of ${started.vaultKey} (${started.capUsd === null ? "no run cap: no --cap, and the policy has no perRunUsd; the key's other limits apply" : `cap $${started.capUsd}`}, expires ${started.expiresAt})\n`,
  );
  return started;
}

async function stop(
  target: Target,
  ref: KeyRef & { readonly runId: string },
  abort?: AbortSignal,
): Promise<void> {
  const answer = await call(target, ref, 'DELETE', runPath(ref), undefined, abort);
  // An operator before the twelfth round answered 200 to a stop Redis did not record: the next
  // leader, and every proxy that connects later, would admit the run key. Not a stop: retried.
  if ((answer as { redis?: unknown } | undefined)?.redis === 'failed')
    throw new Error(
      `DELETE ${RUNS_PATH} answered 200 with "redis":"failed": the run is stopped on the proxies connected now, but Redis did not record it for the next leader and the proxies that connect later`,
    );
  // Stops are stateless (ADR 0010): the proxy records one for any id, so a mistyped id "succeeds".
  process.stderr.write(
    `keybrake run: stopped run ${ref.runId} of ${ref.namespace}/${ref.name} (a stop is recorded whether or not such a run was started)\n`,
  );
}

/** `--user`: who the command runs as, and the runner's descriptors above 2 it must not inherit. */
interface CommandUser {
  readonly user: RunUser;
  readonly inherited: readonly number[];
}

/** The user of `--user`, checked before anything is minted: root can switch to it, and it cannot read the credential. */
async function commandUser(text: string, tokenFile: string): Promise<CommandUser> {
  const user = parseRunUser(text);
  if (process.getuid?.() !== 0) throw new UsageError('--user needs keybrake run exec to run as root');
  if (namesDescriptor(tokenFile, process.cwd()))
    throw new UsageError(
      `--user ${text}: --token-file ${tokenFile} names an open descriptor, not a file: the command shares the runner's stdin, stdout and stderr, and could read the credential that mints runs there; give the file's own path (the command is given no other descriptor of the runner's)`,
    );
  const file = await stat(tokenFile);
  const fd = sharedDescriptor(file, standardDescriptors());
  if (fd !== undefined)
    throw new UsageError(
      `--user ${text}: --token-file ${tokenFile} is also the runner's descriptor ${fd}, which the command inherits with the credential that mints runs; do not redirect the runner's stdin, stdout or stderr from or to it`,
    );
  const exposure = credentialExposure(file, user);
  if (exposure !== undefined)
    throw new UsageError(
      `--user ${text}: the command could read ${tokenFile} (the credential that mints runs): ${exposure}; let only another user read it (e.g. owned by root, chmod 600)`,
    );
  // Listed now, before minting: without /proc the descriptors the command would get are unknown.
  let inherited: number[];
  try {
    inherited = inheritableDescriptors();
  } catch {
    throw new UsageError(
      `--user ${text}: cannot list the runner's open descriptors (/proc/self/fd), which the command must not inherit`,
    );
  }
  return { user, inherited };
}

/**
 * Mints a run key, runs `command` with it in the vendor's variables, and stops the run when the
 * command exits, whichever way: its exit code becomes ours (128 + n for a signal), but 1 for a 0
 * when the run could not be stopped. SIGINT, SIGTERM,
 * SIGHUP and SIGQUIT are passed on to the command, which decides when to exit; the stop comes after.
 */
async function exec(
  target: Target,
  key: KeyRef,
  values: Record<string, unknown>,
  command: readonly string[],
): Promise<number> {
  const isolated =
    values.user === undefined ? undefined : await commandUser(values.user as string, target.tokenFile);
  const chosen = values['env-var'] as string[] | undefined;
  // Before minting, and not echoed: the command would see that name, and so the credential.
  if (chosen?.some((name) => name.includes(target.bearer)))
    throw new UsageError('--env-var: a name given holds the credential of --token-file, which mints runs');
  const started = await start(target, key, values);
  const variables = chosen ?? VENDOR_VARIABLES[started.vendor] ?? [];
  if (variables.length === 0)
    throw new UsageError(`no variable known for vendor ${started.vendor}: give --env-var`);
  const handedOver = commandEnvironment(process.env, {
    credential: target.bearer,
    token: started.token,
    runId: started.runId,
    variables,
  });
  const notice = withheldNotice(handedOver);
  if (notice !== undefined) process.stderr.write(notice);
  const { env } = handedOver;

  const ref = { ...parseKeyRef(started.vaultKey)!, bare: key.bare, runId: started.runId };
  let child: ChildProcess;
  // The stop signals a terminal, a supervisor or a closing session sends. SIGQUIT (Ctrl-\) too
  // (twelfth round): its default action ended the runner silently, no stop attempted, while a
  // command that ignores it (a JVM prints a thread dump and goes on) kept spending with the run key.
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
  // Under --user the command has a session of its own (run-user.ts): the terminal's signals reach
  // the runner alone, so they go on to the command's whole process group, as the terminal sent them
  // before, and SIGWINCH with them. Ctrl-Z cannot stop a group in another session (the kernel drops
  // SIGTSTP for an orphaned group): answered with a notice rather than suspending the runner alone.
  const relayed: NodeJS.Signals[] = isolated ? [...signals, 'SIGWINCH'] : signals;
  const forward = (signal: NodeJS.Signals) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    if (!isolated || child.pid === undefined) child.kill(signal);
    else
      try {
        process.kill(-child.pid, signal);
      } catch {
        // The group is gone: the exit is on its way.
      }
  };
  const suspend = () =>
    process.stderr.write(
      'keybrake run exec: the command runs in a session of its own (--user) and cannot be suspended; Ctrl-C stops it\n',
    );
  for (const s of relayed) process.on(s, forward);
  if (isolated) process.on('SIGTSTP', suspend);
  let code: number;
  // /dev/null, close-on-exec here, put in the child on the numbers of the descriptors it must not inherit.
  const placeholder = isolated && isolated.inherited.length > 0 ? openSync('/dev/null', 'r') : undefined;
  try {
    child = spawn(
      command[0]!,
      command.slice(1),
      isolated
        ? { env, ...commandSpawnOptions(isolated.user, isolated.inherited, placeholder ?? -1) }
        : { stdio: 'inherit', env },
    );
    code = await new Promise<number>((resolve) => {
      child.once('error', (err: NodeJS.ErrnoException) => {
        process.stderr.write(`keybrake run exec: cannot start ${command[0]}: ${err.code ?? err.message}\n`);
        resolve(err.code === 'ENOENT' ? 127 : 126);
      });
      child.once('exit', (exitCode, signal) =>
        resolve(exitCode ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0)),
      );
    });
  } finally {
    for (const s of relayed) process.off(s, forward);
    process.off('SIGTSTP', suspend);
    if (placeholder !== undefined) closeSync(placeholder);
  }
  // Until the stop has finished, a stop signal is ours to answer: its default action would end the
  // runner in the middle of the retries, silently, the run key still valid (eleventh round: a second
  // Ctrl-C, or a closing terminal's second SIGHUP).
  const interrupts = stopInterrupts(ref.runId, started.expiresAt);
  for (const s of signals) process.on(s, interrupts.on);
  let failure: Error | undefined;
  try {
    failure = await stopWithRetries(target, ref, interrupts);
  } finally {
    for (const s of signals) process.off(s, interrupts.on);
  }
  if (failure === undefined) return code;
  // The run key stays valid until it expires: say so loudly, and never exit 0 while it does (a
  // caller that reads only the exit code would think the run ended).
  process.stderr.write(
    `keybrake run exec: could not stop run ${ref.runId} (its key stays valid until ${started.expiresAt}): ${failure.message}\n`,
  );
  return code === 0 ? 1 : code;
}

/**
 * Attempts at stopping the run when the command has exited. The command may still hold the admin
 * listener's connections (a fourth-round probe left a daemon holding all of them, and the one attempt
 * there was failed), or a replica may be restarting: retried for about 8 s, then given up loudly.
 */
const STOP_ATTEMPTS = 6;
const STOP_BACKOFF = { initialMs: 250, maxMs: 4_000 } as const;

/**
 * What a stop signal does once the command has exited and the run is being stopped. The first cuts
 * the retries short: one last attempt now, not after a backoff (whoever presses Ctrl-C again wants
 * out, but not with the run key still valid unsaid). The next gives up the attempt in flight. Either
 * way `run exec` then says whether the run was stopped, and exits as README says: never silently.
 */
interface StopInterrupts {
  readonly on: (signal: NodeJS.Signals) => void;
  /** Aborted by the first signal: no more waiting between attempts, and no attempt after the next. */
  readonly hurry: AbortSignal;
  /** Aborted by a second signal: the attempt in flight is given up. */
  readonly abandon: AbortSignal;
}

function stopInterrupts(runId: string, expiresAt: string): StopInterrupts {
  const hurry = new AbortController();
  const abandon = new AbortController();
  return {
    hurry: hurry.signal,
    abandon: abandon.signal,
    on: (signal) => {
      if (!hurry.signal.aborted) {
        process.stderr.write(
          `keybrake run exec: ${signal} while stopping run ${runId}: one last attempt now (${signal} again gives it up; the run key would stay valid until ${expiresAt})\n`,
        );
        hurry.abort(new Error(`interrupted by ${signal}`));
      } else if (!abandon.signal.aborted) abandon.abort(new Error(`given up on a second ${signal}`));
    },
  };
}

/**
 * Stops the run, retrying; the last error when every attempt failed. After a signal (`interrupts`),
 * one more attempt at most, started at once; after a second, none, and the one in flight given up.
 */
async function stopWithRetries(
  target: Target,
  ref: KeyRef & { readonly runId: string },
  interrupts: Pick<StopInterrupts, 'hurry' | 'abandon'>,
): Promise<Error | undefined> {
  let last: Error | undefined;
  for (let attempt = 1; ; attempt++) {
    // An attempt started after the first signal is the last one, whatever comes of it.
    const final = interrupts.hurry.aborted;
    try {
      await stop(target, ref, interrupts.abandon);
      return undefined;
    } catch (err) {
      last = interrupts.abandon.aborted ? (interrupts.abandon.reason as Error) : (err as Error);
    }
    if (final || interrupts.abandon.aborted || attempt >= STOP_ATTEMPTS) return last;
    // A signal ends the wait at once (the rejection is the signal's, not a failure).
    await delay(backoffDelay(attempt, STOP_BACKOFF), undefined, { signal: interrupts.hurry }).catch(() => {});
  }
}
