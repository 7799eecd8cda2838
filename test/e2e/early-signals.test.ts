// A stop signal that arrives while `keybrake serve` is still starting (4053705): a supervisor or a
// test that signals on reading the first log lines must get a drained stop, never the default action
// (a kill, undrained). The start is held at a known point, deterministically: `--redis` names a
// server that accepts the connection and answers nothing, so serve waits in its Redis readiness check
// (up to 5 s) after the connection is made; the signal is sent when the connection arrives.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import { CLI, manifestDir, serveArgs } from '../env/keybrake.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

let dir: Awaited<ReturnType<typeof manifestDir>>;
let silent: Server;
const sockets = new Set<Socket>();
const connections: (() => void)[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = await manifestDir({
    'keys.yaml': yamlDocuments(
      ...stripeKey({ name: 'early', token: newToken('stripe'), upstreamKey: 'sk_test_earlysignal0000000' }),
    ),
  });
  // A "Redis" that takes connections and never answers.
  silent = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    connections.shift()?.();
  });
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
});

afterEach(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.length = 0;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  silent?.close();
  await dir?.remove();
});

/** Starts serve against the silent Redis; resolves once its Redis connection has arrived. */
async function serveHeldAtRedis() {
  const port = (silent.address() as { port: number }).port;
  const connected = new Promise<void>((resolve) => connections.push(resolve));
  const child = spawn(
    process.execPath,
    [CLI, ...serveArgs(dir.dir, { stripe: 'http://127.0.0.1:9' }), '--redis', `redis://127.0.0.1:${port}`],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, KEYBRAKE_LOG_LEVEL: 'info' } },
  );
  children.push(child);
  const lines: string[] = [];
  const waiters: { pred: (l: string) => boolean; resolve: () => void }[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => {
    lines.push(l);
    for (const w of [...waiters])
      if (w.pred(l)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const line = (pred: (l: string) => boolean) =>
    lines.some(pred)
      ? Promise.resolve()
      : Promise.race([
          new Promise<void>((resolve) => waiters.push({ pred, resolve })),
          exited.then(() => {
            throw new Error(`serve exited first:\n${lines.join('\n')}`);
          }),
        ]);
  await Promise.race([
    connected,
    exited.then(() => {
      throw new Error(`serve exited before connecting to Redis:\n${lines.join('\n')}`);
    }),
  ]);
  return { child, lines, exited, line };
}

const msgs = (lines: string[]) =>
  lines.flatMap((l) => {
    try {
      return [(JSON.parse(l) as { msg?: string }).msg];
    } catch {
      return [];
    }
  });

describe('a stop signal while serve starts', () => {
  it('is caught and acted on once started: serve listens, drains and exits 0', async () => {
    const serve = await serveHeldAtRedis();
    serve.child.kill('SIGTERM');
    const [code, signal] = await serve.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(serve.lines.join('\n')).toContain('SIGTERM while starting: stopping once started');
    const said = msgs(serve.lines);
    // Started, then stopped as any SIGTERM stops it: the start was not cut short.
    expect(said).toContain('listening');
    expect(said.indexOf('stopped')).toBeGreaterThan(said.indexOf('listening'));
  }, 30_000);

  it('a second signal during the start exits at once, non-zero, without starting', async () => {
    const serve = await serveHeldAtRedis();
    serve.child.kill('SIGINT');
    await serve.line((l) => l.includes('SIGINT while starting'));
    serve.child.kill('SIGHUP');
    const [code, signal] = await serve.exited;
    expect({ code, signal }).toEqual({ code: 1, signal: null });
    expect(msgs(serve.lines)).not.toContain('listening');
  }, 30_000);
});
