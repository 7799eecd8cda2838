// vitest globalSetup of the e2e project: the canary scan (test/env/canary.ts). Makes the run's
// directory, runs a tiny OTLP/HTTP receiver every keybrake process exports its spans to, and after the
// last test scans everything captured for every vault token and upstream key the suite used. A canary
// found anywhere fails the run, naming the file and the canary's fingerprint, never the canary.
//
// KEYBRAKE_CANARY_DIR=<dir> uses (and keeps) that directory; otherwise a temporary one is removed
// after a clean scan and kept after a failed one.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { RESEND_EMULATOR_KEY } from '../../src/emulators/resend.ts';
import { TWILIO_EMULATOR_ACCOUNT } from '../../src/emulators/twilio.ts';
import {
  ADMIN_RESPONSES,
  CANARIES,
  type Canary,
  OUTPUTS,
  readRegisteredCanaries,
  scanOutputs,
  VAULT_TOKEN_SHAPE,
} from './canary.ts';

export type { ProvidedContext } from 'vitest';

/** Credentials the emulators accept without being told: whatever a test gives them, these count too. */
const EMULATOR_CANARIES: readonly Canary[] = [
  { value: TWILIO_EMULATOR_ACCOUNT.authToken, source: 'the Twilio emulator auth token' },
  {
    value: `${TWILIO_EMULATOR_ACCOUNT.sid}:${TWILIO_EMULATOR_ACCOUNT.authToken}`,
    source: 'the Twilio emulator account as user:password',
  },
  { value: RESEND_EMULATOR_KEY, source: 'the Resend emulator API key' },
];

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env['KEYBRAKE_CANARY_DIR'];
  const dir = given ? path.resolve(given) : await mkdtemp(path.join(tmpdir(), 'keybrake-canary-'));
  const outputs = path.join(dir, OUTPUTS);
  mkdirSync(outputs, { recursive: true });
  mkdirSync(path.join(dir, CANARIES), { recursive: true });

  // Every export request's body, as it arrived (http/json, or protobuf bytes: both are scanned).
  let spanBodies = 0;
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      spanBodies += 1;
      const json = /json/.test(req.headers['content-type'] ?? '');
      writeFileSync(
        path.join(
          outputs,
          `otlp-${String(spanBodies).padStart(5, '0')}${req.url?.replace(/\W+/g, '-') ?? ''}.${json ? 'json' : 'bin'}`,
        ),
        Buffer.concat(chunks),
      );
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(json ? '{}' : undefined);
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const { port } = receiver.address() as AddressInfo;
  project.provide('canaryDir', dir);
  project.provide('canaryOtlp', `http://127.0.0.1:${port}`);

  return async () => {
    await new Promise<void>((resolve) => {
      receiver.close(() => resolve());
      receiver.closeAllConnections();
    });
    const registered = readRegisteredCanaries(dir);
    const canaries = [...registered, ...EMULATOR_CANARIES];
    const distinct = new Set(canaries.map((c) => c.value)).size;
    const started = Date.now();
    const { findings, files, bytes } = scanOutputs(outputs, canaries, [VAULT_TOKEN_SHAPE], (name) =>
      name.startsWith(ADMIN_RESPONSES),
    );
    const kinds = countKinds(readdirSync(outputs));
    console.error(
      `[canary] ${distinct} canaries (vault tokens and upstream keys) × ${files} captured files ` +
        `(${(bytes / 1e6).toFixed(1)} MB: ${kinds}) in ${Date.now() - started} ms: ` +
        (findings.length === 0 ? 'none found' : `${findings.length} found`),
    );
    if (findings.length > 0) {
      const lines = findings.map(
        (f) => `  ${f.file} @${f.offset}: canary ${f.fingerprint} as ${f.form}, from ${f.source}`,
      );
      // vitest logs a teardown error without failing the run: the exit code says it.
      process.exitCode = 1;
      throw new Error(
        `canary scan: a vault token or upstream key appeared in the suite's outputs (kept in ${dir}):\n${lines.join('\n')}`,
      );
    }
    if (!given) await rm(dir, { recursive: true, force: true });
  };
}

/** `12 stdout, 12 stderr, 11 metrics, 40 otlp, 5 responses`: what the scan covered, by kind. */
function countKinds(names: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const n of names) {
    const kind = n.startsWith('otlp-')
      ? 'otlp'
      : n.startsWith('responses-') || n.startsWith(ADMIN_RESPONSES)
        ? 'responses'
        : (/\.(stdout|stderr|metrics)$/.exec(n)?.[1] ?? 'other');
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${n} ${k}`).join(', ') || 'nothing';
}
