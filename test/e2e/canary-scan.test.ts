// The canary scan itself (test/env/canary.ts, run by test/env/canary-setup.ts after the whole e2e
// suite): the scanner finds a planted canary however it is written, never prints one, and the capture
// really covers a keybrake process: its audit lines, logs, metrics, spans and the answers its clients
// received all land in the run's directory.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import {
  ADMIN_RESPONSES,
  canaryForms,
  canaryRun,
  fingerprint,
  MIN_CANARY_LENGTH,
  manifestCanaries,
  OUTPUTS,
  readRegisteredCanaries,
  scanOutputs,
  VAULT_TOKEN_SHAPE,
} from '../env/canary.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { type ScriptedUpstream, startScriptedUpstream } from './fixtures/scripted-upstream.ts';
import { secret, stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('the scanner', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'keybrake-canary-test-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const plant = (name: string, text: string | Buffer) => {
    const file = path.join(dir, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
  };

  it.each([
    ['raw, in an audit line', (c: string) => `{"event":"keybrake.call","path":"/v1/x/${c}"}\n`, 'raw'],
    [
      'inside a Stripe Basic credential (`key:`)',
      (c: string) => `Authorization: Basic ${b64(`${c}:`)}`,
      'base64@0',
    ],
    [
      'as the password of a Twilio Basic credential',
      (c: string) => `auth=Basic ${b64(`AC123:${c}`)}`,
      'base64',
    ],
    ['after a two-character user name', (c: string) => b64(`ab:${c}`), 'base64'],
    [
      'base64url, in a token-like blob',
      (c: string) => Buffer.from(`{"k":"${c}"}`).toString('base64url'),
      'base64',
    ],
    [
      'in protobuf-ish bytes',
      (c: string) => Buffer.concat([Buffer.from([0x0a, 0x2a]), Buffer.from(c), Buffer.from([0])]),
      'raw',
    ],
  ])('finds a canary written %s, and names it only by fingerprint', (_how, write, form) => {
    const canary = `sk_test_${randomBytes(12).toString('hex')}`;
    const name = `case-${randomBytes(4).toString('hex')}/out.stderr`;
    plant(name, write(canary));
    const { findings } = scanOutputs(dir, [{ value: canary, source: 'a planted Secret' }]);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({
      file: name,
      fingerprint: fingerprint(canary),
      source: 'a planted Secret',
    });
    expect(findings[0]!.form).toContain(form);
    expect(JSON.stringify(findings)).not.toContain(canary);
    expect(fingerprint(canary)).not.toContain(canary.slice(8));
  });

  it('finds nothing in clean outputs, and each canary once per file', () => {
    const clean = mkdtempSync(path.join(tmpdir(), 'keybrake-canary-clean-'));
    try {
      const canary = newToken('twilio');
      writeFileSync(path.join(clean, 'a.stdout'), `${canary.slice(0, -1)} ${canary.slice(1)}\n`);
      expect(scanOutputs(clean, [{ value: canary, source: 'x' }]).findings).toEqual([]);
      writeFileSync(path.join(clean, 'b.stdout'), `${canary} ${canary} ${b64(`AC1:${canary}`)}`);
      expect(scanOutputs(clean, [{ value: canary, source: 'x' }]).findings).toHaveLength(1);
    } finally {
      rmSync(clean, { recursive: true, force: true });
    }
  });

  it('finds any vault-token-shaped text, registered or not, but not a fingerprint', () => {
    const shaped = mkdtempSync(path.join(tmpdir(), 'keybrake-canary-shape-'));
    try {
      const stray = newToken('resend');
      writeFileSync(path.join(shaped, 'x.stdout'), `{"tokenFingerprint":"kb_resend_…${stray.slice(-4)}"}\n`);
      expect(scanOutputs(shaped, [], [VAULT_TOKEN_SHAPE]).findings).toEqual([]);
      writeFileSync(path.join(shaped, 'y.stderr'), `{"msg":"x","header":"Bearer ${stray}"}\n`);
      const { findings } = scanOutputs(shaped, [], [VAULT_TOKEN_SHAPE]);
      expect(findings).toEqual([
        expect.objectContaining({ file: 'y.stderr', fingerprint: fingerprint(stray) }),
      ]);
      expect(JSON.stringify(findings)).not.toContain(stray);
    } finally {
      rmSync(shaped, { recursive: true, force: true });
    }
  });

  it('finds a run key by its shape, except in the admin listener’s answers (its run API mints them)', () => {
    const shaped = mkdtempSync(path.join(tmpdir(), 'keybrake-canary-run-'));
    try {
      const runKey = `kb_stripe_r1_${randomBytes(24).toString('base64url')}_${randomBytes(6).toString('base64url')}_${randomBytes(16).toString('base64url')}`;
      writeFileSync(path.join(shaped, `${ADMIN_RESPONSES}worker-1.bin`), `{"token":"${runKey}"}`);
      writeFileSync(path.join(shaped, 'serve.stdout'), `{"runId":"r1","debug":"${runKey}"}`);
      const { findings } = scanOutputs(shaped, [], [VAULT_TOKEN_SHAPE], (n) => n.startsWith(ADMIN_RESPONSES));
      expect(findings.map((f) => f.file)).toEqual(['serve.stdout']);
      expect(JSON.stringify(findings)).not.toContain(runKey);
    } finally {
      rmSync(shaped, { recursive: true, force: true });
    }
  });

  it('derives the base64 forms at all three alignments, none shorter than the canary allows', () => {
    const canary = 'sk_test_alignment0';
    const forms = canaryForms(canary);
    for (const user of ['', 'a', 'ab', 'abc', 'abcd']) {
      const text = Buffer.from(b64(`${user}${user ? ':' : ''}${canary}:x`));
      expect(
        forms.some((f) => f.form.startsWith('base64@') && text.includes(f.bytes)),
        user,
      ).toBe(true);
    }
    expect(forms.every((f) => f.bytes.length >= 8)).toBe(true);
  });
});

describe('canaries from manifests', () => {
  it('takes every Secret value, decoded, but identifiers and short values', () => {
    const token = newToken('stripe');
    const text = yamlDocuments(
      ...stripeKey({ name: 'm', token, upstreamKey: 'sk_test_manifest_key' }),
      secret('twilio-live', {
        accountSid: 'AC00000000000000000000000000000009',
        authToken: 'twilio-auth-secret',
      }),
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'encoded', namespace: 'agents' },
        data: { apiKey: b64('re_encoded_resend_key'), short: b64('tiny') },
      },
    );
    const values = manifestCanaries(text, 'keys.yaml').map((c) => c.value);
    expect(new Set(values)).toEqual(
      new Set([token, 'sk_test_manifest_key', 'twilio-auth-secret', 're_encoded_resend_key']),
    );
    expect(manifestCanaries(text, 'keys.yaml').every((c) => c.source.includes('keys.yaml'))).toBe(true);
    expect('tiny'.length).toBeLessThan(MIN_CANARY_LENGTH);
  });

  it('still takes token-shaped text from a file YAML cannot read', () => {
    const token = newToken('resend');
    const values = manifestCanaries(`kind: Secret\nstringData:\n  token: "${token}\n`, 'bad.yaml');
    expect(values.map((c) => c.value)).toContain(token);
  });
});

// The plumbing, on a real process: what test/env/keybrake.ts captures for the scan.
describe('the capture of one keybrake serve', () => {
  let run: Awaited<ReturnType<typeof canaryRun>>;
  const UPSTREAM_KEY = `sk_test_canary${randomBytes(12).toString('hex')}`;
  const TOKEN = newToken('stripe');
  let upstream: ScriptedUpstream;
  let dir: Awaited<ReturnType<typeof manifestDir>>;
  let kb: KeybrakeProcess;
  let before: Set<string>;
  const traceId = randomBytes(16).toString('hex');

  beforeAll(async () => {
    run = await canaryRun();
    before = new Set(readdirSync(path.join(run!.dir, OUTPUTS)));
    upstream = await startScriptedUpstream();
    dir = await manifestDir({
      'keys.yaml': yamlDocuments(...stripeKey({ name: 'canary', token: TOKEN, upstreamKey: UPSTREAM_KEY })),
    });
    kb = await startKeybrake(serveArgs(dir.dir, { stripe: upstream.url }));
  });
  afterAll(async () => {
    await kb?.stop();
    await upstream?.close();
    await dir?.remove();
  });

  it('runs inside the e2e project’s canary run', () => {
    expect(run).toBeDefined();
  });

  it('captures audit, logs, metrics, spans and answers, and registers the token and the key', async () => {
    const allowed = await fetch(`${kb.urls.stripe}/v1/customers/cus_canary1`, {
      headers: {
        authorization: `Bearer ${TOKEN}`,
        traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
      },
    });
    expect(allowed.status).toBe(200);
    await allowed.text();
    const denied = await fetch(`${kb.urls.stripe}/v1/customers/cus_canary1`, {
      headers: { authorization: `Bearer ${newToken('stripe')}` },
    });
    expect(await denied.json()).toMatchObject({ error: { code: 'key_unknown' } });
    await kb.waitForAudit((r) => r.traceId === traceId);
    await kb.stop();

    const outputs = path.join(run!.dir, OUTPUTS);
    const mine = readdirSync(outputs).filter((n) => n.startsWith('canary-scan.test.ts-serve-'));
    const read = (suffix: string) =>
      mine
        .filter((n) => n.endsWith(suffix))
        .map((n) => readFileSync(path.join(outputs, n), 'utf8'))
        .join('');
    expect(read('.stdout')).toContain(traceId);
    expect(read('.stderr')).toContain('"msg":"listening"');
    expect(read('.metrics')).toContain(
      'keybrake_calls_total{vendor="stripe",decision="deny",reason="key_unknown"}',
    );
    const fresh = readdirSync(outputs).filter((n) => !before.has(n));
    const spans = fresh
      .filter((n) => n.startsWith('otlp-'))
      .map((n) => readFileSync(path.join(outputs, n), 'utf8'))
      .join('');
    expect(spans).toContain(traceId);
    const answers = readdirSync(outputs)
      .filter((n) => n.startsWith(`responses-worker-${process.pid}`))
      .map((n) => readFileSync(path.join(outputs, n), 'latin1'))
      .join('');
    expect(answers).toContain('keybrake-decision: deny; reason=key_unknown');
    expect(answers).toContain('"code":"key_unknown"');

    const registered = new Set(readRegisteredCanaries(run!.dir).map((c) => c.value));
    expect(registered.has(TOKEN)).toBe(true);
    expect(registered.has(UPSTREAM_KEY)).toBe(true);
  });
});
