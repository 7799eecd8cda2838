import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { previewCharge, takenCredits } from './preview-credits.ts';

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
    ['more lines, the page all pending items', preview(0, -5000, [pendingLine(-15000)], true), undefined],
    [
      'lines whose has_more is not said',
      { ...preview(0, 0, [pendingLine(-100)]), lines: { data: [pendingLine(-100)] } },
      undefined,
    ],
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
