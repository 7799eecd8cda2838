// `run exec` and stop signals that arrive after its command exited, while it stops the run
// (eleventh round, MEDIUM). A second Ctrl-C, or a closing terminal's second SIGHUP, met the default
// action in the middle of the stop's retries: the runner died silently and the run key kept spending
// until --ttl. Now the first such signal makes one last attempt at once, and a further one gives it
// up; either way the runner says what became of the run and never dies by the signal.
// Real `keybrake serve` (memory counters) and the real CLI; the admin listener sits behind a front
// that resets the first DELETE and sends the runner its signals as the DELETEs arrive: no timing.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { CLI, type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { mintKeys, UPSTREAM_KEY } from './fixtures/replicas.ts';

let emulator: StripeEmulator;
let kb: KeybrakeProcess;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let work: string;
let tokenFile: string;
const { files, keys } = mintKeys([{ name: 'bot', limits: { perRunUsd: '10', perDayUsd: '1000' } }]);

beforeAll(async () => {
  emulator = await startStripeEmulator({ validKeys: [UPSTREAM_KEY] });
  dir = await manifestDir(files);
  kb = await startKeybrake(serveArgs(dir.dir, { stripe: emulator.url }));
  work = await mkdtemp(path.join(tmpdir(), 'keybrake-exec-signals-'));
  tokenFile = path.join(work, 'parent-token');
  await writeFile(tokenFile, `${keys.bot.token}\n`, { mode: 0o600 });
});

afterAll(async () => {
  await kb?.stop();
  await emulator?.close();
  await dir?.remove();
  if (work) await rm(work, { recursive: true, force: true });
});

/** A charge with `token` on serve's Stripe listener: Keybrake's reason, or the status. */
async function chargeWith(token: string): Promise<string> {
  const res = await request(`${kb.urls['stripe']}/v1/charges`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'amount=100&currency=usd&source=tok_visa',
  });
  await res.body.dump();
  return /reason=([a-z_]+)/.exec(String(res.headers['keybrake-decision'] ?? ''))?.[1] ?? `${res.statusCode}`;
}

/**
 * serve's admin listener behind a front: `onStop(n, req, res)` decides what the n-th DELETE meets
 * (`forward` passes it on); everything else passes.
 */
async function front(
  onStop: (n: number, req: IncomingMessage, res: ServerResponse, forward: () => void) => void,
) {
  let stops = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const forward = () =>
        void request(`${kb.urls['admin']}${req.url}`, {
          method: req.method as 'POST' | 'DELETE',
          headers: req.headers,
          body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
        }).then(async (answer) => {
          res.writeHead(answer.statusCode, { 'content-type': 'application/json' });
          res.end(Buffer.from(await answer.body.arrayBuffer()));
        });
      if (req.method === 'DELETE') onStop(++stops, req, res, forward);
      else forward();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stopsSeen: () => stops,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * `run exec` of a command that writes its run key to OUT (and its pid to OUT.pid), says "ready" once
 * its `trap` handler is set, and exits 0 on that signal. Resolves once it is ready; `exited` with the
 * runner's code and signal.
 */
async function execRunner(admin: string, runId: string, trap: NodeJS.Signals = 'SIGINT') {
  const out = path.join(work, `${runId}.key`);
  const command = `process.on('${trap}', () => process.exit(0)); const fs = require('node:fs'); fs.writeFileSync(process.env.OUT + '.pid', String(process.pid)); fs.writeFileSync(process.env.OUT, process.env.STRIPE_SECRET_KEY); process.stdout.write('ready\\n'); setInterval(() => {}, 1 << 30);`;
  const runner: ChildProcess = spawn(
    process.execPath,
    [
      CLI,
      'run',
      'exec',
      '--admin',
      admin,
      '--key',
      'agents/bot',
      '--run-id',
      runId,
      '--',
      process.execPath,
      '-e',
      command,
    ],
    { env: { ...process.env, KEYBRAKE_TOKEN_FILE: tokenFile, OUT: out }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  runner.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const exited = once(runner, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let stdout = '';
  await new Promise<void>((resolve, reject) => {
    runner.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (stdout.includes('ready\n')) resolve();
    });
    void exited.then(() => reject(new Error(`run exec ended before its command was ready: ${stderr}`)));
  });
  return {
    runner,
    exited,
    stderr: () => stderr,
    runKey: () => readFile(out, 'utf8'),
    commandPid: async () => Number(await readFile(`${out}.pid`, 'utf8')),
  };
}

it('a stop signal after the command exited makes one last stop attempt at once, and the run is stopped', async () => {
  let runner: ChildProcess | undefined;
  // The first stop meets a reset (a replica restarting) and, as it does, Ctrl-C is pressed again.
  const admin = await front((n, req, _res, forward) => {
    if (n === 1) {
      runner!.kill('SIGINT');
      req.socket.destroy();
    } else forward();
  });
  try {
    const r = await execRunner(admin.url, 'exec-signal-once');
    runner = r.runner;
    const runKey = await r.runKey();
    expect(await chargeWith(runKey)).toBe('ok');
    runner.kill('SIGINT'); // forwarded: the command exits 0
    const [code, signal] = await r.exited;
    expect({ code, signal }, r.stderr()).toEqual({ code: 0, signal: null });
    expect(r.stderr()).toContain('SIGINT while stopping run exec-signal-once: one last attempt now');
    expect(r.stderr()).toContain('stopped run exec-signal-once');
    expect(admin.stopsSeen()).toBe(2);
    const before = emulator.requests.length;
    expect(await chargeWith(runKey)).toBe('key_unknown');
    expect(emulator.requests.length).toBe(before);
  } finally {
    await admin.close();
  }
});

it('a second one gives the stop up, says the run key stays valid and exits 1, not by the signal', async () => {
  let runner: ChildProcess | undefined;
  const admin = await front((n, req) => {
    // Each stop that reaches the front meets another SIGINT; the second is never answered.
    runner!.kill('SIGINT');
    if (n === 1) req.socket.destroy();
  });
  try {
    const r = await execRunner(admin.url, 'exec-signal-twice');
    runner = r.runner;
    runner.kill('SIGINT');
    const [code, signal] = await r.exited;
    expect({ code, signal }, r.stderr()).toEqual({ code: 1, signal: null });
    expect(r.stderr()).toMatch(
      /could not stop run exec-signal-twice \(its key stays valid until [^)]+\): given up on a second SIGINT/,
    );
    expect(admin.stopsSeen()).toBe(2);
  } finally {
    await admin.close();
  }
  // The key is still valid, as the message says: stop it here so nothing outlives the test.
  const stopped = await request(`${kb.urls['admin']}/v1/runs/agents/bot/exec-signal-twice`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${keys.bot.token}` },
  });
  await stopped.body.dump();
  expect(stopped.statusCode).toBe(200);
});

// Twelfth round (MEDIUM): Ctrl-\ (SIGQUIT) met its default action. The runner died silently, without
// a stop attempt, and its command, which ignored SIGQUIT (a JVM prints a thread dump and goes on), kept
// spending with the run key until --ttl (1 charge forwarded after the runner died, in the probe).
it('SIGQUIT (Ctrl-\\) is forwarded to the command and answered like SIGINT: the run is stopped, never a silent death', async () => {
  let runner: ChildProcess | undefined;
  // While the first stop meets a reset, Ctrl-\ is pressed again: one last attempt now.
  const admin = await front((n, req, _res, forward) => {
    if (n === 1) {
      runner!.kill('SIGQUIT');
      req.socket.destroy();
    } else forward();
  });
  let pid: number | undefined;
  try {
    const r = await execRunner(admin.url, 'exec-signal-quit', 'SIGQUIT');
    runner = r.runner;
    pid = await r.commandPid();
    const runKey = await r.runKey();
    expect(await chargeWith(runKey)).toBe('ok');
    runner.kill('SIGQUIT'); // forwarded: the command exits 0
    const [code, signal] = await r.exited;
    expect({ code, signal }, r.stderr()).toEqual({ code: 0, signal: null });
    expect(r.stderr()).toContain('SIGQUIT while stopping run exec-signal-quit: one last attempt now');
    expect(r.stderr()).toContain('stopped run exec-signal-quit');
    const before = emulator.requests.length;
    expect(await chargeWith(runKey)).toBe('key_unknown');
    expect(emulator.requests.length, 'requests at the upstream with the stopped run key').toBe(before);
  } finally {
    await admin.close();
    // Without the fix the runner died and left its command running: end it here.
    if (pid !== undefined)
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
  }
});
