import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServingTls, servingTls } from '../../test/env/tls.ts';
import { waitFor } from '../../test/env/wait-for.ts';
import { createSnapshotServer } from '../distribution/server.ts';
import { createLogger, silentLogger } from '../telemetry/logger.ts';
import { UsageError } from './args.ts';
import { durationFlag } from './flag-values.ts';
import { proxyCommand } from './proxy.ts';

let dir: string;
let tls: ServingTls;
let otherCa: ServingTls;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keybrake-proxy-cli-'));
  tls = await servingTls(dir);
  const otherDir = join(dir, 'other');
  mkdirSync(otherDir);
  otherCa = await servingTls(otherDir);
  writeFileSync(join(dir, 'token'), 'proxy-token\n');
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LISTENERS = ['--listen', '127.0.0.1:0', '--vendor-port', 'stripe=0', '--admin-listen', '127.0.0.1:0'];

describe('keybrake proxy', () => {
  it('announces its listeners, then applies the operator snapshot and becomes ready', async () => {
    const server = createSnapshotServer({
      authenticate: async (t) =>
        t === 'proxy-token' ? { ok: true, user: 'ns/proxy' } : { ok: false, status: 401, message: 'no' },
      isLeader: () => true,
      log: silentLogger(),
    });
    const url = await server.listen({ host: '127.0.0.1', port: 0, tls });
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
        done();
      },
    });
    const running = await proxyCommand(
      [
        '--operator',
        url,
        '--token-file',
        join(dir, 'token'),
        '--operator-ca',
        tls.caFile,
        '--proxy-id',
        'p-1',
        ...LISTENERS,
      ],
      createLogger({ destination }),
    );
    try {
      const listening = lines.find((l) => l.msg === 'listening');
      const urls = listening?.urls as Record<string, string>;
      expect(Object.keys(urls).sort()).toEqual(['admin', 'main', 'stripe']);
      expect((await request(`${urls.admin}/readyz`)).statusCode).toBe(503);

      server.publish({ version: 42, compiledAt: Date.now(), keys: new Map() });
      await waitFor(() =>
        expect(lines.find((l) => l.msg === 'snapshot applied')).toMatchObject({ version: 42 }),
      );
      expect((await request(`${urls.admin}/readyz`)).statusCode).toBe(200);
      await waitFor(() =>
        expect(server.connected()).toEqual([{ proxyId: 'p-1', user: 'ns/proxy', ackedVersion: 42 }]),
      );
      expect(JSON.stringify(lines)).not.toContain('proxy-token');
    } finally {
      await running.close();
      await server.close();
    }
  });

  // Twelfth round (probe12-newuser finding 4): the proxy logged Node's message, which ends "try
  // running Node.js with --use-system-ca", and never named --operator-ca, as `keybrake run` does.
  it.each([
    ['without --operator-ca', () => [], /give the CA that signed it with --operator-ca <PEM file>$/],
    [
      'with an --operator-ca of another CA',
      () => ['--operator-ca', otherCa.caFile],
      /: --operator-ca \S+ does not hold the CA that signed it$/,
    ],
  ])('names --operator-ca when the certificate is not trusted, %s', async (_name, more, hint) => {
    const server = createSnapshotServer({
      authenticate: async () => ({ ok: true, user: 'ns/proxy' }),
      isLeader: () => true,
      log: silentLogger(),
    });
    const url = await server.listen({ host: '127.0.0.1', port: 0, tls });
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
        done();
      },
    });
    const args = ['--operator', url, '--token-file', join(dir, 'token'), ...more(), ...LISTENERS];
    const running = await proxyCommand(args, createLogger({ destination }));
    try {
      const failed = await waitFor(() => {
        const line = lines.find((l) => l.msg === 'snapshot stream failed');
        expect(line).toBeDefined();
        return line!;
      });
      expect(failed.error).toMatch(/^the operator's certificate is not trusted \(.+\)/);
      expect(failed.error).toMatch(hint);
      expect(JSON.stringify(lines)).not.toMatch(/use-system-ca|Node\.js/);
    } finally {
      await running.close();
      await server.close();
    }
  });

  it.each([
    ['without --operator', []],
    ['with an http operator URL and no --insecure-http', ['--operator', 'http://127.0.0.1:1']],
    ['with an operator URL that carries credentials', ['--operator', 'https://u:p@127.0.0.1:1']],
    ['with a bad --max-staleness', ['--operator', 'https://127.0.0.1:1', '--max-staleness', 'soon']],
    ['with a bad --client-timeout', ['--operator', 'https://127.0.0.1:1', '--client-timeout', '0s']],
    ['with a bad --drain-timeout', ['--operator', 'https://127.0.0.1:1', '--drain-timeout', 'soon']],
    ['with a bad --max-connections', ['--operator', 'https://127.0.0.1:1', '--max-connections', '0']],
    [
      'with a bad --max-connections-per-source',
      ['--operator', 'https://127.0.0.1:1', '--max-connections-per-source', 'all'],
    ],
    ['with a bad --max-response-body', ['--operator', 'https://127.0.0.1:1', '--max-response-body', '1MB']],
  ])('refuses to start %s', async (_name, args) => {
    await expect(proxyCommand([...args, ...LISTENERS], silentLogger())).rejects.toBeInstanceOf(UsageError);
  });
});

describe('durationFlag', () => {
  it.each([
    ['30s', 30_000],
    ['500ms', 500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1.5s', 1_500],
    ['250', 250],
  ])('reads %s as %i ms', (text, ms) => {
    expect(durationFlag('max-staleness', text)).toBe(ms);
  });

  it.each(['', '0s', '-1s', 'soon', '5d'])('rejects %j', (text) => {
    expect(() => durationFlag('max-staleness', text)).toThrow(UsageError);
  });

  // A new-user walkthrough: `--client-timeout 0` was told to give "a duration such as 30s", which 0 is.
  it.each(['0', '0s', '0ms', '0.0h'])('says %j must be positive', (text) => {
    expect(() => durationFlag('client-timeout', text)).toThrow(`--client-timeout ${text}: must be positive`);
  });
});
