import { describe, expect, it } from 'vitest';
import { reasonOf, stripePipeline } from '../../../test/fixtures/stripe-pipeline.ts';
import { compileEndpointPattern, compileValuePattern } from '../../patterns/glob.ts';
import type { ForwardRequest, UpstreamResponse } from '../../proxy/upstreams.ts';

// Settings that send money later, on their own, to a destination they name: through the real
// pipeline and the real Stripe adapter, under a glob, and under an exact entry with a recipient
// allowlist. Found by a security tester (fourth round): a balance sweep to a financial account and a
// closing financial account's forwarding were free writes that named no recipient.

const TOKEN = 'kb_stripe_standing_destinations_test';
const SWEEP =
  'payments[payouts][automatic_transfer_rules_by_currency][usd][0][payout_method]=fa_evil&payments[payouts][automatic_transfer_rules_by_currency][usd][0][type]=transfer_all&payments[payouts][schedule][interval]=daily';

const ok = (_req: ForwardRequest): UpstreamResponse => ({
  status: 200,
  headers: { 'content-type': 'application/json', 'request-id': 'req_1' },
  body: Buffer.from('{"object":"balance_settings"}'),
});

function proxy(endpoints: readonly string[]) {
  return stripePipeline({
    token: TOKEN,
    upstream: ok,
    policy: {
      endpoints: endpoints.map(compileEndpointPattern),
      recipients: [compileValuePattern('fa_good*', { caseInsensitive: false })],
    },
    now: '2026-12-01T12:00:00Z',
  });
}

describe('a setting that sends money later to a destination it names', () => {
  it.each([
    ['a balance sweep to a financial account', '/v1/balance_settings', SWEEP],
    [
      'forwarding a financial account to a payment method',
      '/v1/treasury/financial_accounts/fa_1',
      'forwarding_settings[type]=payment_method&forwarding_settings[payment_method]=pm_evil',
    ],
  ])('refuses %s under a glob, forwarding nothing', async (_name, path, form) => {
    const { call, sent } = proxy(['POST /v1/**']);
    expect(reasonOf(await call('POST', path, form))).toBe('endpoint_not_allowed');
    expect(sent).toEqual([]);
  });

  it.each([
    ['a balance sweep to a financial account', '/v1/balance_settings', SWEEP],
    [
      'forwarding a financial account to a payment method',
      '/v1/treasury/financial_accounts/fa_1',
      'forwarding_settings[type]=payment_method&forwarding_settings[payment_method]=pm_evil',
    ],
    [
      'closing a financial account into another one',
      '/v1/treasury/financial_accounts/fa_1/close',
      'forwarding_settings[type]=financial_account&forwarding_settings[financial_account]=fa_evil',
    ],
  ])('refuses %s outside the recipients under an exact entry, forwarding nothing', async (_n, path, form) => {
    const { call, sent } = proxy([`POST ${path}`]);
    expect(reasonOf(await call('POST', path, form))).toBe('recipient_not_allowed');
    expect(sent).toEqual([]);
  });

  it('forwards a closing financial account into a listed recipient under an exact entry', async () => {
    const path = '/v1/treasury/financial_accounts/fa_1/close';
    const { call, sent } = proxy([`POST ${path}`]);
    const form =
      'forwarding_settings[type]=financial_account&forwarding_settings[financial_account]=fa_good1';
    expect(reasonOf(await call('POST', path, form))).toBe('ok');
    expect(sent.map((r) => `${r.method} ${r.pathAndQuery}`)).toEqual([`POST ${path}`]);
  });
});
