import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hiddenCredit, pageSeen, previewCharge, takenCredits } from './preview-credits.ts';

// Fourteenth round (probe fixmoney14, HIGH): a preview's amount_due has the customer's pending
// credits and credit balance taken off, which the call spends all the same. Each case: the preview's
// answer as Stripe renders it → what it is counted at (minor units), or undefined (unpriced).

type Obj = Record<string, unknown>;

/** A subscription item's line, as API version 2025-03-31 on renders it. */
const itemLine = (amount: number): Obj => ({
  object: 'line_item',
  amount,
  parent: {
    type: 'subscription_item_details',
    subscription_item_details: { invoice_item: null, proration: false, subscription_item: 'si_1' },
  },
  taxes: [],
});
/** A pending invoice item's line (2025-03-31 on), with `taxes` as Stripe computed them. */
const pendingLine = (amount: number, taxes: number[] = []): Obj => ({
  object: 'line_item',
  amount,
  parent: {
    type: 'invoice_item_details',
    invoice_item_details: { invoice_item: 'ii_credit', proration: false, subscription: null },
  },
  taxes: taxes.map((a) => ({ amount: a, tax_behavior: 'exclusive', type: 'tax_rate_details' })),
});
/** A proration line (2025-03-31 on): `invoice_item` null when the preview computes it for the change. */
const prorationLine = (amount: number, item: string | null): Obj => ({
  object: 'line_item',
  amount,
  parent: {
    type: 'subscription_item_details',
    subscription_item_details: { invoice_item: item, proration: true, subscription_item: 'si_1' },
  },
  taxes: [],
});
/** Lines before API version 2025-03-31: `type`, `proration`, `invoice_item`, `tax_amounts`. */
const oldLine = (amount: number, type: string, proration: boolean, item: string | null): Obj => ({
  object: 'line_item',
  amount,
  type,
  proration,
  invoice_item: item,
  tax_amounts: [],
});

const preview = (due: number, total: number, lines: Obj[], hasMore = false): Obj => ({
  object: 'invoice',
  amount_due: due,
  total,
  currency: 'usd',
  lines: { object: 'list', data: lines, has_more: hasMore },
});

describe('previewCharge: a preview counted before the credits it uses up', () => {
  it.each<[string, Obj, bigint | undefined]>([
    // The probe's case: a $100.00 subscription and a -$150.00 pending credit, total -$50.00, due 0.
    // Counted $150.00: the credit in full, as POST /v1/invoices counts it (and more than the
    // subscription's $100.00, which the credit pays; its rest goes to the balance).
    [
      'a pending credit larger than the charge',
      preview(0, -5000, [pendingLine(-15000), itemLine(10000)]),
      15000n,
    ],
    [
      'a pending credit smaller than the charge',
      preview(7000, 7000, [pendingLine(-3000), itemLine(10000)]),
      10000n,
    ],
    [
      'a pending credit with its exclusive tax',
      preview(0, -5000, [pendingLine(-12000, [-3000]), itemLine(10000)]),
      15000n,
    ],
    // The customer's credit balance: applied by Stripe, taken off amount_due, not off total.
    ['a credit balance applied', preview(0, 10000, [itemLine(10000)]), 10000n],
    ['a balance owed (amount_due above total)', preview(12000, 10000, [itemLine(10000)]), 12000n],
    // The preview's own proration of the change (an upgrade's unused time) is the call's: not added back.
    [
      'a proration the preview computes',
      preview(5000, 5000, [prorationLine(-5000, null), itemLine(10000)]),
      5000n,
    ],
    // One left pending by an earlier change names its invoice item: taken from the renewal.
    [
      'a pending proration taken in',
      preview(5000, 5000, [prorationLine(-5000, 'ii_old'), itemLine(10000)]),
      10000n,
    ],
    [
      'a pending credit before 2025-03-31',
      preview(0, -5000, [
        oldLine(-15000, 'invoiceitem', false, 'ii_c'),
        oldLine(10000, 'subscription', false, null),
      ]),
      15000n,
    ],
    [
      'a computed proration before 2025-03-31',
      preview(5000, 5000, [
        oldLine(-5000, 'invoiceitem', true, null),
        oldLine(10000, 'subscription', false, null),
      ]),
      5000n,
    ],
    [
      'a pending proration before 2025-03-31',
      preview(5000, 5000, [
        oldLine(-5000, 'invoiceitem', true, 'ii_old'),
        oldLine(10000, 'subscription', false, null),
      ]),
      10000n,
    ],
    ['a charge only', preview(10000, 10000, [itemLine(10000)]), 10000n],
    // Lines past the first page: Stripe sorts pending items first, so a subscription line on the
    // page means every one was seen.
    [
      'more lines after a subscription line',
      preview(0, -5000, [pendingLine(-15000), itemLine(10000)], true),
      15000n,
    ],
    // A page of pending items only: its credits counted here, the rest read (pageSeen, preview-pending.ts).
    ['more lines, the page all pending items', preview(0, -5000, [pendingLine(-15000)], true), 15000n],
    // A credit line that does not say its tax, or a line of a shape not known: unpriced / counted.
    [
      'a pending credit without its taxes',
      preview(0, -5000, [{ ...pendingLine(-15000), taxes: undefined }, itemLine(10000)]),
      undefined,
    ],
    ['a credit line of an unknown shape', preview(0, -100, [{ amount: -100, taxes: [] }]), 100n],
    ['a line without an amount', preview(0, 0, [{ object: 'line_item', taxes: [] }]), undefined],
    ['lines that are no list', { ...preview(100, 100, []), lines: 'x' }, undefined],
    ['no amount_due', { total: 100, currency: 'usd' }, undefined],
    // Stripe's invoice always has lines; an answer without them is counted as before.
    ['no lines', { amount_due: 100, total: 100, currency: 'usd' }, 100n],
  ])('%s', (_name, answer, charge) => {
    expect(previewCharge(answer)).toBe(charge);
  });

  it('never counts less than amount_due, nor less than the pending credits taken in', () => {
    const credits = fc.array(fc.integer({ min: 1, max: 1_000_000 }), { maxLength: 8 });
    fc.assert(
      fc.property(
        credits,
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        (cs, charge, balance) => {
          const total = charge - cs.reduce((a, b) => a + b, 0);
          const due = Math.max(0, total - balance);
          const answer = preview(due, total, [...cs.map((c) => pendingLine(-c)), itemLine(charge)]);
          const counted = previewCharge(answer)!;
          expect(counted).toBeGreaterThanOrEqual(BigInt(due));
          expect(takenCredits(answer)).toBe(BigInt(cs.reduce((a, b) => a + b, 0)));
          // The subscription's own charge before every credit, whichever way the credits fall.
          expect(counted).toBeGreaterThanOrEqual(BigInt(charge));
        },
      ),
    );
  });
});

// Fourteenth round (probe credits14, finding 1, MEDIUM over-refusal): a first page of lines with more
// to come and no subscription item's line was refused, so every plan change moving 5 or more items
// (10 or more of its own prorations first) and every new subscription for a customer with 10 or
// more pending charges was price_unknown. Now the page says the pending items may go on past it
// (pageSeen) and which it showed, and the customer's pending items past it are counted (hiddenCredit).
describe('pageSeen: whether the first page of lines shows every pending item', () => {
  const ownProration = (i: number) => prorationLine(i % 2 ? 1000 : -500, null);
  const usage = (i: number): Obj => ({
    ...pendingLine(100),
    parent: {
      type: 'invoice_item_details',
      invoice_item_details: { invoice_item: `ii_usage${i}`, proration: false, subscription: null },
    },
  });
  it.each<[string, Obj, ReturnType<typeof pageSeen>]>([
    [
      'every line on the page',
      preview(100, 100, [pendingLine(-100), itemLine(200)]),
      { whole: true, items: ['ii_credit'] },
    ],
    [
      "a page of the change's own prorations, more to come",
      preview(
        3000,
        3000,
        Array.from({ length: 10 }, (_, i) => ownProration(i)),
        true,
      ),
      { whole: false, items: [] },
    ],
    [
      'a page of pending charges, more to come',
      preview(
        3200,
        3200,
        Array.from({ length: 10 }, (_, i) => usage(i)),
        true,
      ),
      { whole: false, items: Array.from({ length: 10 }, (_, i) => `ii_usage${i}`) },
    ],
    [
      'more to come after a subscription line',
      preview(0, 0, [pendingLine(-100), itemLine(100)], true),
      { whole: true, items: ['ii_credit'] },
    ],
    [
      'has_more not said',
      { ...preview(0, 0, []), lines: { data: [pendingLine(-100)] } },
      { whole: false, items: ['ii_credit'] },
    ],
    [
      'a pending proration and old shapes name their items',
      preview(
        0,
        0,
        [
          prorationLine(-100, 'ii_old'),
          oldLine(-100, 'invoiceitem', false, 'ii_c'),
          { id: 'ii_pre2019', object: 'line_item', type: 'invoiceitem', amount: -1, proration: false },
        ],
        true,
      ),
      { whole: false, items: ['ii_old', 'ii_c', 'ii_pre2019'] },
    ],
    ['no lines', { amount_due: 0 }, { whole: true, items: [] }],
    ['lines that are no list', { amount_due: 0, lines: { data: 'x' } }, undefined],
  ])('%s', (_name, answer, seen) => {
    expect(pageSeen(answer)).toEqual(seen);
  });
});

describe("hiddenCredit: a pending item past the preview's page, with the tax the invoice adds", () => {
  const untaxed = { ...preview(0, 0, []), automatic_tax: { enabled: false }, default_tax_rates: [] };
  const rate = (percentage: number, inclusive = false) => ({ object: 'tax_rate', percentage, inclusive });
  const item = (amount: number, more: Obj = {}): Obj => ({
    object: 'invoiceitem',
    id: 'ii_hidden',
    amount,
    currency: 'usd',
    invoice: null,
    tax_rates: [],
    ...more,
  });
  it.each<[string, Obj, Obj, bigint | undefined]>([
    ['a charge', item(100), untaxed, 0n],
    ['a credit, untaxed', item(-15000), untaxed, 15000n],
    ['a credit with its own exclusive rate', item(-10000, { tax_rates: [rate(19)] }), untaxed, 11900n],
    ['a credit with its own inclusive rate', item(-10000, { tax_rates: [rate(19, true)] }), untaxed, 10000n],
    [
      "a credit taxed at the invoice's default rates",
      item(-10000),
      { ...untaxed, default_tax_rates: [rate(8.875)] },
      10888n,
    ],
    [
      'its own rates before the default ones',
      item(-10000, { tax_rates: [rate(5)] }),
      { ...untaxed, default_tax_rates: [rate(20)] },
      10500n,
    ],
    ['a credit on an invoice already', item(-10000, { invoice: 'in_1' }), untaxed, 0n],
    // Automatic tax computes the credit's tax at a rate no read shows: unpriced, a charge is not.
    [
      'a credit under automatic tax',
      item(-10000),
      { ...untaxed, automatic_tax: { enabled: true } },
      undefined,
    ],
    ['a charge under automatic tax', item(10000), { ...untaxed, automatic_tax: { enabled: true } }, 0n],
    ['a preview that does not say its automatic tax', item(-10000), preview(0, 0, []), undefined],
    ['a credit whose tax rates are not said', item(-10000, { tax_rates: undefined }), untaxed, undefined],
    ['no amount', item(-1, { amount: '1' }), untaxed, undefined],
  ])('%s', (_name, it_, answer, credit) => {
    expect(hiddenCredit(it_, answer)).toBe(credit);
  });
});
