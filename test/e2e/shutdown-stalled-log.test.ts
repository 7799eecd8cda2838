// `keybrake serve` whose stderr is a pipe nobody reads any more (eleventh round, LOW): a log driver
// in blocking mode whose backend is down, a stuck log shipper. Once more than the pipe's 64 KiB of
// log lines waited, serve drained on SIGTERM and never exited: the lines libuv still held kept the
// event loop alive, until a SIGKILL at the end of the pod's grace period. Here it exits 0, drained,
// within its drain timeout and the few seconds the log is given at the exit.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, manifestDir, serveArgs } from '../env/keybrake.ts';
import { mintKeys } from './fixtures/replicas.ts';

describe('serve with a stderr pipe nobody reads', () => {
  let manifests: Awaited<ReturnType<typeof manifestDir>>;
  let child: ChildProcess | undefined;
  const { files, keys } = mintKeys([{ name: 'bot', limits: { perRunUsd: '5', perDayUsd: '100' } }]);

  beforeAll(async () => {
    manifests = await manifestDir(files);
  });

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await manifests?.remove();
  });

  it('exits drained after SIGTERM though lines of its log wait', async () => {
    child = spawn(
      process.execPath,
      [CLI, ...serveArgs(manifests.dir, { stripe: 'http://127.0.0.1:9' }), '--drain-timeout', '1s'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KEYBRAKE_LOG_LEVEL: 'info' } },
    );
    const exited = once(child, 'exit');
    child.stdout!.resume();
    // Read stderr up to the `listening` line, then never again: the pipe fills, then libuv holds the rest.
    const stderr = child.stderr!;
    const urls = await new Promise<Record<string, string>>((resolve, reject) => {
      let text = '';
      const onData = (d: Buffer) => {
        text += d.toString('utf8');
        for (const line of text.split('\n')) {
          if (!line.includes('"msg":"listening"')) continue;
          stderr.off('data', onData);
          stderr.pause();
          resolve((JSON.parse(line) as { urls: Record<string, string> }).urls);
          return;
        }
      };
      stderr.on('data', onData);
      exited.then(([code]) => reject(new Error(`serve exited with ${code} before listening:\n${text}`)));
    });
    const admin = urls['admin']!;

    // One `run started` line each, about 400 bytes with a long run id: several times the pipe's 64 KiB.
    const long = 'x'.repeat(120);
    let next = 0;
    let started = 0;
    const starter = async () => {
      while (next < 1_000) {
        const res = await request(`${admin}/v1/runs`, {
          method: 'POST',
          headers: { authorization: `Bearer ${keys.bot.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ key: 'agents/bot', runId: `${long}${next++}` }),
        });
        await res.body.dump();
        if (res.statusCode === 201) started++;
      }
    };
    await Promise.all(Array.from({ length: 8 }, starter));
    expect(started).toBe(1_000);
    const ready = await request(`${admin}/readyz`);
    await ready.body.dump();
    expect(ready.statusCode).toBe(200);

    child.kill('SIGTERM');
    // Drain timeout 1 s plus the log's bound at the exit: 30 s is slack for a loaded machine only.
    const timer = setTimeout(() => child?.kill('SIGKILL'), 30_000);
    const [code, signal] = await exited;
    clearTimeout(timer);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  }, 120_000);
});
