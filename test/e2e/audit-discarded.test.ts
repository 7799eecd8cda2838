// A `serve` whose stdout is the null device writes every audit record nowhere, with no error for the
// sink to act on: stdout sent to /dev/null, or closed before start-up (`>&-` in a unit file or a
// wrapper; Node opens /dev/null on a closed fd 1 as it starts). It still starts (benchmarks and tests
// run serve so), but says so in the log (sixteenth round: three $1 charges reached the vendor with no
// record anywhere, nothing logged, /readyz ready).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import { CLI, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const WARNING = 'audit records are discarded: stdout is /dev/null';

let dir: Awaited<ReturnType<typeof manifestDir>>;
let scratch: string;

beforeAll(async () => {
  dir = await manifestDir({
    'keys.yaml': yamlDocuments(
      ...stripeKey({ name: 'nulled', token: newToken('stripe'), upstreamKey: 'sk_test_nullstdout00000000' }),
    ),
  });
  scratch = mkdtempSync(path.join(tmpdir(), 'keybrake-stdout-'));
});

afterAll(async () => {
  await dir?.remove();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** serve started with `stdout` as its fd 1; the log lines it wrote up to `listening`. */
async function linesUntilListening(stdout: number | 'pipe'): Promise<Record<string, unknown>[]> {
  const serve = await startKeybrake(
    serveArgs(dir.dir, { stripe: 'http://127.0.0.1:9' }),
    stdout === 'pipe' ? {} : { stdout },
  );
  try {
    return logLines(serve.output());
  } finally {
    await serve.stop();
  }
}

function logLines(text: string): Record<string, unknown>[] {
  return text.split('\n').flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

const warned = (lines: Record<string, unknown>[]) =>
  lines.filter((l) => l.msg === WARNING && l.level === 40).length;

describe.concurrent('serve with stdout on the null device', () => {
  it('warns once at start that audit records are discarded, when stdout is /dev/null', async () => {
    const devNull = openSync('/dev/null', 'w');
    try {
      expect(warned(await linesUntilListening(devNull))).toBe(1);
    } finally {
      closeSync(devNull);
    }
  });

  it('warns when stdout was closed before start-up (>&-), and still starts', async () => {
    // The shell closes fd 1 and execs node in its place: what a unit file's `>&-` does.
    const child = spawn(
      '/bin/sh',
      ['-c', 'exec "$@" >&-', 'sh', process.execPath, CLI, ...serveArgs(dir.dir, {})],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, KEYBRAKE_LOG_LEVEL: 'info' },
      },
    );
    let text = '';
    const exited = once(child, 'exit');
    const listening = new Promise<void>((resolve) => {
      createInterface({ input: child.stderr! }).on('line', (l) => {
        text += `${l}\n`;
        if (l.includes('"msg":"listening"')) resolve();
      });
    });
    try {
      await Promise.race([
        listening,
        exited.then(() => {
          throw new Error(`serve exited before listening:\n${text}`);
        }),
      ]);
      expect(warned(logLines(text)), text).toBe(1);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it.each([
    ['a pipe', () => 'pipe' as const],
    ['a regular file', () => openSync(path.join(scratch, 'audit.jsonl'), 'w')],
  ])('does not warn when stdout is %s', async (_what, stdout) => {
    const fd = stdout();
    try {
      const lines = await linesUntilListening(fd);
      expect(lines.some((l) => l.msg === 'listening')).toBe(true);
      expect(warned(lines)).toBe(0);
    } finally {
      if (typeof fd === 'number') closeSync(fd);
    }
  });
});
