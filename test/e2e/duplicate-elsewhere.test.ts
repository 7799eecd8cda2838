// `keybrake serve` applies what an edit of a file revokes when another file reuses one of its names
// (tenth round, HIGH). A team's file holds its SpendPolicy `caps`, its keys and their Secrets; another
// file in the same namespace defines a `caps` too (a copy-pasted policy). That is a duplicate, an
// error, so every change is refused until it is fixed, but for what the change revokes. `assemble`
// files the duplicate under the later of the two files, and that file was then held at its last
// good version like a file with a YAML error: with the other file's name sorting first, a key
// deleted from the team's file stayed served, a replaced token kept working and a rotated upstream
// key was still sent upstream. Whatever the names' order, each is revoked, and nothing more reaches
// the recording upstream; the duplicated policy keeps its version in force.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { newToken } from '../../src/tokens/token.ts';
import { type KeybrakeProcess, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { saveFile } from '../env/save-file.ts';

/** One team per order of the file names: the other file sorts before the team's, or after it. */
const teams = [
  { namespace: 'early', file: 'team-early.yaml', other: 'a-copied-caps.yaml' },
  { namespace: 'late', file: 'team-late.yaml', other: 'zz-copied-caps.yaml' },
] as const;
type Namespace = (typeof teams)[number]['namespace'];

/** Each team's upstream keys: `old` in force, `new` what the upstream Secret of key `up` is rotated to. */
const upstreamKey = (ns: Namespace, which: 'old' | 'new', key: string) => `sk_test_dup_${ns}_${key}_${which}`;
const KEYS = ['del', 'tok', 'up'] as const;
type Key = (typeof KEYS)[number];
const tokens = Object.fromEntries(
  teams.map(({ namespace }) => [namespace, Object.fromEntries(KEYS.map((k) => [k, newToken('stripe')]))]),
) as Record<Namespace, Record<Key, string>>;
const newTokenOfTok = Object.fromEntries(
  teams.map(({ namespace }) => [namespace, newToken('stripe')]),
) as Record<Namespace, string>;

const policy = (ns: string, perDayUsd: string) => `apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: caps, namespace: ${ns} }
spec:
  vendor: stripe
  limits: { perDayUsd: "${perDayUsd}" }
`;
const vaultKey = (ns: string, name: Key) => `apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: ${name}, namespace: ${ns} }
spec:
  vendor: stripe
  policyRef: { name: caps }
  upstreamSecretRef: { name: ${name}-upstream, key: apiKey }
  tokenSecretRef: { name: ${name}-token, key: token }
`;
const secret = (ns: string, name: string, field: string, value: string) => `apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: ${ns} }
stringData: { ${field}: ${value} }
`;

/** A team's file: `edited` without key `del`, with key `tok`'s token and key `up`'s upstream key replaced. */
function teamFile(ns: Namespace, edited: boolean): string {
  const docs = [policy(ns, '1000')];
  for (const k of KEYS) {
    if (!(edited && k === 'del')) docs.push(vaultKey(ns, k));
    docs.push(secret(ns, `${k}-token`, 'token', edited && k === 'tok' ? newTokenOfTok[ns] : tokens[ns][k]));
    docs.push(
      secret(ns, `${k}-upstream`, 'apiKey', upstreamKey(ns, edited && k === 'up' ? 'new' : 'old', k)),
    );
  }
  return docs.join('---\n');
}

let dir: string;
let emulator: StripeEmulator;
let kb: KeybrakeProcess;

/** A $9.99 charge with `token`: its status and Keybrake's reason. */
async function charge(token: string): Promise<{ status: number; reason: string | undefined }> {
  const res = await request(`${kb.urls['stripe']}/v1/charges`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'amount=999&currency=usd&source=tok_visa',
  });
  await res.body.dump();
  const header = String(res.headers['keybrake-decision'] ?? '');
  return { status: res.statusCode, reason: /reason=([a-z_]+)/.exec(header)?.[1] };
}

/** The upstream keys of every charge the upstream received. */
const forwarded = () =>
  emulator.requests
    .filter((r) => r.path === '/v1/charges')
    .map((r) => String(r.headers['authorization'] ?? '').replace(/^Bearer /, ''));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keybrake-duplicate-elsewhere-'));
  emulator = await startStripeEmulator({
    validKeys: teams.flatMap(({ namespace }) =>
      KEYS.flatMap((k) => [upstreamKey(namespace, 'old', k), upstreamKey(namespace, 'new', k)]),
    ),
  });
  for (const { namespace, file } of teams) await writeFile(join(dir, file), teamFile(namespace, false));
  kb = await startKeybrake(serveArgs(dir, { stripe: emulator.url }));
});

afterAll(async () => {
  await kb?.stop();
  await emulator?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a name reused by another file does not hold back what an edit of its own file revokes', () => {
  it('deletion, token replacement and upstream rotation apply, whichever file sorts first', async () => {
    for (const { namespace } of teams)
      for (const k of KEYS) expect(await charge(tokens[namespace][k])).toEqual({ status: 200, reason: 'ok' });

    // Another file in each namespace reuses the name `caps`: refused (a duplicate), nothing revoked.
    const refused = kb.waitForNextLog(
      (l) =>
        typeof l.msg === 'string' &&
        l.msg.startsWith('manifest change rejected') &&
        teams.every(({ other }) => JSON.stringify(l.errors ?? []).includes(other)),
      30_000,
    );
    for (const { namespace, other } of teams) await saveFile(dir, other, policy(namespace, '5'));
    await refused;
    for (const { namespace } of teams)
      for (const k of KEYS) expect(await charge(tokens[namespace][k])).toEqual({ status: 200, reason: 'ok' });

    // Each team edits its own file: key `del` deleted, `tok`'s token and `up`'s upstream key replaced.
    // The late team's file is saved last: its revocations are on the line that follows both saves.
    const late = [
      'VaultKey late/del deleted',
      'token of VaultKey late/tok replaced',
      'upstream key of VaultKey late/up replaced',
    ];
    const applied = kb.waitForNextLog(
      (l) => typeof l.msg === 'string' && late.every((w) => String(l.msg).includes(w)),
      30_000,
    );
    for (const { namespace, file } of teams) await saveFile(dir, file, teamFile(namespace, true));
    const line = await applied;
    expect(line.msg).toMatch(
      /^manifest change rejected: keeping the last good policy, except what it revokes: /,
    );
    // The duplicated name is not one of them: its version in force stays.
    expect(line.msg).not.toContain('SpendPolicy');

    const before = forwarded().length;
    for (const { namespace } of teams) {
      expect(await charge(tokens[namespace].del)).toEqual({ status: 401, reason: 'key_unknown' });
      expect(await charge(tokens[namespace].tok)).toEqual({ status: 401, reason: 'key_unknown' });
      expect(await charge(tokens[namespace].up)).toEqual({ status: 401, reason: 'key_unknown' });
      // The replacing token is a grant a refused change never makes.
      expect(await charge(newTokenOfTok[namespace])).toEqual({ status: 401, reason: 'key_unknown' });
    }
    // At the upstream: nothing more, and never a rotated-out key after the rotation.
    expect(forwarded().length).toBe(before);
    expect(forwarded().slice(before)).toEqual([]);
  });
});
