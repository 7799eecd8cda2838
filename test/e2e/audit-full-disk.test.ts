// A disk that fills under the real `keybrake serve` (tenth round, MEDIUM x2). The full disk is
// RLIMIT_FSIZE on the child (bash's `ulimit -f`, 1 KiB blocks; SIGXFSZ ignored): the kernel writes
// what fits and returns a short count with no error, then fails the next write (EFBIG), as ENOSPC
// does on a disk that fills. Unprivileged, no tmpfs.
// 1. stdout a file on it: a batch cut by the short write was taken as written, so the record cut in
//    it was whole nowhere. Now every call forwarded (counted at the upstream) has a whole record on
//    stdout or on stderr.
// 2. stderr a file on it, full from the start: the logger's failure hung the process (sonic-boom's
//    flush on exit retried forever): /readyz never answered, SIGTERM did nothing. Now it serves,
//    audits on stdout, and stops on SIGTERM.
// 3. Both full: after the audit failure it exits 1, though nothing can be logged, and forwards
//    nothing more.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import { CLI, manifestDir } from '../env/keybrake.ts';
import { type ScriptedUpstream, startScriptedUpstream } from './fixtures/scripted-upstream.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const TOKEN = newToken('stripe');
const UPSTREAM_KEY = `sk_test_fulldisk${'0123456789abcdef'}`;
/** Generous: the box runs many suites at once. */
const WAIT_MS = 30_000;

let upstream: ScriptedUpstream;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let work: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  upstream = await startScriptedUpstream();
  dir = await manifestDir({
    'keys.yaml': yamlDocuments(...stripeKey({ name: 'disk', token: TOKEN, upstreamKey: UPSTREAM_KEY })),
  });
  work = mkdtempSync(path.join(tmpdir(), 'keybrake-fulldisk-'));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await upstream?.close();
  await dir?.remove();
  rmSync(work, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  s.close();
  await once(s, 'close');
  return port;
}

interface Served {
  readonly child: ChildProcess;
  readonly vendor: string;
  readonly admin: string;
  readonly exited: Promise<unknown[]>;
  /** Lines of the pipe (stdout or stderr) read here, so far. */
  readonly lines: string[];
}

/**
 * serve under a file-size limit of `blocks` KiB, with its stdout and stderr as given (a file
 * descriptor, or 'pipe' read into `lines`). Fixed ports: its log may say nothing.
 */
async function serve(blocks: number, stdout: number | 'pipe', stderr: number | 'pipe'): Promise<Served> {
  const [vendorPort, adminPort] = [await freePort(), await freePort()];
  const args = [
    CLI,
    'serve',
    '--manifests',
    dir.dir,
    '--admin-listen',
    `127.0.0.1:${adminPort}`,
    '--vendor-port',
    `stripe=127.0.0.1:${vendorPort}`,
    '--upstream',
    `stripe=${upstream.url}`,
  ];
  const child = spawn(
    'bash',
    ['-c', `trap '' XFSZ; ulimit -f ${blocks}; exec "$@"`, 'bash', process.execPath, ...args],
    {
      env: { ...process.env, KEYBRAKE_DRAIN_TIMEOUT: '', KEYBRAKE_AUDIT_FLUSH_INTERVAL: '' },
      stdio: ['ignore', stdout, stderr],
    },
  );
  children.push(child);
  const exited = once(child, 'exit');
  const lines: string[] = [];
  const piped = child.stdout ?? child.stderr;
  if (piped) createInterface({ input: piped }).on('line', (l) => lines.push(l));
  const served = { child, vendor: `127.0.0.1:${vendorPort}`, admin: `127.0.0.1:${adminPort}`, exited, lines };
  await ready(served);
  return served;
}

/** Resolves once /readyz answers 200: its log cannot say when it listens. */
async function ready(s: Served): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    if (s.child.exitCode !== null) throw new Error(`serve exited ${s.child.exitCode} before it was ready`);
    const status = await get(s.admin, '/readyz', false).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error('serve never answered /readyz');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function get(host: string, p: string, auth = true): Promise<{ status: number; body: string }> {
  const [hostname, port] = host.split(':');
  return new Promise((resolve, reject) => {
    const req = request(
      {
        hostname,
        port: Number(port),
        path: p,
        agent: false,
        headers: auth ? { authorization: `Bearer ${TOKEN}` } : {},
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The whole audit records among `lines`; a cut line is not one. */
function wholeRecords(lines: readonly string[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const l of lines) {
    try {
      const r = JSON.parse(l) as Record<string, unknown>;
      if (r.event === 'keybrake.call') out.push(r);
    } catch {
      // cut by the full disk
    }
  }
  return out;
}

/** Calls to distinct paths, one after another, until one is not answered 200 (the failure). */
async function callUntilRefused(s: Served, tag: string): Promise<string[]> {
  const answered: string[] = [];
  for (let i = 0; i < 40; i++) {
    const p = `/v1/customers/cus_${tag}_${i}`;
    const r = await get(s.vendor, p).catch(() => ({ status: 0 }));
    if (r.status !== 200) return answered;
    answered.push(p);
  }
  throw new Error('the audit stream never failed');
}

describe('keybrake serve on a disk that fills', () => {
  it('stdout a file cut by a short write: every call forwarded has a whole record on stdout or on stderr, and it exits 1', async () => {
    const out = path.join(work, 'stdout-short');
    const fd = openSync(out, 'w');
    let s: Served;
    try {
      s = await serve(1, fd, 'pipe');
    } finally {
      closeSync(fd);
    }
    const answered = await callUntilRefused(s, 'short');
    expect(await s.exited).toEqual([1, null]);
    const forwarded = upstream.requests.filter((r) => r.includes('/cus_short_')).map((r) => r.slice(4));
    expect(forwarded.length).toBeGreaterThanOrEqual(2);
    expect(forwarded).toEqual(answered);
    const stdoutText = readFileSync(out, 'utf8');
    // The disk did fill mid-record: the case that lost one.
    expect(stdoutText.endsWith('\n')).toBe(false);
    const recorded = new Set(
      [...wholeRecords(stdoutText.split('\n')), ...wholeRecords(s.lines)].map((r) => r.path),
    );
    for (const p of forwarded) expect(recorded, `a whole record of ${p}`).toContain(p);
  });

  it('stderr a file full from the start: it answers /readyz and calls, audits on stdout, and stops on SIGTERM', async () => {
    const err = path.join(work, 'stderr-full');
    writeFileSync(err, `${'#'.repeat(1020)}\n`);
    const fd = openSync(err, 'a');
    let s: Served;
    try {
      s = await serve(1, 'pipe', fd);
    } finally {
      closeSync(fd);
    }
    expect((await get(s.vendor, '/v1/customers/cus_logless')).status).toBe(200);
    expect(upstream.requests).toContain('GET /v1/customers/cus_logless');
    s.child.kill('SIGTERM');
    expect(await s.exited).toEqual([0, null]);
    expect(wholeRecords(s.lines).map((r) => r.path)).toContain('/v1/customers/cus_logless');
  });

  it('stdout /dev/full and stderr full: after the audit failure it forwards nothing more and exits 1, though nothing can be logged', async () => {
    const err = path.join(work, 'stderr-both');
    writeFileSync(err, `${'#'.repeat(1020)}\n`);
    const errFd = openSync(err, 'a');
    const full = openSync('/dev/full', 'w');
    let s: Served;
    try {
      s = await serve(1, full, errFd);
    } finally {
      closeSync(full);
      closeSync(errFd);
    }
    const answered = await callUntilRefused(s, 'both');
    expect(answered.length).toBeGreaterThanOrEqual(1);
    expect(await s.exited).toEqual([1, null]);
    // The call refused was not forwarded: only those answered reached the upstream.
    const forwarded = upstream.requests.filter((r) => r.includes('/cus_both_')).map((r) => r.slice(4));
    expect(forwarded).toEqual(answered);
    expect(readFileSync(err, 'utf8')).not.toContain(TOKEN);
  });
});
