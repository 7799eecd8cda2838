import { beforeAll, describe, expect, it } from 'vitest';
import { compileOperations } from '../operation-table.ts';
import { RESEND_OPERATIONS } from '../resend/operations.ts';
import { RESEND_REVIEW } from '../resend/review.ts';
import { STRIPE_OPERATIONS } from '../stripe/operations.ts';
import { STRIPE_REVIEW } from '../stripe/review.ts';
import { TWILIO_REQUEST_BODIES } from '../twilio/bodies.ts';
import { TWILIO_API_HOSTS, TWILIO_OPERATIONS } from '../twilio/operations.ts';
import { TWILIO_REVIEW } from '../twilio/review.ts';
import type { Definition } from './definition.ts';
import { drifted, type GeneratedFile, generateCatalogs, REPOSITORY_ROOT } from './generate.ts';
import {
  loadResendDefinition,
  RESEND_SDK_CALLS,
  recordResendSdk,
  type SdkRequest,
} from './resend-definition.ts';
import { applyReview } from './review.ts';
import { loadStripeDefinition } from './stripe-definition.ts';
import { loadTwilioDefinition } from './twilio-definition.ts';

/**
 * The generated tables against the pinned definitions on this machine. A definition that is missing
 * fails these tests with the command that fetches it; nothing here is ever skipped.
 */
let stripe: Definition;
let twilio: Definition;
let resend: Definition;
let files: GeneratedFile[];
let sdkRequests: SdkRequest[];

beforeAll(async () => {
  stripe = loadStripeDefinition();
  twilio = loadTwilioDefinition(REPOSITORY_ROOT);
  resend = await loadResendDefinition(REPOSITORY_ROOT);
  sdkRequests = await recordResendSdk(REPOSITORY_ROOT);
  files = await generateCatalogs();
}, 120_000);

describe('the pinned definitions', () => {
  it('are the versions the tables were reviewed against', () => {
    expect(stripe.source).toContain('stripe-mock@v0.203.0');
    expect(stripe.source).toContain('2026-08-26.dahlia');
    expect(stripe.operations).toHaveLength(594);
    expect(twilio.operations).toHaveLength(1407);
    expect(new Set(twilio.operations.map((op) => op.host)).size).toBe(37);
  });

  it('say how to get them when they are missing', () => {
    expect(() => loadStripeDefinition('go-command-that-does-not-exist')).toThrow(
      /go mod download github\.com\/stripe\/stripe-mock@v0\.203\.0/,
    );
    expect(() => loadTwilioDefinition('/nonexistent')).toThrow(/npm ci.*@twilio-alpha\/mcp@0\.7\.0/);
    return expect(loadResendDefinition('/nonexistent')).rejects.toThrow(/npm ci.*resend@6\.38\.0/);
  });
});

describe('the generated files', () => {
  it('are exactly what `npm run catalogs` generates from the pinned definitions and the reviews', () => {
    expect(files.map((f) => f.path)).toEqual([
      'src/vendors/stripe/operations.ts',
      'src/vendors/twilio/operations.ts',
      'src/vendors/twilio/bodies.ts',
      'src/vendors/resend/operations.ts',
    ]);
    expect(drifted(files), 'run `npm run catalogs` and commit the result').toEqual([]);
  });

  it.each([
    ['Stripe', () => stripe, () => STRIPE_OPERATIONS],
    ['Twilio', () => twilio, () => TWILIO_OPERATIONS],
    ['Resend', () => resend, () => RESEND_OPERATIONS],
  ] as const)(
    'give every %s operation of the definition one row with a class',
    (_vendor, definition, table) => {
      const route = (op: { host?: string; method: string; path: string }) =>
        `${op.host ?? ''} ${op.method} ${op.path}`;
      expect(table().map(route).sort()).toEqual(definition().operations.map(route).sort());
      for (const row of table())
        expect(row.class).toMatch(/^(read|write|money|money_unpriced|destructive|sensitive)$/);
      expect(new Set(table().map((row) => row.id)).size).toBe(table().length);
    },
  );

  it('list the Twilio API hosts, and the parameters of each Twilio body', () => {
    expect(TWILIO_API_HOSTS).toHaveLength(37);
    expect(TWILIO_API_HOSTS).toEqual(
      expect.arrayContaining(['api', 'verify', 'lookups', 'flex-api', 'preview-iam']),
    );
    expect(TWILIO_REQUEST_BODIES['twilio.messages.create']).toMatchObject({
      type: 'form',
      names: expect.arrayContaining(['To', 'From', 'Body', 'MediaUrl']),
      lists: ['MediaUrl', 'PersistentAction'],
    });
  });

  it('keep the ids existing code, tests and policies use', () => {
    const ids = new Set(
      [...STRIPE_OPERATIONS, ...TWILIO_OPERATIONS, ...RESEND_OPERATIONS].map((row) => row.id),
    );
    for (const id of [
      'stripe.charges.create',
      'stripe.charges.capture',
      'stripe.refunds.create',
      'stripe.payment_intents.create',
      'stripe.payment_intents.confirm',
      'stripe.payment_intents.capture',
      'stripe.payment_intents.update',
      'stripe.payment_intents.cancel',
      'stripe.transfers.create',
      'stripe.payouts.create',
      'stripe.invoices.pay',
      'stripe.invoices.finalize_invoice',
      'stripe.customers.list',
      'stripe.customers.retrieve',
      'stripe.checkout.sessions.create',
      'stripe.payment_links.create',
      'twilio.messages.create',
      'twilio.messages.update',
      'twilio.calls.create',
      'twilio.calls.update',
      'twilio.conferences.participants.create',
      'twilio.incoming_phone_numbers.create',
      'twilio.verify.verifications.create',
      'twilio.verify.verification_checks.create',
      'twilio.lookups.v2.fetch',
      'twilio.lookups.v1.fetch',
      'resend.emails.send',
      'resend.emails.batch',
      'resend.broadcasts.send',
      'resend.inboxes.threads.reply',
      'resend.inboxes.threads.forward',
      'resend.inboxes.drafts.send',
    ]) {
      expect(ids).toContain(id);
    }
  });
});

describe('the reviews', () => {
  // A glob admits a `write` for free (ADR 0007 §1): a write the vendor bills for, or one that turns
  // on something it bills for every call, room or SIM, must be `money_unpriced` like its siblings.
  it.each([
    'stripe.tax.calculations.create',
    'stripe.tax.transactions.create_from_calculation',
    'stripe.radar.payment_evaluations.create',
    'stripe.financial_connections.sessions.create',
    'twilio.supersim.v1.create_fleet',
    'twilio.supersim.v1.update_fleet',
    'twilio.wireless.v1.create_rate_plan',
    'twilio.video.v1.create_composition_hook',
    'twilio.video.v1.update_composition_hook',
    'twilio.intelligence.v2.create_service',
    'twilio.intelligence.v2.update_service',
    'twilio.intelligence.v2.create_operator_attachment',
    'twilio.insights.v1.update_account_settings',
    'twilio.marketplace.v1.update_installed_add_on_extension',
    'twilio.api.update_application',
    'twilio.messaging.v1.update_us_app_to_person',
  ])('keep %s, which turns on something the vendor bills for, out of globs', (id) => {
    const row = [...STRIPE_OPERATIONS, ...TWILIO_OPERATIONS].find((r) => r.id === id);
    expect(row?.class).toBe('money_unpriced');
  });

  it.each([
    ['Stripe', () => stripe, STRIPE_REVIEW],
    ['Twilio', () => twilio, TWILIO_REVIEW],
    ['Resend', () => resend, RESEND_REVIEW],
  ] as const)(
    'classify every %s write by an explicit rule, and every rule is used',
    (_vendor, definition, rules) => {
      expect(applyReview(definition().operations, rules).problems).toEqual([]);
    },
  );
});

describe('the Resend SDK', () => {
  it('reaches no endpoint the Resend table lacks', () => {
    const match = compileOperations(RESEND_OPERATIONS);
    const missing = sdkRequests.filter((r) => match(r.method, r.path)?.row.path !== r.path);
    expect(missing).toEqual([]);
  });

  it('has a dummy call for every resource method, and no call for a method it no longer has', () => {
    const called = new Set(sdkRequests.map((r) => r.sdkMethod));
    const withCalls = Object.entries(RESEND_SDK_CALLS).filter(([, calls]) => calls.length > 0);
    expect(withCalls.map(([name]) => name).filter((name) => !called.has(name))).toEqual([]);
  });
});
