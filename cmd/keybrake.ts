#!/usr/bin/env node
// The keybrake CLI: thin wiring from argv to the commands in src/cli (DESIGN.md §8).
import { UsageError, usage } from '../src/cli/args.ts';
import { DEMO_FLAGS, DEMO_SUMMARY, demo } from '../src/cli/demo.ts';
import { OPERATOR_FLAGS, OPERATOR_SUMMARY, operatorCommand } from '../src/cli/operator.ts';
import { POLICY_CHECK_FLAGS, POLICY_CHECK_SUMMARY, policyCheckCommand } from '../src/cli/policy-check.ts';
import { PROXY_FLAGS, PROXY_SUMMARY, proxyCommand } from '../src/cli/proxy.ts';
import { SERVE_FLAGS, SERVE_SUMMARY, serve } from '../src/cli/serve.ts';
import { TOKEN_FLAGS, TOKEN_SUMMARY, tokenCommand } from '../src/cli/token.ts';
import { createLogger } from '../src/telemetry/logger.ts';

const HELP = `keybrake: a spend-governing proxy between AI agents and Stripe, Twilio and Resend.

Usage: keybrake <command> [flags]

Commands:
  serve          run the proxy from manifest files (standalone; the quick start)
  operator       reconcile VaultKey / SpendPolicy resources and serve snapshots to proxies (Kubernetes)
  proxy          run a proxy replica that follows the operator (Kubernetes)
  token new      print a fresh vault token, or a Secret manifest holding one
  policy-check   validate SpendPolicy / VaultKey / Secret manifests offline
  demo           run a runaway agent against a local Stripe emulator and watch the cap stop it

Run 'keybrake <command> --help' for a command's flags. Every flag can also be set as KEYBRAKE_<FLAG>.`;

const COMMANDS = {
  serve: { summary: SERVE_SUMMARY, flags: SERVE_FLAGS, positional: '' },
  operator: { summary: OPERATOR_SUMMARY, flags: OPERATOR_FLAGS, positional: '' },
  proxy: { summary: PROXY_SUMMARY, flags: PROXY_FLAGS, positional: '' },
  token: { summary: TOKEN_SUMMARY, flags: TOKEN_FLAGS, positional: 'new' },
  'policy-check': { summary: POLICY_CHECK_SUMMARY, flags: POLICY_CHECK_FLAGS, positional: '<file|dir>...' },
  demo: { summary: DEMO_SUMMARY, flags: DEMO_FLAGS, positional: '' },
} as const;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${HELP}\n`);
    return command === undefined ? 2 : 0;
  }
  if (!(command in COMMANDS)) {
    process.stderr.write(`keybrake: unknown command "${command}"\n\n${HELP}\n`);
    return 2;
  }
  const spec = COMMANDS[command as keyof typeof COMMANDS];
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${usage(command, spec.summary, spec.flags, spec.positional)}\n`);
    return 0;
  }
  try {
    switch (command) {
      case 'serve':
        return await runUntilSignal(() => serve(rest, createLogger()));
      case 'operator':
        return await runUntilSignal(() => operatorCommand(rest));
      case 'proxy':
        return await runUntilSignal(() => proxyCommand(rest));
      case 'token':
        process.stdout.write(`${tokenCommand(rest)}\n`);
        return 0;
      case 'policy-check':
        return await policyCheckCommand(rest);
      case 'demo':
        return await demo(rest);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(
        `keybrake ${command}: ${err.message}\nRun 'keybrake ${command} --help' for usage.\n`,
      );
      return 2;
    }
    process.stderr.write(`keybrake ${command}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  return 0;
}

/** Keeps a long-running command up until SIGINT/SIGTERM, then closes it cleanly. */
async function runUntilSignal(start: () => Promise<{ close(): Promise<void> }>): Promise<number> {
  const running = await start();
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await running.close();
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
