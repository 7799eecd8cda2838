// `keybrake operator` start-up errors, as a user meets them: the process's exit code and stderr.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKeybrake } from '../env/keybrake.ts';
import { type ServingTls, servingTls } from '../env/tls.ts';

describe('keybrake operator start-up errors', () => {
  // Eighth round: without the flag every ServiceAccount with a token for the audience was streamed
  // the upstream keys; now the operator does not start.
  it('exits 2 without --proxy-service-account, saying what to pass', async () => {
    const r = await runKeybrake(['operator', '--insecure-http']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "--proxy-service-account is required: the proxies' ServiceAccount as namespace/name",
    );
  });
});

// Tenth round: a missing --tls-cert was Node's bare "ENOENT: no such file or directory, open
// '/nonexistent'", exit 1, naming no flag; a file of the wrong kind, or a key of another certificate,
// got as far as building the listener. Each is now one line naming the flag, exit 2, before anything
// starts (--kubeconfig points nowhere: nothing here may reach a cluster).
describe('keybrake operator TLS files', () => {
  let dir: string;
  let tls: ServingTls;
  let other: ServingTls;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'keybrake-operator-tls-'));
    await Promise.all([mkdir(path.join(dir, 'a')), mkdir(path.join(dir, 'b'))]);
    [tls, other] = await Promise.all([servingTls(path.join(dir, 'a')), servingTls(path.join(dir, 'b'))]);
    await writeFile(path.join(dir, 'hostname'), 'keybrake-node-1\n');
  }, 60_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const operator = (cert: string, key: string) =>
    runKeybrake([
      'operator',
      '--tls-cert',
      cert,
      '--tls-key',
      key,
      '--proxy-service-account',
      'keybrake-system/keybrake-proxy',
      '--kubeconfig',
      path.join(dir, 'no-kubeconfig'),
      '--listen',
      '127.0.0.1:0',
      '--admin-listen',
      '127.0.0.1:0',
    ]);

  it.concurrent.each([
    [
      'a missing --tls-cert',
      () => [path.join(dir, 'absent.crt'), tls.keyFile],
      () => `--tls-cert ${path.join(dir, 'absent.crt')}: cannot read: no such file`,
    ],
    [
      'a missing --tls-key',
      () => [tls.certFile, path.join(dir, 'absent.key')],
      () => `--tls-key ${path.join(dir, 'absent.key')}: cannot read: no such file`,
    ],
    [
      'a --tls-cert that is not PEM',
      () => [path.join(dir, 'hostname'), tls.keyFile],
      () => `--tls-cert ${path.join(dir, 'hostname')}: not a PEM certificate file`,
    ],
    [
      'a --tls-key that is a certificate',
      () => [tls.certFile, tls.certFile],
      () => `--tls-key ${tls.certFile}: not a PEM private key file`,
    ],
    [
      'a --tls-key of another certificate',
      () => [tls.certFile, other.keyFile],
      () => `--tls-key ${other.keyFile}: not the private key of --tls-cert ${tls.certFile}`,
    ],
  ])('exits 2 on %s, one line naming the flag', async (_name, files, line) => {
    const [cert, key] = files() as [string, string];
    const r = await operator(cert, key);
    expect(r.code).toBe(2);
    const lines = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('{'));
    expect(lines[0]?.startsWith(`keybrake operator: ${line()}`), lines[0]).toBe(true);
    expect(lines.slice(1)).toEqual(["Run 'keybrake operator --help' for usage."]);
    expect(r.stderr).not.toContain('ENOENT');
  });

  it('exits 2 when --listen and --admin-listen are one port, naming both', async () => {
    const r = await runKeybrake([
      'operator',
      '--insecure-http',
      '--proxy-service-account',
      'keybrake-system/keybrake-proxy',
      '--kubeconfig',
      path.join(dir, 'no-kubeconfig'),
      '--listen',
      '127.0.0.1:53150',
      '--admin-listen',
      '127.0.0.1:53150',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'keybrake operator: --admin-listen 127.0.0.1:53150: the same port as --listen 127.0.0.1:53150; give each listener a port of its own',
    );
  });
});
