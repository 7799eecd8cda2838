import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import { type CostLookup, NO_PARTIES, type Operation } from '../types.ts';
import { foreignLiable, heldToActingAccount, liableAccounts } from './tax-liability.ts';
import { TAX_SETTINGS_READ } from './tax-settings.ts';

// Whose tax settings a preview's automatic tax reads (ADR 0007 §5, fourteenth round, probe leases14
// finding 1): every spelling that names another account, and the answers of the lookup chain.
describe('liableAccounts', () => {
  it.each([
    [
      'a liability',
      { automatic_tax: { enabled: 'true', liability: { type: 'account', account: 'acct_1' } } },
      ['acct_1'],
    ],
    ['an issuer', { invoice_settings: { issuer: { type: 'account', account: 'acct_2' } } }, ['acct_2']],
    ['on_behalf_of', { on_behalf_of: 'acct_3' }, ['acct_3']],
    ['an expanded on_behalf_of', { on_behalf_of: { id: 'acct_4', object: 'account' } }, ['acct_4']],
    ["a schedule's phase", { phases: [{ automatic_tax: { liability: { account: 'acct_5' } } }] }, ['acct_5']],
    [
      'self',
      { automatic_tax: { liability: { type: 'self' } }, issuer: { type: 'self' }, on_behalf_of: null },
      [],
    ],
    ['metadata', { metadata: { on_behalf_of: 'acct_6' } }, []],
  ])('reads %s', (_name, body, accounts) => {
    expect(liableAccounts(body)).toEqual(accounts);
  });

  it('compares with the acting account case-folded; with none, every named account is foreign', () => {
    expect(foreignLiable({ on_behalf_of: 'acct_1Conn' }, 'ACCT_1conn')).toBeUndefined();
    expect(foreignLiable({ on_behalf_of: 'acct_1Conn' }, 'acct_other')).toBe('acct_1Conn');
    expect(foreignLiable({ on_behalf_of: 'acct_1Conn' }, undefined)).toBe('acct_1Conn');
  });
});

describe('heldToActingAccount', () => {
  const preview = (locks: readonly string[]): CostLookup => ({
    path: '/v1/invoices/create_preview',
    method: 'POST',
    body: '',
    locks,
    price: (o) => ((o as { amount_due?: number }).amount_due ?? 0) * 10_000,
  });
  const op = (lookup: CostLookup): Operation => ({
    id: 'stripe.subscriptions.create',
    class: 'money',
    movesMoney: true,
    costMicros: 0,
    lookup,
    parties: NO_PARTIES,
  });
  const answer = (liability: unknown) => ({ amount_due: 1000, automatic_tax: { enabled: true, liability } });

  it('refuses a body switching automatic tax on for another account before any read', () => {
    const held = heldToActingAccount(
      op(preview([TAX_SETTINGS_READ])),
      { automatic_tax: { enabled: 'true', liability: { type: 'account', account: 'acct_1Conn' } } },
      undefined,
    );
    expect(isDenial(held) && held.reason).toBe('price_unknown');
  });

  it('leaves unpriced a preview whose answer shows another account liable (the backstop)', () => {
    const held = heldToActingAccount(op(preview([TAX_SETTINGS_READ])), {}, 'acct_1Conn');
    if (isDenial(held)) throw new Error(held.message);
    expect(held.lookup!.price(answer({ type: 'account', account: 'acct_other' }))).toBeUndefined();
    expect(held.lookup!.price(answer({ type: 'account', account: 'acct_1Conn' }))).toBe(10_000_000);
    expect(held.lookup!.price(answer({ type: 'self' }))).toBe(10_000_000);
  });

  it('refuses where a read leasing the tax settings follows a subscription answered liable elsewhere', () => {
    const read: CostLookup = {
      path: '/v1/subscriptions/sub_1',
      price: () => 0,
      next: () => preview([TAX_SETTINGS_READ]),
    };
    const held = heldToActingAccount(op(read), {}, undefined);
    if (isDenial(held)) throw new Error(held.message);
    const sub = { automatic_tax: { enabled: true, liability: { type: 'account', account: 'acct_1Conn' } } };
    expect(held.lookup!.next!(sub)).toBeUndefined();
    expect(held.lookup!.price(sub)).toBeUndefined();
    // The subscription's own account liable: the preview follows.
    expect(
      held.lookup!.next!({ automatic_tax: { enabled: true, liability: { type: 'self' } } }),
    ).toBeDefined();
  });

  it('leaves a read that leases no tax settings as it is (a metadata update reads the customer only)', () => {
    const read: CostLookup = { path: '/v1/subscriptions/sub_1', price: () => 0 };
    const held = heldToActingAccount(op(read), {}, undefined);
    if (isDenial(held)) throw new Error(held.message);
    expect(
      held.lookup!.price({ automatic_tax: { enabled: true, liability: { account: 'acct_1Conn' } } }),
    ).toBe(0);
  });
});
