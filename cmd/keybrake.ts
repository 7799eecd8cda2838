#!/usr/bin/env node
// The keybrake CLI: thin wiring from argv to the commands in src/cli (DESIGN.md §8). Each command's
// module is imported only when it runs, so `token new` or `--help` do not load the whole proxy.
import { type Flags, nameFlagSource, UsageError, usage } from '../src/cli/args.ts';
import { closestFlag } from '../src/cli/closest-flag.ts';
import { enableModuleCache } from '../src/cli/module-cache.ts';

// Before any command's modules load (they are imported when the command runs).
enableModuleCache();

const HELP = `keybrake: a spend-governing proxy between AI agents and Stripe, Twilio and Resend.

Usage: keybrake <command> [flags]
       keybrake --version

Commands:
  serve          run the proxy from manifest files (standalone; the quick start)
  operator       reconcile VaultKey / SpendPolicy resources and serve snapshots to proxies (Kubernetes)
  proxy          run a proxy replica that follows the operator (Kubernetes)
  token new      print a fresh vault token, or a Secret manifest holding one
  run            start | stop | exec: a run key per agent run, with its own cap and lifetime
  policy-check   validate SpendPolicy / VaultKey / Secret manifests offline; --explain: what Keybrake
                 would decide for one request with one key, check by check
  catalog        print every operation Keybrake knows for a vendor, with its class
  demo           run a runaway agent against a local Stripe emulator and watch the cap stop it

Run 'keybrake <command> --help' or 'keybrake help <command>' for a command's flags. Every flag can also be set as KEYBRAKE_<FLAG>, unless its help says otherwise.`;

/** A long-running command: closed on a signal; a proxy may also stop by itself (`failed`). */
interface Running {
  close(): Promise<void>;
  readonly failed?: Promise<Error>;
}

/** What a command module provides: its help, and how to run it (a service resolves to its closer). */
interface Command {
  readonly summary: string;
  readonly flags: Flags;
  readonly positional: string;
  run(argv: string[]): Promise<number | Running>;
}

const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => {
    const m = await import('../src/cli/serve.ts');
    // serve makes its own logger, at KEYBRAKE_LOG_LEVEL checked like a flag (a bad one exits 2).
    return { summary: m.SERVE_SUMMARY, flags: m.SERVE_FLAGS, positional: '', run: (a) => m.serve(a) };
  },
  operator: async () => {
    const m = await import('../src/cli/operator.ts');
    return { summary: m.OPERATOR_SUMMARY, flags: m.OPERATOR_FLAGS, positional: '', run: m.operatorCommand };
  },
  proxy: async () => {
    const m = await import('../src/cli/proxy.ts');
    return { summary: m.PROXY_SUMMARY, flags: m.PROXY_FLAGS, positional: '', run: m.proxyCommand };
  },
  token: async () => {
    const m = await import('../src/cli/token.ts');
    return {
      summary: m.TOKEN_SUMMARY,
      flags: m.TOKEN_FLAGS,
      positional: 'new',
      run: async (a) => {
        process.stdout.write(`${m.tokenCommand(a)}\n`);
        return 0;
      },
    };
  },
  run: async () => {
    const m = await import('../src/cli/run.ts');
    return {
      summary: m.RUN_SUMMARY,
      flags: m.RUN_FLAGS,
      // Flags go before exec's `--`: the summary gives each form in full.
      positional: 'start | stop <runId> | exec',
      run: m.runCommand,
    };
  },
  'policy-check': async () => {
    const m = await import('../src/cli/policy-check.ts');
    return {
      summary: m.POLICY_CHECK_SUMMARY,
      flags: m.POLICY_CHECK_FLAGS,
      positional: '<file|dir>...',
      run: m.policyCheckCommand,
    };
  },
  catalog: async () => {
    const m = await import('../src/cli/catalog.ts');
    return {
      summary: m.CATALOG_SUMMARY,
      flags: m.CATALOG_FLAGS,
      positional: '<stripe|twilio|resend>',
      run: (a) => m.printCatalog(a),
    };
  },
  demo: async () => {
    const m = await import('../src/cli/demo.ts');
    return { summary: m.DEMO_SUMMARY, flags: m.DEMO_FLAGS, positional: '', run: (a) => m.demo(a) };
  },
};

/** The command `name` names, or undefined after saying on stderr that there is none. */
async function loadCommand(name: string): Promise<Command | undefined> {
  const load = COMMANDS[name];
  if (load) return await load();
  const meant = closestFlag(name, Object.keys(COMMANDS));
  const hint = meant === undefined ? '' : ` (did you mean ${meant}?)`;
  process.stderr.write(`keybrake: unknown command "${name}"${hint}\n\n${HELP}\n`);
  return undefined;
}

function printUsage(name: string, command: Command): number {
  process.stdout.write(`${usage(name, command.summary, command.flags, command.positional)}\n`);
  return 0;
}

/** What `keybrake help <word>` takes as asking for the command list itself. */
const HELP_WORDS: ReadonlySet<string> = new Set(['help', '--help', '-h']);

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  // `keybrake help serve` is how git, go and kubectl users ask for serve's help: the command's own
  // usage, as `serve --help` prints it, not the command list (tenth round).
  // `help help`, `help --help` and `help -h` ask for help about help: the command list, as `help`
  // alone prints it (sixteenth round: they were "unknown command", exit 2).
  if (name === 'help' && rest[0] !== undefined && !HELP_WORDS.has(rest[0])) {
    const command = await loadCommand(rest[0]);
    return command === undefined ? 2 : printUsage(rest[0], command);
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${HELP}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    const { packageVersion } = await import('../src/cli/version.ts');
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const command = await loadCommand(name);
  if (command === undefined) return 2;
  // Only keybrake's own arguments: what follows `--` belongs to the command `run exec` runs.
  const end = rest.indexOf('--');
  const own = end === -1 ? rest : rest.slice(0, end);
  if (own.includes('--help') || own.includes('-h')) return printUsage(name, command);
  const early = LONG_RUNNING.has(name) ? catchEarlySignals(name) : undefined;
  try {
    const result = await command.run(rest);
    return typeof result === 'number' ? result : await untilSignal(name, result, early);
  } catch (err) {
    if (err instanceof UsageError) {
      const message = nameFlagSource(err.message, command.flags, own);
      process.stderr.write(`keybrake ${name}: ${message}\nRun 'keybrake ${name} --help' for usage.\n`);
      return 2;
    }
    process.stderr.write(`keybrake ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    early?.release();
  }
}

/**
 * The one place signals are handled: a long-running command runs until SIGINT, SIGTERM or SIGHUP,
 * then is closed; a proxy drains first (calls in flight finish within --drain-timeout, the audit is
 * flushed) and the process exits 0. A second SIGINT or SIGTERM stops waiting and exits at once.
 * SIGHUP is what a closed terminal sends and what operators try as "reload"; Node's default for it is
 * to die at once, leaving calls already forwarded unaudited and their agents with a hung-up socket
 * (serve reloads its manifests by watching them, so there is nothing else for SIGHUP to mean). A
 * later SIGHUP is ignored: a closing terminal may deliver it twice (the kernel, then the shell).
 * A proxy whose audit stream fails (stdout: EPIPE, ENOSPC) stops by itself, drained, and the process
 * exits 1 with a line on stderr saying why: a supervisor restarts it, and nobody takes it for a
 * clean stop.
 */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** How long a stopped command waits for its log lines to be written before it exits without them. */
const LOG_EXIT_WAIT_MS = 2_000;

/** The commands that run until a signal (their `run` resolves to a Running). */
const LONG_RUNNING: ReadonlySet<string> = new Set(['serve', 'proxy', 'operator']);

/**
 * Stop signals caught while a long-running command starts. Its `listening` line is written before
 * `run` resolves, and a signal sent on reading it (a supervisor, a test) found no handler yet: the
 * default action killed the process, undrained (seen once log lines became synchronous in the tenth
 * round). A first signal now waits for the start to end, then stops as any other; a second exits at
 * once, so a start that hangs still yields to Ctrl-C twice.
 */
function catchEarlySignals(name: string): { take(): NodeJS.Signals | undefined; release(): void } {
  let caught: NodeJS.Signals | undefined;
  const early = (signal: NodeJS.Signals) => {
    if (caught === undefined) {
      caught = signal;
      process.stderr.write(
        `keybrake ${name}: ${signal} while starting: stopping once started (again: at once)\n`,
      );
      return;
    }
    process.exit(1);
  };
  for (const s of STOP_SIGNALS) process.on(s, early);
  const release = () => {
    for (const s of STOP_SIGNALS) process.off(s, early);
  };
  return {
    take() {
      release();
      return caught;
    },
    release,
  };
}

async function untilSignal(
  name: string,
  running: Running,
  early?: { take(): NodeJS.Signals | undefined },
): Promise<number> {
  let failedMeanwhile: Error | undefined;
  running.failed?.then((err) => {
    failedMeanwhile = err;
  });
  const failure = await new Promise<Error | undefined>((resolve) => {
    let stopped = false;
    const stop = (why: string, failure?: Error) => {
      if (stopped) return;
      stopped = true;
      for (const s of STOP_SIGNALS) process.off(s, first);
      const again = (second: NodeJS.Signals) => {
        process.stderr.write(
          `keybrake: ${second} after ${why}, exiting without waiting for calls in flight\n`,
        );
        process.exit(1);
      };
      process.once('SIGINT', again);
      process.once('SIGTERM', again);
      process.on('SIGHUP', () => undefined);
      resolve(failure);
    };
    const first = (signal: NodeJS.Signals) => stop(signal);
    for (const s of STOP_SIGNALS) process.on(s, first);
    // Only now the early handlers go: in between, a signal would meet the default action.
    const caught = early?.take();
    if (caught !== undefined) stop(caught);
    running.failed?.then((err) => stop('the audit stream failed', err));
  });
  // Once the audit stream failed, `failed` resolves when the close is done or its deadline passed
  // (runtime.ts): a close waiting on a write that cannot finish no longer holds the process.
  await Promise.race([running.close(), ...(running.failed ? [running.failed] : [])]);
  // The stream may also fail during a drain a signal began: the exit says so all the same.
  const failed = failure ?? failedMeanwhile;
  const { stderrFailed, stderrSettled } = await import('../src/telemetry/logger.ts');
  if (failed === undefined) {
    // Drained and closed, the audit flushed: exit now, giving the log a bounded moment, rather than
    // when the event loop empties. Lines a stderr pipe's reader has not taken keep it from emptying,
    // and a reader that never reads kept a drained serve alive until SIGKILL (eleventh round).
    await stderrSettled(LOG_EXIT_WAIT_MS);
    process.exit(0);
  }
  if (stderrFailed() === undefined) {
    process.stderr.write(
      `keybrake ${name}: exiting 1: the audit stream (stdout) failed (${failed.message}); ` +
        'no call was admitted after it, and the records it had not written, and those of the calls in flight, are on stderr\n',
    );
  }
  // At once: whatever the close still waits on (a write to a stderr nobody reads, a full disk)
  // would otherwise keep the process, which admits nothing, alive (tenth round).
  process.exit(1);
}

process.exitCode = await main(process.argv.slice(2));
