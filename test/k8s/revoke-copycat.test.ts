// Sixteenth round (probe newuser16, finding 1, medium): a copied VaultKey manifest `copycat` (its own,
// wider policy) that kept the original's tokenSecretRef waited as TokenConflict; `kubectl delete
// vaultkey bot` then had the operator mint a fresh token into bot-token, the Secret bot's agent reads
// by name, make copycat its owner and serve it under copycat's policy: the revoked agent re-armed. Now a
// deleted key's token Secret is handed only to a key of the same name applied again, and a key that
// waited on it gets no token there even once the Secret is gone (the garbage collector's part; a bare
// control plane has none, so the test deletes it). Checked at the upstream: the token the Secret holds
// reaches no Stripe emulator through the proxy.
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { type K8sSystem, startK8sSystem, tenantKubectl, until } from '../env/k8s-system.ts';
import {
  allowedEverywhere,
  charge,
  firstDenials,
  probe,
  stripeUpstreamSecret,
  stripeVaultKey,
} from './fixtures.ts';

const cp = injectedControlPlane();
const SYSTEM_NS = 'copycat-system';
const TENANT = 'copycat-agents';
const REAL_KEY = 'sk_test_copycat_upstream_00000000000000';
const POLICIES = `
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: narrow }
spec:
  vendor: stripe
  limits: { perDayUsd: "200" }
  allow:
    endpoints: ["GET /v1/customers"]
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: wide-open }
spec:
  vendor: stripe
  limits: { perDayUsd: "100000" }
`;
/** The copy-paste mistake: copycat's own policy, bot's token Secret. */
const COPYCAT = stripeVaultKey('copycat', 'wide-open', {
  tokenSecretRef: { name: 'bot-token', key: 'token' },
});

let system: K8sSystem;
let stripe: StripeEmulator;
let pool: Pool;
const { kubectl, mintedToken } = tenantKubectl(cp, TENANT);

const ready = async (name: string) => {
  const out = await kubectl([
    'get',
    'vaultkey',
    name,
    '-o',
    'jsonpath={.status.conditions[?(@.type=="Ready")].reason}{"\\n"}{.status.conditions[?(@.type=="Ready")].message}',
  ]);
  const [reason = '', message = ''] = out.split('\n');
  return { reason, message };
};
/** Until `name`'s Ready reason is one of `reasons` (the one the fix writes, or the one the bug did). */
const settles = async (name: string, reasons: string[]) => {
  let last = { reason: '', message: '' };
  await until(
    async () => {
      last = await ready(name);
      return reasons.includes(last.reason);
    },
    30_000,
    `${name} to be ${reasons.join(' or ')}`,
  );
  return last;
};
const secretToken = async () => {
  const r = await cp.kubectl(['-n', TENANT, 'get', 'secret', 'bot-token', '-o', 'jsonpath={.data.token}']);
  return r.code === 0 ? Buffer.from(r.stdout, 'base64').toString('utf8') : undefined;
};
const secretOwner = () =>
  kubectl(['get', 'secret', 'bot-token', '-o', 'jsonpath={.metadata.ownerReferences[0].name}']);

/** The token in bot-token, if any, is refused by the proxy and nothing reaches the upstream. */
async function notServed(token: string) {
  stripe.reset();
  const answers = [await probe(pool, token), await charge(pool, token)];
  expect({ answers, forwarded: stripe.requests.length }).toEqual({
    answers: answers.map(() => expect.objectContaining({ decision: 'deny', reason: 'key_unknown' })),
    forwarded: 0,
  });
}

beforeAll(async () => {
  stripe = await startStripeEmulator({ validKeys: [REAL_KEY] });
  await cp.kubectl(['create', 'namespace', TENANT]);
  system = await startK8sSystem({
    cp,
    namespace: SYSTEM_NS,
    proxies: 1,
    upstreams: { stripe: stripe.url },
    operatorArgs: ['--status-interval', '300ms'],
  });
  await Promise.all(system.proxies.map((p) => p.waitReady()));
  pool = new Pool(system.proxies[0]!.vendorUrls['stripe']!, { connections: 1, pipelining: 1 });
  await kubectl(['apply', '-f', '-'], `${stripeUpstreamSecret(REAL_KEY)}---${POLICIES}`);
});

afterAll(async () => {
  await pool?.close();
  await system?.stop();
  await stripe?.close();
  await cp.kubectl(['delete', 'namespace', TENANT, SYSTEM_NS, '--wait=false', '--ignore-not-found']);
});

describe("a key that waited on a deleted key's token Secret never gets a token there (sixteenth round)", () => {
  it('copycat stays unserved when bot is deleted, bot applied again takes its Secret back, and the collected Secret is not re-created for copycat', async () => {
    await kubectl(['apply', '-f', '-'], stripeVaultKey('bot', 'narrow'));
    const first = await mintedToken('bot');
    await allowedEverywhere([pool], first, 30_000);
    await kubectl(['apply', '-f', '-'], COPYCAT);
    expect((await settles('copycat', ['TokenConflict', 'Active'])).reason).toBe('TokenConflict');

    // The revocation: bot's token ends, and its Secret (bot's agent reads it) is not handed to copycat.
    await kubectl(['delete', 'vaultkey', 'bot']);
    await firstDenials([pool], first, 'key_unknown', 30_000);
    const stale = await settles('copycat', ['TokenSecretStale', 'Active']);
    expect(stale.reason).toBe('TokenSecretStale');
    // Either refusal says whose Secret it was (a waiting key's message, or a stale Secret's).
    expect(stale.message).toMatch(
      /^Secret copycat-agents\/bot-token (was the token Secret of|belongs to) VaultKey copycat-agents\/bot/,
    );
    expect({ token: await secretToken(), owner: await secretOwner() }).toEqual({
      token: first,
      owner: 'bot',
    });
    await notServed(first);

    // The same manifest applied again (a GitOps sync) is what "owner is gone" is for: a fresh token.
    await kubectl(['apply', '-f', '-'], stripeVaultKey('bot', 'narrow'));
    let second = '';
    await until(
      async () => {
        second = (await secretToken()) ?? first;
        return second !== first;
      },
      30_000,
      'a fresh token for bot applied again',
    );
    await allowedEverywhere([pool], second, 30_000);
    await notServed(first);
    expect((await settles('copycat', ['TokenConflict', 'Active'])).reason).toBe('TokenConflict');

    // Deleted again, then its Secret collected (the garbage collector's part): nothing re-created.
    await kubectl(['delete', 'vaultkey', 'bot']);
    await firstDenials([pool], second, 'key_unknown', 30_000);
    expect((await settles('copycat', ['TokenSecretStale', 'Active'])).reason).toBe('TokenSecretStale');
    await kubectl(['delete', 'secret', 'bot-token']);
    const gone = await settles('copycat', ['TokenSecretMissing', 'Active']);
    expect(gone.reason).toBe('TokenSecretMissing');
    expect(gone.message).toContain(
      'was the token Secret of VaultKey copycat-agents/bot while this key named it',
    );
    expect(await secretToken()).toBeUndefined();
    await notServed(second);

    // The way out the message gives: a Secret of copycat's own.
    await kubectl([
      'patch',
      'vaultkey',
      'copycat',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { tokenSecretRef: { name: 'copycat-token', key: 'token' } } }),
    ]);
    await allowedEverywhere([pool], await mintedToken('copycat'), 30_000);
    expect(await secretToken()).toBeUndefined();
  });
});
