// `keybrake serve` applies a suspension or an earlier expiry made while a backup copy of the key's
// file sits beside it (tenth round, HIGH). A name defined twice is an error, so the change is
// refused, and the table keeps only what the change revokes; the set held the definition of the
// file whose name sorts first, and with the copy first (`a-…`, `old-…`) the suspension was compared
// with the copy, never applied, and charges were forwarded with the real key. Whatever the names'
// order: 401, and nothing more reaches the recording upstream.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { type KeybrakeProcess, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { saveFile } from '../env/save-file.ts';
import { mintKeys, UPSTREAM_KEY } from './fixtures/replicas.ts';

/** Each key's file gets a copy named so that it sorts before or after `<name>.yaml`. */
const cases = [
  { name: 'susp-first', copy: 'a-backup-susp-first.yaml', edit: 'suspend', reason: 'key_suspended' },
  { name: 'susp-last', copy: 'zz-backup-susp-last.yaml', edit: 'suspend', reason: 'key_suspended' },
  { name: 'exp-first', copy: 'backup-exp-first.yaml', edit: 'expire', reason: 'key_expired' },
  { name: 'exp-last', copy: 'zz-exp-last.yaml', edit: 'expire', reason: 'key_expired' },
] as const;
const { files, keys } = mintKeys(cases.map(({ name }) => ({ name, limits: { perDayUsd: '100' } })));

let dir: string;
let emulator: StripeEmulator;
let kb: KeybrakeProcess;

/** A $9.99 charge with `name`'s token: its status and Keybrake's reason. */
async function charge(name: string): Promise<{ status: number; reason: string | undefined }> {
  const res = await request(`${kb.urls['stripe']}/v1/charges`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${keys[name as keyof typeof keys].token}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'amount=999&currency=usd&source=tok_visa',
  });
  await res.body.dump();
  const header = String(res.headers['keybrake-decision'] ?? '');
  return { status: res.statusCode, reason: /reason=([a-z_]+)/.exec(header)?.[1] };
}

const charges = () => emulator.requests.filter((r) => r.path === '/v1/charges').length;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keybrake-backup-copy-'));
  emulator = await startStripeEmulator({ validKeys: [UPSTREAM_KEY] });
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
  kb = await startKeybrake(serveArgs(dir, { stripe: emulator.url }));
});

afterAll(async () => {
  await kb?.stop();
  await emulator?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('serve revokes what any definition of a name defined twice says', () => {
  it.each(cases)('$name: a copy named $copy, then the original edited to $edit', async (c) => {
    const revoked = `VaultKey agents/${c.name} ${c.edit === 'suspend' ? 'suspended' : 'expires earlier'}`;
    expect(await charge(c.name)).toEqual({ status: 200, reason: 'ok' });

    // The copy alone: refused (a duplicate), nothing revoked, the key still served.
    const duplicate = kb.waitForNextLog(
      (l) =>
        typeof l.msg === 'string' &&
        l.msg.startsWith('manifest change rejected') &&
        JSON.stringify(l.errors ?? []).includes(c.copy),
      30_000,
    );
    const original = await readFile(join(dir, `${c.name}.yaml`), 'utf8');
    await saveFile(dir, c.copy, original);
    onTestFinished(() => rm(join(dir, c.copy), { force: true }));
    await duplicate;
    expect(await charge(c.name)).toEqual({ status: 200, reason: 'ok' });

    // The original suspended or expired: the rejection line says what it revokes, and it applies.
    const applied = kb.waitForNextLog((l) => typeof l.msg === 'string' && l.msg.includes(revoked), 30_000);
    const extra = c.edit === 'suspend' ? '  suspended: true\n' : '  expiresAt: "2020-01-01T00:00:00Z"\n';
    const edited = original.replace('  policyRef:', `${extra}  policyRef:`);
    expect(edited).not.toBe(original);
    await saveFile(dir, `${c.name}.yaml`, edited);
    const line = await applied;
    expect(line.msg).toMatch(
      /^manifest change rejected: keeping the last good policy, except what it revokes: /,
    );

    const before = charges();
    expect(await charge(c.name)).toEqual({ status: 401, reason: c.reason });
    expect(charges()).toBe(before);

    // The copy removed, the change is accepted and the key stays refused.
    const accepted = kb.waitForNextLog((l) => l.msg === 'manifests loaded', 30_000);
    await rm(join(dir, c.copy));
    await accepted;
    expect(await charge(c.name)).toEqual({ status: 401, reason: c.reason });
    expect(charges()).toBe(before);
  });
});
