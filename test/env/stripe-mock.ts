// stripe-mock (github.com/stripe/stripe-mock, Stripe's own mock) for the e2e suites: an upstream that
// answers every Stripe endpoint from Stripe's OpenAPI definition, written by Stripe, not by us. It is
// stateless: it validates each request against the definition (an unknown parameter is a 400), reflects
// the request's values into the object it returns, and answers reads from fixed fixtures.
//
// The binary is built and cached by test/env/stripe-mock/build.sh (`.ci/run` calls it and exports
// KEYBRAKE_STRIPE_MOCK). Each suite starts its own process on free loopback ports.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

export const STRIPE_MOCK_VERSION = 'v0.203.0';
const BUILD_SCRIPT = 'test/env/stripe-mock/build.sh';

/** A running stripe-mock. */
export interface StripeMock {
  /** `http://127.0.0.1:<port>`: the plain-HTTP listener, what Keybrake's `--upstream stripe=` names. */
  readonly url: string;
  readonly port: number;
  /** Everything it printed (stdout and stderr). */
  output(): string;
  /** SIGTERM, waits for exit. Idempotent. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * The stripe-mock binary: `KEYBRAKE_STRIPE_MOCK`, else the one build.sh caches. Throws how to get it
 * when there is none: a suite that needs stripe-mock fails, it is never skipped.
 */
export function stripeMockBinary(): string {
  const fromEnv = process.env['KEYBRAKE_STRIPE_MOCK'];
  if (fromEnv) {
    if (!existsSync(fromEnv))
      throw new Error(
        `KEYBRAKE_STRIPE_MOCK=${fromEnv} does not exist: run ${BUILD_SCRIPT} and export its output`,
      );
    return fromEnv;
  }
  const cacheRoot = process.env['XDG_CACHE_HOME'] || path.join(homedir(), '.cache');
  const cached = path.join(cacheRoot, 'keybrake/stripe-mock', STRIPE_MOCK_VERSION, 'bin/stripe-mock');
  if (existsSync(cached)) return cached;
  throw new Error(
    `stripe-mock ${STRIPE_MOCK_VERSION} is not built (looked for $KEYBRAKE_STRIPE_MOCK and ${cached}). ` +
      `Build it with \`${BUILD_SCRIPT}\` (needs Go >= 1.24; ~20 s, cached) or run \`bash .ci/run\`, ` +
      'or set KEYBRAKE_STRIPE_MOCK to a stripe-mock binary.',
  );
}

/**
 * Starts stripe-mock with both listeners on kernel-chosen loopback ports (without `-https-addr` it
 * would also bind :12112) and resolves once it has announced the plain-HTTP address and answered a
 * request there. No fixed waits: the announcement is awaited, the first request polled with a deadline.
 */
export async function startStripeMock(opts: { timeoutMs?: number } = {}): Promise<StripeMock> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  const child = spawn(stripeMockBinary(), ['-http-addr', '127.0.0.1:0', '-https-addr', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let raw = '';
  const exited = once(child, 'exit').then(([code, signal]) => {
    live.delete(child);
    return { code, signal };
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    raw += d;
  });
  const address = new Promise<string>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      raw += `${line}\n`;
      const m = /^Listening for HTTP at address: (\S+)$/.exec(line);
      if (m) resolve(m[1]!);
    });
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    const addr = await Promise.race([
      address,
      exited.then(({ code, signal }) => {
        throw new Error(`stripe-mock exited (${code ?? signal}) before listening:\n${raw}`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`stripe-mock did not announce its address in time:\n${raw}`)),
          deadline - Date.now(),
        );
      }),
    ]);
    const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
    const url = `http://127.0.0.1:${port}`;
    await untilAnswers(url, deadline, () => raw);
    return { url, port, output: () => raw, stop };
  } catch (err) {
    await stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Polls a cheap read until it is answered (any HTTP status), or throws at the deadline. */
async function untilAnswers(url: string, deadline: number, output: () => string): Promise<void> {
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/v1/balance`, {
        headers: { authorization: 'Bearer sk_test_readiness' },
        signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
      });
      await res.arrayBuffer();
      return;
    } catch (err) {
      last = err;
      // Connection refused: try again at once; the listener is announced after it is bound, so this
      // loop is a guard, not the synchronisation.
      await new Promise((r) => setImmediate(r));
    }
  }
  throw new Error(`stripe-mock at ${url} did not answer before the deadline (${String(last)}):\n${output()}`);
}
