// The hostile-request corpus (ADR 0007, "the agent is the adversary"): every case in test/hostile/*.yaml
// is sent as raw bytes to the real `keybrake serve` and must get the answer the contract names, in the
// vendor's shape, audited, and, the guarantee that matters most, must reach the vendor only when the
// case says so: three recording upstreams (test/hostile/upstream.ts) see every byte Keybrake sends.
//
// Two serve instances share the upstreams: `core` with the manifests today's schema accepts, and
// `trust` with the ADR 0007 fields (requireRunId, allow.twimlHosts, {name} templates) and flag
// (--max-response-body). Until ADR 0007 lands the trust instance cannot start; only its cases fail.
//
// HOSTILE_SUMMARY=<file> writes every case's expected and actual outcome there as JSON.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KeybrakeProcess, serveArgs, startKeybrake } from '../env/keybrake.ts';
import {
  buildRequest,
  type ExpandContext,
  expand,
  type HostileCase,
  loadCases,
  requestLine,
  tokenOf,
  upstreamPathOf,
} from './cases.ts';
import { CORE_DIR, type Instance, loadFixtures, TRUST_DIR } from './fixtures.ts';
import { type RawAnswer, sendRaw } from './raw-http.ts';
import { type Recorded, type RecordingUpstream, startRecordingUpstream, type Vendor } from './upstream.ts';

/** `--max-body` of both instances: small, so a 413 needs only a modest body. */
const MAX_BODY = 65_536;
/** ADR 0007 `--max-response-body` of the trust instance, and the size of the upstream's huge answers. */
const MAX_RESPONSE_BODY = 1_048_576;
const HUGE_RESPONSE = 4 * MAX_RESPONSE_BODY;
/**
 * Keybrake's own price lookups: Stripe GETs of the object a call's amount lives on (a customer: its
 * balance; a quote: its totals), or of the customer a free call's object belongs to (a subscription
 * item, a schedule, an intent, a payment method, a credit note, a source, a Checkout Session: tenth
 * round; a dispute, a refund and a review, then their charge or intent, a credit grant, a promotion
 * code, a Treasury outbound payment: eleventh round; a Financial Connections account by either path, an
 * Identity verification session, a billing alert: twelfth round; a transfer, and a shipping rate
 * with its currency options expanded: twelfth round, stripe-side-effects.yaml; a customer's pending
 * invoice items a new invoice takes in: twelfth round, stripe-credits.yaml).
 */
const LOOKUP =
  /^\/v1\/(?:(?:payment_intents|setup_intents|charges|invoices|customers|quotes|invoiceitems|subscriptions|subscription_items|subscription_schedules|payment_methods|credit_notes|sources|checkout\/sessions|climate\/products|issuing\/authorizations|disputes|refunds|reviews|billing\/credit_grants|promotion_codes|treasury\/outbound_payments|transfers|financial_connections\/accounts|linked_accounts|identity\/verification_sessions|billing\/alerts)\/[^/?]+|prices\/[^/?]+\?expand%5B%5D=currency_options|shipping_rates\/[^/?]+\?expand%5B%5D=fixed_amount\.currency_options|invoiceitems\?customer(?:_account)?=[^/?&]+&pending=true&limit=100)$/;
/**
 * Stripe's invoice preview, which creates nothing: Keybrake's own lookup of what a subscription or
 * schedule charges (tenth round, stripe-schedules.yaml), unless the case itself calls it.
 */
const PREVIEW = '/v1/invoices/create_preview';
/** The account a Stripe key belongs to: Keybrake's own read, once per key, for its leases (fourteenth round). */
const ACCOUNT_READ = '/v1/account';
/**
 * Twilio's: the participants a Conversations message is delivered to, and the live call whose
 * TimeLimit an update changes (the recording upstream sees the sub host as the first segment).
 */
const TWILIO_LOOKUP =
  /^\/(?:conversations\/v1\/(?:Services\/[^/?]+\/)?Conversations\/[^/?]+\/Participants\?PageSize=100|api\/2010-04-01\/Accounts\/[^/?]+\/Calls\/[^/?]+\.json|api\/2010-04-01\/Accounts\/[^/?]+\/IncomingPhoneNumbers\.json\?PhoneNumber=[^&]+&PageSize=1)$/;
/** How long a call's audit record may lag behind its response on stdout. */
const AUDIT_WAIT_MS = 3_000;
const VENDORS: readonly Vendor[] = ['stripe', 'twilio', 'resend'];
/** Keeps a developer's own KEYBRAKE_* settings from changing what the instances do. */
const CLEAN_ENV = {
  KEYBRAKE_MANIFESTS: '',
  KEYBRAKE_LISTEN: '',
  KEYBRAKE_VENDOR_PORT: '',
  KEYBRAKE_ADMIN_LISTEN: '',
  KEYBRAKE_UPSTREAM: '',
  KEYBRAKE_MAX_BODY: '',
};

const fixtures = loadFixtures();
const cases = loadCases();
const recorded: Recorded[] = [];
const upstreams: RecordingUpstream[] = [];
const instances: Partial<Record<Instance, KeybrakeProcess>> = {};
const startErrors: Partial<Record<Instance, Error>> = {};
const summary: Record<string, unknown>[] = [];

function instanceOf(c: HostileCase): Instance {
  if (c.serve) return c.serve;
  return fixtures.keys.get(c.key)?.instance ?? 'core';
}

function titleOf(c: HostileCase): string {
  return `${c.file.replace(/\.yaml$/, '')} #${c.index} [${c.vendor}, class ${c.class}] ${c.name}`;
}

beforeAll(async () => {
  for (const vendor of VENDORS) {
    upstreams.push(
      await startRecordingUpstream(
        vendor,
        { credential: fixtures.upstreamCredential[vendor], hugeBytes: HUGE_RESPONSE },
        recorded,
      ),
    );
  }
  const url = (v: Vendor) => upstreams.find((u) => u.vendor === v)!.url;
  const common = [
    ...serveArgs(CORE_DIR, {
      stripe: url('stripe'),
      twilio: `${url('twilio')}/{sub}`,
      resend: url('resend'),
    }),
    '--max-body',
    String(MAX_BODY),
    '--upstream-timeout',
    '10000',
    // Each case stands alone, while many share a key and an object: a case refused after its lookup
    // would hold its key off that object for the next (ADR 0007 §5, lease duty; test/e2e/lease-duty).
    '--lease-backoff',
    '0',
  ];
  const [core, trust] = await Promise.allSettled([
    startKeybrake(common, { env: CLEAN_ENV }),
    startKeybrake([...common, '--manifests', TRUST_DIR, '--max-response-body', String(MAX_RESPONSE_BODY)], {
      env: CLEAN_ENV,
    }),
  ]);
  if (core.status === 'rejected') throw core.reason;
  instances.core = core.value;
  if (trust.status === 'fulfilled') instances.trust = trust.value;
  else startErrors.trust = trust.reason as Error;
}, 120_000);

afterAll(async () => {
  await Promise.all(Object.values(instances).map((k) => k.stop()));
  await Promise.all(upstreams.map((u) => u.close()));
  if (process.env['HOSTILE_SUMMARY'])
    writeFileSync(process.env['HOSTILE_SUMMARY'], JSON.stringify(summary, null, 1));
});

/** The vendor's error envelope, with the reason where the vendor's format has room for it. */
function expectVendorShape(vendor: Vendor, res: RawAnswer, reason: string): void {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(res.body.toString('utf8'));
  } catch {
    throw new Error(`denial body is not JSON: ${JSON.stringify(res.body.toString('utf8').slice(0, 200))}`);
  }
  expect(res.headers['content-type'] ?? '').toMatch(/^application\/json/);
  if (vendor === 'stripe') {
    expect(body).toEqual({
      error: expect.objectContaining({
        type: expect.any(String),
        code: reason,
        message: expect.stringMatching(/\S/),
      }),
    });
  } else if (vendor === 'twilio') {
    expect(body).toEqual(
      expect.objectContaining({
        code: expect.any(Number),
        message: expect.stringMatching(/\S/),
        more_info: expect.any(String),
        status: res.status,
      }),
    );
  } else {
    expect(body).toEqual(
      expect.objectContaining({
        statusCode: res.status,
        name: expect.any(String),
        message: expect.stringMatching(/\S/),
      }),
    );
  }
}

/** Audit records already attributed to a case, per instance. */
const consumed: Record<Instance, number> = { core: 0, trust: 0 };

/**
 * The audit record of the call just answered. Cases run one at a time and every call writes at most
 * one record, in order, so it is the first record not yet attributed; it is awaited whatever the
 * case's outcome, so that a late record is never taken for the next case's. Undefined when none
 * arrives (a call Keybrake did not audit).
 */
async function nextAudit(which: Instance, kb: KeybrakeProcess): Promise<Record<string, unknown> | undefined> {
  const from = consumed[which];
  try {
    const r = await kb.waitForAudit((rec) => kb.audit.indexOf(rec) >= from, AUDIT_WAIT_MS);
    consumed[which] = kb.audit.indexOf(r) + 1;
    return r;
  } catch {
    return undefined;
  }
}

function headerValues(r: Recorded, name: string): string[] {
  return r.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
}

function leaksIn(text: string, secrets: readonly string[]): string[] {
  return secrets.filter((s) => text.includes(s)).map((s) => `${s.slice(0, 12)}…`);
}

describe('hostile corpus', () => {
  it('has at least 150 cases, every class on every vendor it applies to', () => {
    expect(cases.length).toBeGreaterThanOrEqual(150);
    for (const cls of [1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12]) {
      expect(cases.filter((c) => c.class === cls).length, `class ${cls}`).toBeGreaterThanOrEqual(3);
    }
    for (const vendor of VENDORS) expect(cases.some((c) => c.vendor === vendor)).toBe(true);
  });

  it.each(cases.map((c) => [titleOf(c), c] as const))('%s', async (_title, c) => {
    const which = instanceOf(c);
    const kb = instances[which];
    if (!kb) {
      summary.push({
        title: titleOf(c),
        file: c.file,
        vendor: c.vendor,
        class: c.class,
        expected: c.expect,
        actual: `the ${which} instance did not start`,
      });
      throw new Error(
        `the ${which} keybrake serve instance did not start (ADR 0007 manifests/flags): ${startErrors[which]?.message.slice(0, 600)}`,
      );
    }
    const base = c.via === 'router' ? kb.urls['main']! : kb.urls[c.vendor]!;
    const ctx: ExpandContext = { fixtures, token: tokenOf(c, fixtures), host: new URL(base).host };
    const marker = `${c.file}#${c.index}`;
    const line = requestLine(c, ctx);
    const upstreamPath = upstreamPathOf(c, line.target, ctx);

    const mark = recorded.length;
    const res = await sendRaw(base, buildRequest(c, ctx, marker));
    const during = recorded.slice(mark);
    const record = await nextAudit(which, kb);
    const isLookup = (r: Recorded) =>
      (r.method === 'GET' &&
        ((r.vendor === 'stripe' && (LOOKUP.test(r.path) || r.path === ACCOUNT_READ)) ||
          (r.vendor === 'twilio' && TWILIO_LOOKUP.test(r.path))) &&
        !(line.method === 'GET' && r.path === upstreamPath)) ||
      (r.method === 'POST' &&
        r.vendor === 'stripe' &&
        r.path === PREVIEW &&
        !(line.method === 'POST' && upstreamPath === PREVIEW));
    const forwardedRequests = during.filter((r) => !isLookup(r));

    // One comparison first, so a failure shows status, decision and "did it reach the vendor" together.
    const actual = {
      status: res.status,
      decision: res.headers['keybrake-decision'] ?? '(no Keybrake-Decision header)',
      forwarded: forwardedRequests.length > 0,
    };
    const expected = {
      status: c.expect.status,
      decision: c.expect.reason === 'ok' ? 'allow; reason=ok' : `deny; reason=${c.expect.reason}`,
      forwarded: c.expect.forwarded,
    };
    summary.push({ title: titleOf(c), file: c.file, vendor: c.vendor, class: c.class, expected, actual });
    expect(actual).toEqual(expected);

    // Nothing an agent receives carries a credential: no upstream key, no vault token.
    expect(leaksIn(res.raw, fixtures.canaries), 'upstream credential in the response').toEqual([]);
    expect(leaksIn(res.raw, fixtures.vaultTokens), 'vault token in the response').toEqual([]);
    if (c.expect.reason !== 'ok') expectVendorShape(c.vendor, res, c.expect.reason);

    // Whatever reached a vendor (lookups included) carries the real credential and never a vault token.
    for (const r of during) {
      expect(headerValues(r, 'authorization'), `Authorization upstream of ${r.method} ${r.path}`).toEqual([
        fixtures.upstreamAuthorization[r.vendor],
      ]);
      expect(leaksIn(r.raw, fixtures.vaultTokens), 'vault token sent upstream').toEqual([]);
    }
    if (c.expect.forwarded) {
      expect(
        forwardedRequests.map((r) => `${r.vendor} ${r.method} ${r.path}`),
        'the one request the vendor receives',
      ).toEqual([`${c.vendor} ${line.method} ${upstreamPath}`]);
      const sent = forwardedRequests[0]!;
      for (const [name, value] of c.expect.upstream?.headers ?? []) {
        expect(headerValues(sent, name), `upstream header ${name}`).toEqual([value]);
      }
      for (const name of c.expect.upstream?.absentHeaders ?? []) {
        expect(headerValues(sent, name), `upstream header ${name}`).toEqual([]);
      }
      const answered = sent.answer.toString('utf8');
      for (const text of c.expect.upstream?.answered ?? []) {
        expect(answered, 'the vendor answered with').toContain(expand(text, ctx));
      }
    }
    if (c.expect.received !== undefined) {
      const body = res.body.toString('utf8');
      expect(res.body.length, 'Content-Length of the answer').toBe(Number(res.headers['content-length']));
      if (/json/.test(res.headers['content-type'] ?? '')) expect(() => JSON.parse(body)).not.toThrow();
      for (const text of c.expect.received.includes ?? []) {
        expect(body, 'the agent received').toContain(expand(text, ctx));
      }
      const head = Object.entries(res.headers)
        .map(([name, value]) => `${name}: ${value}`)
        .join('\n');
      for (const text of c.expect.received.excludes ?? []) {
        expect(body, 'the agent received').not.toContain(expand(text, ctx));
        expect(head, "the agent received in the answer's head").not.toContain(expand(text, ctx));
      }
      for (const text of c.expect.received.headIncludes ?? []) {
        expect(head, "the answer's head").toContain(expand(text, ctx));
      }
    }

    // Every answer is audited with the same reason (stdout, one JSON line per call).
    expect(record, 'an audit record for this call').toBeDefined();
    expect({ decision: record!['decision'], reason: record!['reason'] }).toEqual({
      decision: c.expect.reason === 'ok' ? 'allow' : 'deny',
      reason: c.expect.reason,
    });
    if (c.expect.reason === 'ok' && fixtures.keys.has(c.key))
      expect(record!['vaultKey']).toBe(`hostile/${c.key}`);
    for (const [field, value] of Object.entries(c.expect.audit ?? {})) {
      expect(record![field], `the audit record's ${field}`).toBe(expand(value, ctx));
    }
    // Case by case, not only in the scan of all stdout after the last case: the record names the case.
    const written = JSON.stringify(record);
    expect(leaksIn(written, fixtures.vaultTokens), 'vault token in the audit record').toEqual([]);
    expect(leaksIn(written, fixtures.vaultTokenStems), 'vault token stem in the audit record').toEqual([]);
    expect(leaksIn(written, fixtures.canaries), 'upstream credential in the audit record').toEqual([]);
  });

  it('never writes a vault token or an upstream credential to stdout or stderr', () => {
    for (const kb of Object.values(instances)) {
      expect(leaksIn(kb.output(), fixtures.canaries)).toEqual([]);
      expect(leaksIn(kb.output(), fixtures.vaultTokens)).toEqual([]);
      expect(leaksIn(kb.output(), fixtures.vaultTokenStems)).toEqual([]);
    }
  });
});
