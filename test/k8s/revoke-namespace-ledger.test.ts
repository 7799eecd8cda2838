// A namespace's own revocation ledger (ConfigMap keybrake-revocations, tenth round) under the eleventh
// round's probe, counted AT THE UPSTREAM:
// - HIGH: a key deleted under release 1, its namespace deleted and created again (GitOps re-syncing
//   the same brought-token Secret), then moved to release 2 and release 1 uninstalled: release 2
//   read an empty ledger and forwarded the revoked token (3 requests in the probe). Release 1 now
//   writes its revocations back into a namespace's copy whenever it lacks them, every claim round.
// - MEDIUM: a tenant's lines naming ANOTHER namespace in its own copy were copied into that
//   namespace (300 KB a line, a whole ConfigMap each) until its ledger could not be read and its keys
//   were not served. Entries read from a namespace's copy are now taken for that namespace only.
// - MEDIUM: a tenant with create only made an empty immutable copy before the revocation: the
//   operator could never write it, logged a warning and served on. Such a copy now keeps the
//   namespace unserved, by every release.
import { createHash } from 'node:crypto';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { type K8sSystem, startK8sSystem, until } from '../env/k8s-system.ts';
import { probe, stripeUpstreamSecret, stripeVaultKey } from './fixtures.ts';

const cp = injectedControlPlane();
const FIRST_NS = 'nsl-first';
const SECOND_NS = 'nsl-second';
const MOVED = 'nsl-moved';
const LOCKED = 'nsl-locked';
const EVIL = 'nsl-evil';
const VICTIM = 'nsl-victim';
const REAL_KEY = 'sk_test_nsledger_upstream_000000000000000';
// Short timings: a claim left unrenewed passes on after 3 s + 2 s.
const ARGS = ['--lease-duration', '3s', '--renew-deadline', '2s', '--retry-period', '250ms'];
const OPERATOR_ARGS = [...ARGS, '--proxy-max-staleness', '2s'];
const PROXY_ARGS = ['--max-staleness', '2s'];

/** Tokens brought by the user, so manifests applied again carry them again. */
const TOKENS = {
  moved: 'user_provided_token_nsledger_moved_0123456789',
  locked: 'user_provided_token_nsledger_locked_012345678',
  lockedOther: 'user_provided_token_nsledger_locked_other_0123',
  evil: 'user_provided_token_nsledger_evil_0123456789',
  victim: 'user_provided_token_nsledger_victim_01234567',
};
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

const manifests = (name: string, token: string) => `${stripeUpstreamSecret(REAL_KEY)}---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: pol }
spec:
  vendor: stripe
  limits: { perDayUsd: "20" }
  allow:
    endpoints: ["POST /v1/charges", "GET /v1/**"]
---
apiVersion: v1
kind: Secret
metadata:
  name: ${name}-token
  labels: { keybrake.dev/secret: "true" }
stringData: { token: ${token} }
---${stripeVaultKey(name, 'pol')}`;

let stripe: StripeEmulator;
let first: K8sSystem | undefined;
let second: K8sSystem | undefined;
let firstPool: Pool;
let secondPool: Pool | undefined;

const k = async (args: string[], input?: string) => {
  const r = await cp.kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
const copyOf = async (namespace: string) =>
  (
    await cp.kubectl([
      '-n',
      namespace,
      'get',
      'configmap',
      'keybrake-revocations',
      '-o',
      'jsonpath={.data.revoked}',
    ])
  ).stdout;

/** What the namespace controller does (none runs here): every object deleted, then the namespace finalized. */
async function deleteNamespace(namespace: string): Promise<void> {
  await k(['delete', 'namespace', namespace, '--wait=false']);
  for (const kind of [
    'vaultkeys.keybrake.dev',
    'spendpolicies.keybrake.dev',
    'secrets',
    'configmaps',
    'leases',
  ])
    await cp.kubectl(['-n', namespace, 'delete', kind, '--all', '--wait=false']);
  await until(
    async () =>
      (await cp.kubectl(['-n', namespace, 'get', 'configmaps,secrets', '-o', 'name'])).stdout.trim() === '',
    20_000,
    `the objects of ${namespace} deleted`,
  );
  const raw = JSON.parse(await k(['get', 'namespace', namespace, '-o', 'json']));
  raw.spec.finalizers = [];
  await k(['replace', '--raw', `/api/v1/namespaces/${namespace}/finalize`, '-f', '-'], JSON.stringify(raw));
  await until(
    async () => (await cp.kubectl(['get', 'namespace', namespace])).code !== 0,
    30_000,
    'namespace gone',
  );
}

beforeAll(async () => {
  stripe = await startStripeEmulator({ validKeys: [REAL_KEY] });
  for (const ns of [MOVED, LOCKED, EVIL, VICTIM]) await k(['create', 'namespace', ns]);
  first = await startK8sSystem({
    cp,
    namespace: FIRST_NS,
    proxies: 1,
    upstreams: { stripe: stripe.url },
    operatorArgs: OPERATOR_ARGS,
    proxyArgs: PROXY_ARGS,
  });
  firstPool = new Pool(first.proxies[0]!.vendorUrls['stripe']!, { connections: 2 });
});

afterAll(async () => {
  await firstPool?.close();
  await secondPool?.close();
  await first?.stop();
  await second?.stop();
  await stripe?.close();
  await cp.kubectl([
    'delete',
    'namespace',
    MOVED,
    LOCKED,
    EVIL,
    VICTIM,
    FIRST_NS,
    SECOND_NS,
    '--wait=false',
    '--ignore-not-found',
  ]);
});

describe("a namespace's own revocation ledger (eleventh round)", () => {
  it("takes a tenant's lines naming another namespace for no namespace: the victim stays served", async () => {
    await k(['-n', VICTIM, 'apply', '-f', '-'], manifests('victim', TOKENS.victim));
    await until(
      async () => (await probe(firstPool, TOKENS.victim)).status === 200,
      30_000,
      'the victim served',
    );
    // The attacker's own copy: lines naming the victim's namespace (a name of 300 KB, and a fair
    // one), and one naming its own, which every release takes.
    const junk = `${sha256('junk-1')} 1 ${VICTIM}/${'a'.repeat(300_000)}\n${sha256('junk-2')} 1 ${VICTIM}/fair\n${sha256('own')} 1 ${EVIL}/own\n`;
    await k(
      ['-n', EVIL, 'create', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'keybrake-revocations' },
        data: { revoked: junk },
      }),
    );
    await k(['-n', EVIL, 'apply', '-f', '-'], manifests('evil', TOKENS.evil));
    // The claim of the attacker's namespace taken (its key served): its copy was read.
    await until(
      async () => (await probe(firstPool, TOKENS.evil)).status === 200,
      30_000,
      "the attacker's key served",
    );
    // What the copy held was recorded in one go, and stored in the release ledger in one write.
    const releaseLedger = async () =>
      (await cp.kubectl(['-n', FIRST_NS, 'get', 'configmaps', '-o', 'jsonpath={.items[*].data.revoked}']))
        .stdout;
    await until(
      async () => (await releaseLedger()).includes(sha256('own')),
      20_000,
      'the release ledger written',
    );
    const stored = await releaseLedger();
    expect(stored).not.toContain(sha256('junk-1'));
    expect(stored).not.toContain(sha256('junk-2'));
    const victimCopy = await cp.kubectl(['-n', VICTIM, 'get', 'configmaps', '-o', 'name']);
    expect(victimCopy.stdout).not.toContain('keybrake-revocations');
    expect((await probe(firstPool, TOKENS.victim)).status).toBe(200);
  });

  it('does not serve a namespace whose copy a tenant made immutable (create right only)', async () => {
    // A tenant with create only made an empty immutable copy before anything was revoked there.
    await k(
      ['-n', LOCKED, 'create', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'keybrake-revocations' },
        immutable: true,
        data: { revoked: '' },
      }),
    );
    stripe.reset();
    await k(['-n', LOCKED, 'apply', '-f', '-'], manifests('locked', TOKENS.locked));
    // Not served by release 1: its copy is not the operator's to trust (a Warning Event says so).
    const notServedEvents = async () =>
      (
        await cp.kubectl([
          '-n',
          LOCKED,
          'get',
          'events',
          '--field-selector',
          'reason=NotServed',
          '-o',
          'name',
        ])
      ).stdout;
    let lockedAnswer = await probe(firstPool, TOKENS.locked);
    await until(
      async () => {
        lockedAnswer = await probe(firstPool, TOKENS.locked);
        return lockedAnswer.status === 200 || (await notServedEvents()) !== '';
      },
      30_000,
      'release 1 to judge the locked namespace',
    );
    expect(lockedAnswer.reason).toBe('key_unknown');
    expect(stripe.requests.length, 'requests that reached the upstream with the locked key').toBe(0);
  });

  it('keeps a revoked token revoked after its namespace is deleted, created again and moved to another release', async () => {
    await k(['-n', MOVED, 'apply', '-f', '-'], manifests('moved', TOKENS.moved));
    await until(
      async () => (await probe(firstPool, TOKENS.moved)).status === 200,
      30_000,
      'served by release 1',
    );
    await k(['-n', MOVED, 'delete', 'vaultkey', 'moved']);
    await until(async () => (await copyOf(MOVED)).includes(sha256(TOKENS.moved)), 20_000, 'the copy written');

    await deleteNamespace(MOVED);
    await k(['create', 'namespace', MOVED]);
    // Release 1 writes its revocations into the namespace created again (with the fix; without it
    // the copy stays missing, and the count at the upstream below shows what that costs).
    await until(
      async () => (await copyOf(MOVED)).includes(sha256(TOKENS.moved)),
      20_000,
      'written back',
    ).catch(() => {});

    second = await startK8sSystem({
      cp,
      namespace: SECOND_NS,
      proxies: 1,
      upstreams: { stripe: stripe.url },
      operatorArgs: [...OPERATOR_ARGS, '--namespace', MOVED, '--namespace', LOCKED],
      proxyArgs: PROXY_ARGS,
    });
    await second.proxies[0]!.waitReady();
    secondPool = new Pool(second.proxies[0]!.vendorUrls['stripe']!, { connections: 2 });
    await first!.stop();
    first = undefined;

    // GitOps syncs the same manifests again.
    stripe.reset();
    await k(['-n', MOVED, 'apply', '-f', '-'], manifests('moved', TOKENS.moved));
    const holder = async (ns: string) =>
      (
        await cp.kubectl([
          '-n',
          ns,
          'get',
          'lease',
          'keybrake-claim',
          '-o',
          'jsonpath={.spec.holderIdentity}',
        ])
      ).stdout;
    const reason = async () =>
      (
        await cp.kubectl([
          '-n',
          MOVED,
          'get',
          'vaultkey',
          'moved',
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Ready")].reason}',
        ])
      ).stdout;
    const answers = new Set<string>();
    await until(
      async () => {
        const answer = await probe(secondPool!, TOKENS.moved);
        answers.add(answer.reason ?? answer.decision);
        return (await holder(MOVED)) === `${SECOND_NS}/keybrake-operator` &&
          (await reason()) === 'TokenRevoked'
          ? true
          : answer.status === 200;
      },
      60_000,
      'release 2 to take the namespace and judge the key',
    );
    for (let i = 0; i < 5; i++) {
      const answer = await probe(secondPool!, TOKENS.moved);
      answers.add(answer.reason ?? answer.decision);
    }
    // The locked namespace, held by release 2 now, is not served there either.
    await until(
      async () => (await holder(LOCKED)) === `${SECOND_NS}/keybrake-operator`,
      30_000,
      'locked claimed',
    );
    const locked = await probe(secondPool!, TOKENS.locked);

    expect(stripe.requests.length, 'requests that reached the upstream').toBe(0);
    expect([...answers]).toEqual(['key_unknown']);
    expect(await reason()).toBe('TokenRevoked');
    expect(locked.reason).toBe('key_unknown');
  });
});
