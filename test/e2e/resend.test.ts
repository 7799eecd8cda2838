// resend-node 6.38.0, unmodified, against the real `keybrake serve` CLI and the Resend emulator: every
// way a user points it at Keybrake (baseUrl with and without a trailing slash, RESEND_BASE_URL at the
// vendor port), the real key swapped in upstream, denials returned as Resend `error` objects with
// Resend's names and our messages, per-delivery pricing (cc, bcc, batches) held to the cap, and
// broadcasts priced by their segment's contacts, with the segment held while a send is in flight.
import { Resend } from 'resend';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESEND_EMULATOR_KEY, type ResendEmulator, startResendEmulator } from '../../src/emulators/resend.ts';
import { formatUsd } from '../../src/money/micro-usd.ts';
import { newToken } from '../../src/tokens/token.ts';
import { DEFAULT_RESEND_PRICES } from '../../src/vendors/resend/index.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';

const PER_EMAIL = DEFAULT_RESEND_PRICES.perEmail;
/** Deliveries the capped key may make in a day: the cap is exactly this many at the table price. */
const CAPPED_DELIVERIES = 6;
const DAILY_CAP_MICROS = CAPPED_DELIVERIES * PER_EMAIL;
const FROM = 'Support Bot <bot@acme.test>';

const tokens = { mailer: newToken('resend'), capped: newToken('resend'), broadcaster: newToken('resend') };
/** The broadcaster's daily cap: ten emails at the table price. */
const BROADCAST_CAP_MICROS = 10 * PER_EMAIL;

function manifests(): string {
  const key = (name: string, policy: string, token: string) => `
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: ${name}, namespace: agents }
spec:
  vendor: resend
  policyRef: { name: ${policy} }
  upstreamSecretRef: { name: resend-live, key: apiKey }
  tokenSecretRef: { name: ${name}-token, key: token }
---
apiVersion: v1
kind: Secret
metadata: { name: ${name}-token, namespace: agents }
stringData: { token: ${token} }
`;
  return `
apiVersion: v1
kind: Secret
metadata: { name: resend-live, namespace: agents }
stringData: { apiKey: ${RESEND_EMULATOR_KEY} }
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: mailer, namespace: agents }
spec:
  vendor: resend
  allow:
    recipients: ["*@example.com"]
    senders: ["*@acme.test"]
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: capped-mailer, namespace: agents }
spec:
  vendor: resend
  limits: { perDayUsd: "${formatUsd(DAILY_CAP_MICROS)}" }
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: broadcaster, namespace: agents }
spec:
  vendor: resend
  limits: { perDayUsd: "${formatUsd(BROADCAST_CAP_MICROS)}" }
  allow:
    senders: ["*@acme.test"]
---
${key('broadcaster-resend', 'broadcaster', tokens.broadcaster)}
---
${key('mailer-resend', 'mailer', tokens.mailer)}
---
${key('capped-mailer-resend', 'capped-mailer', tokens.capped)}
`;
}

let emulator: ResendEmulator;
let kb: KeybrakeProcess;
let dir: Awaited<ReturnType<typeof manifestDir>>;

/** The audit record of an allowed call, found by the request id the emulator answered with. */
function auditOf(headers: Record<string, string> | null) {
  expect(headers?.['keybrake-decision']).toBe('allow; reason=ok');
  const id = headers?.['x-request-id'];
  expect(id).toBeTruthy();
  return kb.waitForAudit((r) => r['upstreamRequestId'] === id);
}

/** The audit record of a denial made after `mark` records had arrived (audit lines arrive asynchronously). */
function denialAfter(mark: number, reason: string) {
  return kb.waitForAudit((r) => kb.audit.indexOf(r) >= mark && r['reason'] === reason);
}

function viaPrefix(token: string, slash = '') {
  return new Resend(token, { baseUrl: `${kb.urls['main']}/resend${slash}` });
}

/** resend-node reads RESEND_BASE_URL when a client is constructed, as resend-mcp relies on. */
function viaEnv(token: string, baseUrl: string): Resend {
  const saved = process.env['RESEND_BASE_URL'];
  process.env['RESEND_BASE_URL'] = baseUrl;
  try {
    return new Resend(token);
  } finally {
    if (saved === undefined) delete process.env['RESEND_BASE_URL'];
    else process.env['RESEND_BASE_URL'] = saved;
  }
}

beforeAll(async () => {
  emulator = await startResendEmulator();
  dir = await manifestDir({ 'resend.yaml': manifests() });
  kb = await startKeybrake(serveArgs(dir.dir, { resend: emulator.url }));
});

afterAll(async () => {
  await kb?.stop();
  await emulator?.close();
  await dir?.remove();
});

describe('resend-node through Keybrake', () => {
  it.each<[string, () => Resend]>([
    ['baseUrl with the /resend prefix', () => viaPrefix(tokens.mailer)],
    ['baseUrl with a trailing slash (…/resend//emails)', () => viaPrefix(tokens.mailer, '/')],
    ['RESEND_BASE_URL at the Resend vendor port', () => viaEnv(tokens.mailer, kb.urls['resend']!)],
    [
      'RESEND_BASE_URL at the vendor port with a trailing slash',
      () => viaEnv(tokens.mailer, `${kb.urls['resend']}/`),
    ],
  ])('delivers an allowed email with the real key, reached through %s', async (_name, client) => {
    const before = emulator.requests.length;

    const { data, error, headers } = await client().emails.send({
      from: FROM,
      to: 'Ann <ANN@EXAMPLE.COM>',
      subject: 'Your order',
      text: 'It has shipped.',
    });

    expect(error).toBeNull();
    expect(data?.id).toMatch(/^[0-9a-f-]{36}$/);
    const arrived = emulator.requests.slice(before);
    expect(arrived).toHaveLength(1);
    expect(arrived[0]).toMatchObject({ method: 'POST', path: '/emails' });
    expect(arrived[0]!.headers.authorization).toBe(`Bearer ${RESEND_EMULATOR_KEY}`);
    expect(JSON.parse(arrived[0]!.body)).toMatchObject({
      to: 'Ann <ANN@EXAMPLE.COM>',
      subject: 'Your order',
    });
    expect(JSON.stringify(emulator.requests)).not.toContain(tokens.mailer);
    expect(await auditOf(headers)).toMatchObject({
      vaultKey: 'agents/mailer-resend',
      vendor: 'resend',
      path: '/emails',
      operation: 'resend.emails.send',
      decision: 'allow',
      costUsd: formatUsd(PER_EMAIL),
      upstreamStatus: 200,
    });
  });

  it.each<[string, string, Parameters<Resend['emails']['send']>[0], string, number, string, string]>([
    [
      'a recipient at another domain, beside an allowed one',
      tokens.mailer,
      { from: FROM, to: ['ann@example.com', 'bob@other.test'], subject: 's', text: 't' },
      'recipient_not_allowed',
      403,
      'restricted_api_key',
      "Recipient bob@other.test is not in this key's recipient allowlist.",
    ],
    [
      'a bcc outside the allowlist',
      tokens.mailer,
      { from: FROM, to: 'ann@example.com', bcc: 'Eve <eve@evil.test>', subject: 's', text: 't' },
      'recipient_not_allowed',
      403,
      'restricted_api_key',
      "Recipient eve@evil.test is not in this key's recipient allowlist.",
    ],
    [
      'a sender outside the allowlist',
      tokens.mailer,
      { from: 'Mallory <Mallory@Evil.test>', to: 'ann@example.com', subject: 's', text: 't' },
      'sender_not_allowed',
      403,
      'invalid_from_address',
      "Sender mallory@evil.test is not in this key's sender allowlist.",
    ],
    [
      'a vault token the proxy does not know',
      newToken('resend'),
      { from: FROM, to: 'ann@example.com', subject: 's', text: 't' },
      'key_unknown',
      401,
      'invalid_api_key',
      'Unknown or malformed Keybrake vault key.',
    ],
  ])(
    'returns an error for %s and never reaches Resend',
    async (_name, token, email, reason, status, name, message) => {
      const before = emulator.requests.length;
      const mark = kb.audit.length;

      const { data, error, headers } = await viaPrefix(token).emails.send(email);

      expect(data).toBeNull();
      expect(error).toEqual({ statusCode: status, name, message });
      expect(headers?.['keybrake-decision']).toBe(`deny; reason=${reason}`);
      expect(await denialAfter(mark, reason)).toMatchObject({
        decision: 'deny',
        costUsd: '0.00',
        upstreamStatus: null,
      });
      expect(emulator.requests.length).toBe(before);
    },
  );

  it(`admits exactly ${CAPPED_DELIVERIES} deliveries (to, cc, bcc and batch elements each count) under a cap of ${CAPPED_DELIVERIES} × the table price`, async () => {
    const resend = viaPrefix(tokens.capped);
    const before = emulator.requests.length;

    const single = await resend.emails.send({
      from: FROM,
      to: 'a@example.com',
      cc: 'b@example.com',
      bcc: ['c@example.com'],
      subject: 'three deliveries',
      text: 't',
    });
    expect(single.error).toBeNull();
    expect(await auditOf(single.headers)).toMatchObject({ costUsd: formatUsd(3 * PER_EMAIL) });

    const batch = await resend.batch.send([
      { from: FROM, to: 'd@example.com', subject: 'one', text: 't' },
      { from: FROM, to: ['e@example.com', 'f@example.com'], subject: 'two', text: 't' },
    ]);
    expect(batch.error).toBeNull();
    expect(batch.data?.data).toHaveLength(2);
    expect(await auditOf(batch.headers)).toMatchObject({
      operation: 'resend.emails.batch',
      costUsd: formatUsd(3 * PER_EMAIL),
    });
    expect(emulator.requests.length - before).toBe(2);

    const cap = formatUsd(DAILY_CAP_MICROS);
    const overBatch = await resend.batch.send([
      { from: FROM, to: 'g@example.com', subject: 'one', text: 't' },
      { from: FROM, to: 'h@example.com', cc: 'i@example.com', subject: 'two', text: 't' },
    ]);
    expect(overBatch.error).toEqual({
      statusCode: 403,
      name: 'daily_quota_exceeded',
      message: `Keybrake: daily spend cap of $${cap} would be exceeded ($${cap} used, this call $${formatUsd(3 * PER_EMAIL)}).`,
    });
    const overSingle = await resend.emails.send({ from: FROM, to: 'j@example.com', subject: 's', text: 't' });
    expect(overSingle.error).toMatchObject({
      name: 'daily_quota_exceeded',
      message: expect.stringContaining(`this call $${formatUsd(PER_EMAIL)}`),
    });
    expect(emulator.requests.length - before).toBe(2);
  });

  describe('broadcasts', () => {
    const addresses = (n: number, tag: string) =>
      Array.from({ length: n }, (_, i) => `${tag}${i}@example.com`);
    const draft = (resend: Resend, segmentId: string) =>
      resend.broadcasts.create({ name: 'News', segmentId, from: FROM, subject: 'News', html: '<p>News</p>' });

    it('prices a send by the contacts of its segment, as many as Resend delivers to', async () => {
      const resend = viaPrefix(tokens.broadcaster);
      const segment = emulator.seedSegment('Customers', addresses(4, 'news'));
      const created = await draft(resend, segment);
      expect(created.error).toBeNull();
      expect(await auditOf(created.headers)).toMatchObject({
        operation: 'resend.broadcasts.create',
        costUsd: '0.00',
      });
      const before = emulator.requests.length;

      const sent = await resend.broadcasts.send(created.data!.id);

      expect(sent.error).toBeNull();
      expect(await auditOf(sent.headers)).toMatchObject({
        operation: 'resend.broadcasts.send',
        costUsd: formatUsd(4 * PER_EMAIL),
      });
      // The price was read with the real key: the broadcast, then its segment's contacts.
      const reads = emulator.requests.slice(before);
      expect(reads.map((r) => `${r.method} ${r.path}`)).toEqual([
        `GET /broadcasts/${created.data!.id}`,
        `GET /segments/${segment}/contacts?limit=100`,
        `POST /broadcasts/${created.data!.id}/send`,
      ]);
      for (const r of reads) expect(r.headers.authorization).toBe(`Bearer ${RESEND_EMULATOR_KEY}`);
      expect(emulator.deliveries.at(-1)).toEqual({
        broadcastId: created.data!.id,
        segmentId: segment,
        contacts: addresses(4, 'news'),
      });
    });

    it('prices a broadcast sent at creation (send: true) the same way', async () => {
      const resend = viaPrefix(tokens.broadcaster);
      const segment = emulator.seedSegment('Weekly', addresses(2, 'weekly'));

      const created = await resend.broadcasts.create({
        name: 'Weekly',
        segmentId: segment,
        from: FROM,
        subject: 'Weekly',
        html: '<p>Weekly</p>',
        send: true,
      });

      expect(created.error).toBeNull();
      expect(await auditOf(created.headers)).toMatchObject({
        operation: 'resend.broadcasts.create',
        costUsd: formatUsd(2 * PER_EMAIL),
      });
      expect(emulator.deliveries.at(-1)).toMatchObject({
        segmentId: segment,
        contacts: addresses(2, 'weekly'),
      });
    });

    it('denies a send whose segment would take the day over its cap, before Resend sends anything', async () => {
      const resend = viaPrefix(tokens.broadcaster);
      const segment = emulator.seedSegment('Everyone', addresses(12, 'all'));
      const created = await draft(resend, segment);
      const delivered = emulator.deliveries.length;

      const sent = await resend.broadcasts.send(created.data!.id);

      expect(sent.error).toEqual({
        statusCode: 403,
        name: 'daily_quota_exceeded',
        // The segment's size is what Keybrake read from Resend: not quoted (tenth round).
        message: `Keybrake: daily spend cap of $${formatUsd(BROADCAST_CAP_MICROS)} would be exceeded ($${formatUsd(6 * PER_EMAIL)} used, this call's amount, which Keybrake read from the object it acts on).`,
      });
      expect(emulator.deliveries).toHaveLength(delivered);
    });

    // Found by a security tester: a stored `from` Keybrake could not read counted as no sender, which
    // the sender allowlist passed, and Resend sent from it.
    it.each([
      ['a quoted word in a plain display name', 'Ann "The CEO" Smith <ceo@bank.example>'],
      ['a comment', 'ceo@bank.example (CEO)'],
      ['a quoted local part', '"ceo"@bank.example'],
      ['no from at all', null],
    ])('denies a send whose stored from it cannot read (%s), before Resend sends it', async (_name, from) => {
      const resend = viaPrefix(tokens.broadcaster);
      const segment = emulator.seedSegment('Stored', addresses(1, 'stored'));
      const id = emulator.seed('/broadcasts', { name: 'Stored', segment_id: segment, from, status: 'draft' });
      const mark = kb.audit.length;

      const sent = await resend.broadcasts.send(id);

      expect(sent.error).toMatchObject({ statusCode: 403, name: 'invalid_from_address' });
      expect(await denialAfter(mark, 'sender_not_allowed')).toMatchObject({
        operation: 'resend.broadcasts.send',
      });
      expect(emulator.requests.filter((r) => r.path === `/broadcasts/${id}/send`)).toHaveLength(0);
      expect(emulator.deliveries.filter((d) => d.broadcastId === id)).toHaveLength(0);
    });

    it('denies a segment larger than it counts (1000 contacts) as price_unknown rather than guess', async () => {
      const resend = viaPrefix(tokens.broadcaster);
      const segment = emulator.seedSegment('Huge', addresses(1001, 'huge'));
      const created = await draft(resend, segment);
      const mark = kb.audit.length;

      const sent = await resend.broadcasts.send(created.data!.id);

      expect(sent.error).toMatchObject({ statusCode: 403, name: 'restricted_api_key' });
      expect(sent.error?.message).toContain('at most 1000');
      expect(await denialAfter(mark, 'price_unknown')).toMatchObject({ operation: 'resend.broadcasts.send' });
      expect(
        emulator.requests.filter((r) => r.path.startsWith(`/segments/${segment}/contacts`)),
      ).toHaveLength(10);
    });

    it('holds the segment while a send is in flight: a contact added to it meanwhile waits (409), others do not', async () => {
      const resend = viaPrefix(tokens.broadcaster);
      const segment = emulator.seedSegment('Launch', addresses(1, 'launch'));
      const other = emulator.seedSegment('Other', []);
      const created = await draft(resend, segment);
      const held = emulator.hold('POST', `/broadcasts/${created.data!.id}/send`);

      const sending = resend.broadcasts.send(created.data!.id);
      await held.arrived;
      const joining = await resend.contacts.create({
        email: 'late@example.com',
        segments: [{ id: segment }],
      });
      const elsewhere = await resend.contacts.create({
        email: 'late@example.com',
        segments: [{ id: other }],
      });
      const legacy = await resend.contacts.create({ email: 'late2@example.com', audienceId: segment });
      held.release();
      const sent = await sending;
      const after = await resend.contacts.create({ email: 'late@example.com', segments: [{ id: segment }] });

      expect(joining.error).toMatchObject({ statusCode: 409, name: 'rate_limit_exceeded' });
      expect(joining.error?.message).toContain('in flight');
      expect(legacy.error).toMatchObject({ statusCode: 409 });
      expect(elsewhere.error).toBeNull();
      expect(sent.error).toBeNull();
      expect(await auditOf(sent.headers)).toMatchObject({ costUsd: formatUsd(PER_EMAIL) });
      expect(emulator.deliveries.at(-1)?.contacts).toEqual(addresses(1, 'launch'));
      expect(after.error).toBeNull();
    });

    it('makes a scheduled send name its operation exactly: the segment may grow before it goes', async () => {
      const resend = viaPrefix(tokens.broadcaster);
      const created = await draft(resend, emulator.seedSegment('Later', addresses(1, 'later')));
      const mark = kb.audit.length;

      const sent = await resend.broadcasts.send(created.data!.id, { scheduledAt: 'in 1 hour' });

      expect(sent.error).toMatchObject({ statusCode: 403, name: 'restricted_api_key' });
      expect(sent.error?.message).toContain('name it exactly in allow.endpoints');
      expect(await denialAfter(mark, 'price_unknown')).toMatchObject({ operation: 'resend.broadcasts.send' });
    });
  });

  it('never writes a vault token or the real key to its logs or audit records', () => {
    const output = kb.output();
    for (const token of Object.values(tokens)) expect(output).not.toContain(token);
    expect(output).not.toContain(RESEND_EMULATOR_KEY);
  });
});
