import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { RawDocument, ResourceSet } from '../api/resource-set.ts';
import { validate } from '../api/validate.ts';
import { fixedClock } from '../clock.ts';
import { runKeyId, runKeysOf } from '../snapshot/run-keys.ts';
import { describeSnapshot } from '../snapshot/serialize.ts';
import { runSecretFor } from '../tokens/run-token.ts';
import { tokenDigest } from '../tokens/token.ts';
import {
  type CompileOptions,
  compile,
  createCompileCache,
  type Revocation,
  type TokenGuard,
} from './compile.ts';
import { mergeConditions } from './conditions.ts';

const DIR = new URL('../../test/fixtures/compiler/', import.meta.url);
const NOW = '2026-06-01T00:00:00Z';
const cases = readdirSync(DIR)
  .filter((f) => f.endsWith('.in.yaml'))
  .map((f) => f.slice(0, -'.in.yaml'.length))
  .sort();

/** A golden fixture's documents, validated. */
function fixture(name: string) {
  const file = `${name}.in.yaml`;
  const docs: RawDocument[] = parseAllDocuments(readFileSync(new URL(file, DIR), 'utf8')).map((d, index) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]?.message}`);
    return { source: file, index, doc: d.toJS() };
  });
  return validate(docs);
}

function run(name: string) {
  const { set, errors } = fixture(name);
  const { snapshot, statuses } = compile(set, { version: 7, clock: fixedClock(NOW) });
  return { snapshot, rendered: { errors, snapshot: describeSnapshot(snapshot), statuses } };
}

describe('compiler golden files', () => {
  it.each(cases)('%s', (name) => {
    const { rendered } = run(name);
    const text = `${JSON.stringify(rendered, null, 2)}\n`;
    const out = new URL(`${name}.out.json`, DIR);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(out, text);
    expect(text).toBe(readFileSync(out, 'utf8'));
  });

  /** A fixture compiled with the default options, and again with `options`. */
  const withAndWithout = (name: string, options: Partial<CompileOptions>) => {
    const { set } = fixture(name);
    const compiled = (o: Partial<CompileOptions>) =>
      compile(set, { version: 7, clock: fixedClock(NOW), ...o });
    return [compiled({}), compiled(options)] as const;
  };

  it.each(cases)('%s: without ready statuses, exactly the statuses that are not Ready', (name) => {
    const [all, some] = withAndWithout(name, { readyStatuses: false });
    expect(some.statuses).toEqual(all.statuses.filter((s) => s.conditions[0]!.status !== 'True'));
    expect(describeSnapshot(some.snapshot)).toEqual(describeSnapshot(all.snapshot));
  });

  it.each(cases)(
    '%s: without the run-key index built, the same table and the same index on first use',
    (name) => {
      const [eager, lazy] = withAndWithout(name, { runKeyIndex: false });
      expect(describeSnapshot(lazy.snapshot)).toEqual(describeSnapshot(eager.snapshot));
      const ids = (s: typeof eager.snapshot) => [...runKeysOf(s)].map(([id, k]) => [id, k.uid]);
      expect(ids(lazy.snapshot)).toEqual(ids(eager.snapshot));
    },
  );

  it.each(cases)(
    '%s: without run secrets, the same table and statuses, and no key with a run secret',
    (name) => {
      const [all, checked] = withAndWithout(name, { runSecrets: false });
      expect(describeSnapshot(checked.snapshot)).toEqual(describeSnapshot(all.snapshot));
      expect(checked.statuses).toEqual(all.statuses);
      for (const k of checked.snapshot.keys.values()) expect(k.runSecret).toBeUndefined();
      expect(runKeysOf(checked.snapshot).size).toBe(0);
    },
  );

  it.each(cases)('%s: the rendering never contains an upstream secret or a token', (name) => {
    const input = readFileSync(new URL(`${name}.in.yaml`, DIR), 'utf8');
    const text = JSON.stringify(run(name).rendered);
    const secrets = [
      ...input.matchAll(/(kb_[a-z]+_[0-9A-Za-z]{39}|sk_test_\w+|fixture_\w+|re_fixture\w+)/g),
    ].map((m) => m[1]!);
    for (const s of secrets) expect(text).not.toContain(s);
  });
});

describe('compile', () => {
  it('looks a key up by the SHA-256 of its token and carries the real credential', () => {
    const { snapshot } = run('valid-stripe-key');
    const key = [...snapshot.keys.values()][0]!;
    expect(key.upstream).toEqual({ kind: 'bearer', token: 'sk_test_fixture_not_a_real_key' });
    expect(key.policy.limits.perDayMicros).toBe(200_000_000);
    expect(key.policy.endpoints?.some((e) => e.path.test('/v1/payment_intents/pi_1/confirm'))).toBe(true);
  });

  it('trims the newline a Secret made with echo carries', () => {
    const { snapshot } = run('resend-key');
    expect([...snapshot.keys.values()][0]!.upstream).toEqual({
      kind: 'bearer',
      token: 're_fixture_not_a_real_key',
    });
  });

  it('shares one compiled policy between the keys that reference it', () => {
    const [a, b] = [...run('two-keys-share-a-policy').snapshot.keys.values()];
    expect(a!.policy).toBe(b!.policy);
    expect(a!.uid).not.toBe(b!.uid);
  });

  it('builds Twilio Basic credentials from either kind of Secret', () => {
    const creds = [...run('twilio-basic-credentials').snapshot.keys.values()].map((k) => [
      k.name,
      k.upstream,
    ]);
    expect(Object.fromEntries(creds)).toEqual({
      'sms-auth-token': {
        kind: 'basic',
        username: 'AC00000000000000000000000000000001',
        password: 'fixture_auth_token_not_real',
        accountSid: 'AC00000000000000000000000000000001',
      },
      'sms-api-key': {
        kind: 'basic',
        username: 'SK00000000000000000000000000000001',
        password: 'fixture_api_key_secret',
        accountSid: 'AC00000000000000000000000000000002',
      },
    });
  });
});

describe('mergeConditions', () => {
  const c = (status: 'True' | 'False', t: string) => ({
    type: 'Ready',
    status,
    reason: 'X',
    message: '',
    lastTransitionTime: t,
  });

  it('keeps the transition time while the status stays the same', () => {
    expect(mergeConditions([c('True', 'old')], [c('True', 'new')])[0]!.lastTransitionTime).toBe('old');
  });

  it('takes the new transition time when the status flips', () => {
    expect(mergeConditions([c('True', 'old')], [c('False', 'new')])[0]!.lastTransitionTime).toBe('new');
  });
});

describe('token ownership and revocation (cluster, ADR 0009)', () => {
  const TOKEN = 'kb_stripe_0BUs5pqkyKNT2bl3bYkz562TKID8XB1SM01oLbJ';
  const yaml = (keyUid: string) => `
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: p, namespace: agents, uid: p-uid }
spec: { vendor: stripe, limits: { perDayUsd: "10" } }
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: bot, namespace: agents, uid: ${keyUid} }
spec:
  vendor: stripe
  policyRef: { name: p }
  upstreamSecretRef: { name: up, key: apiKey }
  tokenSecretRef: { name: bot-token }
---
apiVersion: v1
kind: Secret
metadata: { name: up, namespace: agents }
stringData: { apiKey: sk_test_fixture_not_a_real_key }
---
apiVersion: v1
kind: Secret
metadata: { name: bot-token, namespace: agents }
stringData: { token: ${TOKEN} }
`;
  const compileWith = (keyUid: string, tokens?: TokenGuard, extra = '') => {
    const docs: RawDocument[] = parseAllDocuments(yaml(keyUid) + extra).map((d, index) => ({
      source: 't.yaml',
      index,
      doc: d.toJS(),
    }));
    const { set } = validate(docs);
    const result = compile(set, { version: 1, clock: fixedClock(NOW), ...(tokens && { tokens }) });
    const status = result.statuses.find((s) => s.kind === 'VaultKey' && s.name === 'bot')!;
    return {
      served: result.snapshot.keys.has(tokenDigest(TOKEN)),
      reason: status.conditions[0]!.reason,
      status,
    };
  };
  const guard = (owner: string | undefined, revoked?: Revocation): TokenGuard => ({
    ownerOf: (ns, name) => (ns === 'agents' && name === 'bot-token' ? owner : undefined),
    revoked: (digest) => (digest === tokenDigest(TOKEN) ? revoked : undefined),
  });

  it.each([
    ['an unowned Secret (a token you bring)', undefined],
    ["a Secret owned by the key's own uid", 'uid-2'],
  ])('serves the token of %s', (_name, owner) => {
    expect(compileWith('uid-2', guard(owner))).toMatchObject({ served: true, reason: 'Active' });
  });

  it('never serves the token of a Secret owned by a deleted VaultKey: a re-created key of the same name is another key', () => {
    const { served, reason, status } = compileWith('uid-2', guard('uid-1'));
    expect(served).toBe(false);
    expect(reason).toBe('TokenSecretStale');
    expect(status.conditions[0]!.message).toContain('uid-1');
    expect(status.served).toBe(false);
  });

  it('serves only the owner when a second key names a Secret another live key owns', () => {
    const other = `
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: owner, namespace: agents, uid: uid-owner }
spec:
  vendor: stripe
  policyRef: { name: p }
  upstreamSecretRef: { name: up, key: apiKey }
  tokenSecretRef: { name: bot-token }
`;
    const docs: RawDocument[] = parseAllDocuments(yaml('uid-2') + other).map((d, index) => ({
      source: 't.yaml',
      index,
      doc: d.toJS(),
    }));
    const { set } = validate(docs);
    const { snapshot, statuses } = compile(set, {
      version: 1,
      clock: fixedClock(NOW),
      tokens: guard('uid-owner'),
    });
    expect(snapshot.keys.get(tokenDigest(TOKEN))?.name).toBe('owner');
    const bot = statuses.find((s) => s.name === 'bot')!;
    expect(bot.conditions[0]).toMatchObject({ reason: 'TokenConflict', status: 'False' });
    expect(bot.conditions[0]!.message).toContain('agents/owner');
  });

  // Found by a tester: a tenant set their Secret's ownerReference to team-b's key's uid and read
  // "belongs to VaultKey team-a/<team-b's key name>".
  it("does not name the key of another namespace whose uid owns the Secret, nor put it in the key's namespace", () => {
    const elsewhere = `
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: payroll-key, namespace: team-b, uid: uid-team-b }
spec:
  vendor: stripe
  policyRef: { name: p }
  upstreamSecretRef: { name: up, key: apiKey }
  tokenSecretRef: { name: payroll-token }
`;
    const { served, reason, status } = compileWith('uid-2', guard('uid-team-b'), elsewhere);
    expect(served).toBe(false);
    expect(reason).toBe('TokenConflict');
    expect(status.conditions[0]!.message).toBe(
      'Secret agents/bot-token belongs to a VaultKey in another namespace; a token Secret serves only the key that owns it.',
    );
    expect(status.conditions[0]!.message).not.toContain('payroll-key');
  });

  it('never serves a revoked token, whichever key or Secret presents it, and says when it was revoked', () => {
    const { served, reason, status } = compileWith(
      'uid-2',
      guard(undefined, { vaultKey: 'agents/bot', at: Date.parse('2026-05-31T12:00:00Z') }),
    );
    expect(served).toBe(false);
    expect(reason).toBe('TokenRevoked');
    expect(status.conditions[0]!.message).toContain('agents/bot was deleted (2026-05-31T12:00:00Z)');
    expect(status.conditions[0]!.message).not.toContain(TOKEN);
  });

  // Found by a tester: team-b's status named team-a's deleted key.
  it('does not name a key of another namespace that revoked the token, only that it was one', () => {
    const { reason, status } = compileWith(
      'uid-2',
      guard(undefined, { vaultKey: 'team-a/bot', at: Date.parse('2026-05-31T12:00:00Z') }),
    );
    expect(reason).toBe('TokenRevoked');
    expect(status.conditions[0]!.message).toContain(
      'was revoked when a VaultKey in another namespace was deleted (2026-05-31T12:00:00Z)',
    );
    expect(status.conditions[0]!.message).not.toContain('team-a');
  });

  // Seventh round: a key named another key's minted token Secret as its upstream, and the proxy sent
  // that key's vault token to the vendor. Here the Secret holds a vendor-shaped value and no key of
  // the set names it as its token: only its ownerReference says what it is.
  it("refuses an upstream Secret a VaultKey owns (a token Secret the operator minted), naming the owner of the key's own namespace only", () => {
    const minter = (ns: string) => `
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: minter, namespace: ${ns}, uid: uid-minter }
spec:
  vendor: stripe
  policyRef: { name: p }
  upstreamSecretRef: { name: other-up, key: apiKey }
  tokenSecretRef: { name: minter-token }
`;
    const owned: TokenGuard = {
      ownerOf: (ns, name) => (ns === 'agents' && name === 'up' ? 'uid-minter' : undefined),
      revoked: () => undefined,
    };
    const never = 'a vault token is never sent to the vendor as the real key.';
    const here = compileWith('uid-2', owned, minter('agents'));
    expect(here).toMatchObject({ served: false, reason: 'UpstreamSecretInvalid' });
    expect(here.status.conditions[0]!.message).toBe(
      `Secret agents/up is the token Secret of VaultKey agents/minter (its ownerReference): ${never}`,
    );
    expect(compileWith('uid-2', owned, minter('team-b')).status.conditions[0]!.message).toBe(
      `Secret agents/up is the token Secret of a VaultKey in another namespace (its ownerReference): ${never}`,
    );
    expect(compileWith('uid-2', owned).status.conditions[0]!.message).toBe(
      `Secret agents/up is the token Secret of a deleted VaultKey (its ownerReference): ${never}`,
    );
  });

  it('has no ownership rule without a guard (manifest files carry no uids)', () => {
    expect(compileWith('uid-2')).toMatchObject({ served: true, reason: 'Active' });
  });
});

describe('run secrets (ADR 0010)', () => {
  const TOKEN = 'kb_stripe_0BUs5pqkyKNT2bl3bYkz562TKID8XB1SM01oLbJ';
  const compileWith = (token: string, uid: string, prefix = '', extra: Partial<CompileOptions> = {}) => {
    const yaml = `
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: p, namespace: agents }
spec: { vendor: stripe, limits: { perRunUsd: "5" } }
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: bot, namespace: agents, uid: ${uid} }
spec:
  vendor: stripe
  policyRef: { name: p }
  upstreamSecretRef: { name: up, key: apiKey }
  tokenSecretRef: { name: bot-token }${prefix ? `\n  tokenPrefix: ${prefix}` : ''}
---
apiVersion: v1
kind: Secret
metadata: { name: up, namespace: agents }
stringData: { apiKey: sk_test_fixture_not_a_real_key }
---
apiVersion: v1
kind: Secret
metadata: { name: bot-token, namespace: agents }
stringData: { token: ${token} }
`;
    const docs: RawDocument[] = parseAllDocuments(yaml).map((d, index) => ({
      source: 't.yaml',
      index,
      doc: d.toJS(),
    }));
    const { set } = validate(docs);
    return { ...compileSet(set, token, extra), set };
  };
  const compileSet = (set: ResourceSet, token: string, extra: Partial<CompileOptions> = {}) => {
    const { snapshot, statuses } = compile(set, { version: 1, clock: fixedClock(NOW), ...extra });
    return { snapshot, key: snapshot.keys.get(tokenDigest(token))!, statuses };
  };

  it("mixes the namespace's claim into the run secret (twelfth round: a release that takes a namespace refuses the runs minted under the one before)", () => {
    const claim = (epoch: string | undefined) => ({
      runClaim: (ns: string) => (ns === 'agents' ? epoch : 'x'),
    });
    const first = compileWith(TOKEN, 'uid-1', '', claim('keybrake/keybrake-operator\n1800000000000')).key;
    const moved = compileWith(TOKEN, 'uid-1', '', claim('team/team-keybrake-operator\n1800000045000')).key;
    expect(first.runSecret).toBe(runSecretFor(TOKEN, 'uid-1', 'keybrake/keybrake-operator\n1800000000000'));
    expect(moved.runSecret).toBeDefined();
    expect(moved.runSecret).not.toBe(first.runSecret);
    expect(first.runSecret).not.toBe(compileWith(TOKEN, 'uid-1').key.runSecret);
    // A namespace whose claim is not known: no run secret, so no run key of it passes (fail closed).
    expect(compileWith(TOKEN, 'uid-1', '', claim(undefined)).key.runSecret).toBeUndefined();
  });

  it('compiles a key again when only its claim changed (the cache keeps no secret of an earlier claim)', () => {
    const cache = createCompileCache();
    let epoch = 'keybrake/keybrake-operator\n1';
    const opts = { cache, runClaim: () => epoch };
    const { set } = compileWith(TOKEN, 'uid-1', '', opts);
    const again = compileSet(set, TOKEN, opts).key;
    expect(again).toBe(compileSet(set, TOKEN, opts).key);
    epoch = 'team/team-keybrake-operator\n2';
    expect(compileSet(set, TOKEN, opts).key.runSecret).toBe(runSecretFor(TOKEN, 'uid-1', epoch));
  });

  it('derives the run secret from the token and the uid, and indexes the key by its key id', () => {
    const { snapshot, key } = compileWith(TOKEN, 'uid-1');
    expect(key.runSecret).toBe(runSecretFor(TOKEN, 'uid-1'));
    expect(key.tokenPrefix).toBe('kb_stripe_');
    expect(runKeysOf(snapshot).get(runKeyId(tokenDigest(TOKEN)))).toBe(key);
  });

  it('changes the run secret when the token is re-minted (ADR 0009: old runs die with the old token)', () => {
    const fresh = 'kb_stripe_1BUs5pqkyKNT2bl3bYkz562TKID8XB1SM01oLbJ';
    expect(compileWith(fresh, 'uid-1').key?.runSecret).not.toBe(compileWith(TOKEN, 'uid-1').key.runSecret);
    expect(compileWith(TOKEN, 'uid-2').key.runSecret).not.toBe(compileWith(TOKEN, 'uid-1').key.runSecret);
  });

  it("carries the key's own token prefix for its run tokens", () => {
    const own = 'sk_test_kb_2S6mOJC0VhNCiOQVbZVU65tiRdxi4n5e22Wm8lh';
    expect(compileWith(own, 'uid-1', 'sk_test_kb_').key.tokenPrefix).toBe('sk_test_kb_');
  });

  // Eighth round (ADR 0007 §1): what the proxy records is searched for a brought token by its length.
  it("keeps a brought token's length, never the token, and none for a minted one", () => {
    const brought = 'foreign-agent-token-0123456789abcdefXYZ';
    const { key } = compileWith(brought, 'uid-1');
    expect(key.broughtTokenLength).toBe(brought.length);
    expect(JSON.stringify(key)).not.toContain(brought);
    expect(compileWith(TOKEN, 'uid-1').key.broughtTokenLength).toBeUndefined();
  });

  it('never puts the run secret or the token in a status', () => {
    const { key, statuses } = compileWith(TOKEN, 'uid-1');
    const text = JSON.stringify(statuses);
    expect(text).not.toContain(key.runSecret);
    expect(text).not.toContain(TOKEN);
  });
});
