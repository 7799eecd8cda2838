// `keybrake run` against the operator's HTTPS run API (--operator): what it says when the certificate
// is not trusted, when --operator-ca is not a CA file, and when RBAC refuses the ServiceAccount.
// Tenth round: Node's "try running Node.js with --use-system-ca" and the standalone "is --token-file
// that key's token?" both sent a user the wrong way.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServingTls, servingTls } from '../../test/env/tls.ts';
import { UsageError } from './args.ts';
import { runCommand } from './run.ts';

let dir: string;
let tokenFile: string;
let notPem: string;
let tls: ServingTls;
let otherCa: ServingTls;
let server: Server;
let url: string;
/** How many requests reached the run API: a usage error must come before any. */
let requests = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'keybrake-run-operator-'));
  await Promise.all([mkdir(path.join(dir, 'operator')), mkdir(path.join(dir, 'other'))]);
  [tls, otherCa] = await Promise.all([
    servingTls(path.join(dir, 'operator')),
    servingTls(path.join(dir, 'other')),
  ]);
  tokenFile = path.join(dir, 'sa.token');
  await writeFile(tokenFile, 'eyJhbGciOiJSUzI1NiJ9.service-account.token\n', { mode: 0o600 });
  notPem = path.join(dir, 'hostname');
  await writeFile(notPem, 'keybrake-node-1\n');
  // The operator's answer when RBAC says no (src/operator/runs-api.ts).
  server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    requests++;
    req.resume();
    req.on('end', () => {
      // An operator before the twelfth round: 200 to a stop Redis did not record.
      if (req.method === 'DELETE') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            runId: 'agent-9',
            vaultKey: 'agents/support-bot',
            stoppedUntil: '2026-12-09T00:00:00.000Z',
            proxies: 1,
            acknowledged: 1,
            redis: 'failed',
          }),
        );
        return;
      }
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: 'forbidden',
          message: 'system:serviceaccount:agents:bot may not create vaultkeys/runs of agents/support-bot.',
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

const start = (...more: string[]) =>
  runCommand(['start', '--key', 'agents/support-bot', '--operator', url, '--token-file', tokenFile, ...more]);

describe('keybrake run --operator', () => {
  it('names --operator-ca, not a Node flag, when the certificate is not trusted', async () => {
    const refusal = start();
    await expect(refusal).rejects.toThrow(
      /^the operator's certificate is not trusted \(.+\): give the CA that signed it with --operator-ca <PEM file>$/,
    );
    await expect(refusal).rejects.not.toThrow(/use-system-ca|Node\.js/);
  });

  it('says --operator-ca does not hold the CA when it holds another', async () => {
    await expect(start('--operator-ca', otherCa.caFile)).rejects.toThrow(
      `: --operator-ca ${otherCa.caFile} does not hold the CA that signed it`,
    );
  });

  it.each([
    ['a file that is not PEM', () => notPem, /: not a PEM certificate file/],
    ['a missing file', () => path.join(dir, 'absent.pem'), /: cannot read: no such file$/],
    ['a directory', () => dir, /: cannot read: not a regular file \(a directory\)/],
  ])('refuses an --operator-ca of %s as a usage error, before any request', async (_name, file, why) => {
    const before = requests;
    const refusal = start('--operator-ca', file());
    await expect(refusal).rejects.toThrow(UsageError);
    await expect(refusal).rejects.toThrow(new RegExp(`^--operator-ca ${file()}${why.source}`));
    expect(requests).toBe(before);
  });

  it('points a 403 at RBAC for the ServiceAccount, not at the token being the key', async () => {
    const refusal = start('--operator-ca', tls.caFile);
    await expect(refusal).rejects.toThrow(
      /answered 403 forbidden: system:serviceaccount:agents:bot may not create/,
    );
    await expect(refusal).rejects.toThrow(
      /RBAC must let the ServiceAccount of --token-file create and delete vaultkeys\/runs in namespace agents/,
    );
    await expect(refusal).rejects.not.toThrow(/that key's token/);
  });

  // Twelfth round: `run stop` exited 0 on such an answer; the new leader then admitted the key.
  it('does not take a 200 with "redis":"failed" for a stop: run stop fails loudly', async () => {
    const stop = runCommand([
      'stop',
      '--key',
      'agents/support-bot',
      '--operator',
      url,
      '--token-file',
      tokenFile,
      '--operator-ca',
      tls.caFile,
      'agent-9',
    ]);
    await expect(stop).rejects.toThrow(/"redis":"failed": the run is stopped on the proxies connected now/);
  });
});
