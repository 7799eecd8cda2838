// `keybrake serve` applies a suspension within the docs' bound while something writes into the
// watched folder without pause (eighth round, HIGH): a log or a heartbeat written there every 20 ms
// restarted the watcher's debounce for as long as it went on (an audit log in the folder made every
// call of the agent's, even a refused one, hold the suspension off), and the safety-net check went
// through that same debounce. Within the bound: 401 key_suspended, nothing forwarded upstream.
import { appendFile, mkdir, mkdtemp, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { type KeybrakeProcess, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { keyManifests, mintKeys, UPSTREAM_KEY, UPSTREAM_SECRET } from './fixtures/replicas.ts';

/** The docs' bound when the kernel reports the change (~0.2 s), with slack for a shared two-core box. */
const BOUND_MS = 2_000;

const spec = { name: 'chatty', limits: { perDayUsd: '10', requestsPerMinute: 10_000 } };
const { keys } = mintKeys([spec]);
const token = keys.chatty!.token;
const live = keyManifests(spec, token);
const suspended = live.replace('  policyRef:', '  suspended: true\n  policyRef:');

async function call(base: string): Promise<{ status: number; reason: string | undefined }> {
  const res = await request(`${base}/v1/customers?limit=1`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await res.body.dump();
  const header = String(res.headers['keybrake-decision'] ?? '');
  return { status: res.statusCode, reason: /reason=([a-z_]+)/.exec(header)?.[1] };
}

let root: string;
let m: string;
let emulator: StripeEmulator;
let kb: KeybrakeProcess;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'keybrake-chatty-'));
  m = join(root, 'm');
  await mkdir(m);
  emulator = await startStripeEmulator({ validKeys: [UPSTREAM_KEY] });
  await writeFile(join(root, 'upstream.yaml'), UPSTREAM_SECRET);
  await writeFile(join(m, 'key.yaml'), live);
  // Written long ago: no file is read again as it settles, a reload only comes from the watcher.
  const past = new Date(Date.now() - 60_000);
  for (const file of [join(root, 'upstream.yaml'), join(m, 'key.yaml')]) await utimes(file, past, past);
  const args = serveArgs(join(root, 'upstream.yaml'), { stripe: emulator.url });
  args.push('--manifests', m);
  kb = await startKeybrake(args);
  expect((await call(kb.urls['stripe']!)).status).toBe(200);
});

afterAll(async () => {
  await kb?.stop();
  await emulator?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('serve under a folder written without pause', () => {
  it('applies a suspension within the bound while a log, a note and a dot file are written every 20 ms', async () => {
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        await appendFile(join(m, 'audit.jsonl'), `{"n":${i}}\n`);
        await writeFile(join(m, 'notes.txt'), `note ${i}`);
        await writeFile(join(m, '.heartbeat'), String(i));
        await new Promise((resolve) => setTimeout(resolve, 20)); // the writer's pace
      }
    })();
    try {
      // Let the stream run first: the watcher is mid-burst when the suspension lands.
      for (let i = 0; i < 10; i++) expect((await call(kb.urls['stripe']!)).status).toBe(200);
      await writeFile(join(m, '.key.yaml.tmp'), suspended);
      await rename(join(m, '.key.yaml.tmp'), join(m, 'key.yaml'));
      const deadline = Date.now() + BOUND_MS;
      for (;;) {
        const before = emulator.requests.length;
        const r = await call(kb.urls['stripe']!);
        if (r.status !== 200) {
          expect(r).toEqual({ status: 401, reason: 'key_suspended' });
          expect(emulator.requests.length).toBe(before);
          break;
        }
        if (Date.now() > deadline) throw new Error(`still forwarded ${BOUND_MS} ms after the suspension`);
        await new Promise((resolve) => setTimeout(resolve, 20)); // polling pace, not synchronisation
      }
      const forwarded = emulator.requests.length;
      expect(await call(kb.urls['stripe']!)).toEqual({ status: 401, reason: 'key_suspended' });
      expect(emulator.requests.length).toBe(forwarded);
    } finally {
      writing = false;
      await writer;
    }
  });
});
