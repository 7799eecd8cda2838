// Tenth round (a regression of 3cf25d1): an answer over 64 KiB, handed to node in pieces, held 11
// 'close' listeners on its response, and serve wrote a MaxListenersExceededWarning, a line that is
// not JSON, to its log for every such read. The child reports the most listeners each response held
// as it closes (fixtures/close-listeners.mjs); its stderr is a pipe, written in order, so once a
// response's count has arrived any warning given while it was answered has too. No sleeps.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { BIG, type BigUpstream, startBigUpstream } from './fixtures/big-upstream.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const PRELOAD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/close-listeners.mjs');
const TOKEN = newToken('stripe');
const UPSTREAM_KEY = `sk_test_listeners${'0'.repeat(16)}`;
/** Node's default for one emitter: past it, a warning. */
const MAX_LISTENERS = 10;

let upstream: BigUpstream;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let kb: KeybrakeProcess;

beforeAll(async () => {
  upstream = await startBigUpstream();
  dir = await manifestDir({
    'keys.yaml': yamlDocuments(...stripeKey({ name: 'reader', token: TOKEN, upstreamKey: UPSTREAM_KEY })),
  });
  kb = await startKeybrake(serveArgs(dir.dir, { stripe: upstream.url }), {
    env: { NODE_OPTIONS: `--import=${PRELOAD}` },
  });
});

afterAll(async () => {
  await kb?.stop();
  await upstream?.close();
  await dir?.remove();
});

const counts = (): number[] =>
  kb
    .output()
    .split('\n')
    .flatMap((line) => {
      const m = /"msg":"test: close listeners","count":(\d+)/.exec(line);
      return m ? [Number(m[1])] : [];
    });

describe('an answer sent in pieces', () => {
  it('holds no more close listeners than node allows, and serve logs no warning', async () => {
    for (let i = 0; i < 3; i++) {
      const before = counts().length;
      const res = await fetch(`${kb.urls.stripe}/v1/customers/big${i}`, {
        headers: { Authorization: `Bearer ${TOKEN}` },
      });
      expect(res.status).toBe(200);
      expect((await res.arrayBuffer()).byteLength).toBe(BIG.length);
      // Its response's count (the answer is whole at the client; the response closes after).
      let n = 0;
      await kb.waitForLog((l) => l.msg === 'test: close listeners' && ++n > before, 20_000);
    }
    expect(upstream.requests.filter((p) => p.startsWith('/v1/customers/big'))).toHaveLength(3);
    const seen = counts();
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...seen)).toBeLessThanOrEqual(MAX_LISTENERS);
    expect(kb.output()).not.toContain('MaxListenersExceededWarning');
    // Every line serve wrote to stderr is JSON (README: logs are JSON lines on stderr).
    const stray = kb
      .output()
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('{'));
    expect(stray).toEqual([]);
  });
});
