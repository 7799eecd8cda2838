// The preview race (ADR 0007 §5, seventh round): a subscription create is priced from Stripe's invoice
// preview, which computes automatic tax from the customer's tax ids as they are; a tax id added or
// removed between the preview and the forward would have the subscription charged another tax than
// was reserved. Two real `keybrake serve` processes share one redis-server; the Stripe stand-in holds
// the preview until the test lets it go (promises, no sleeps). Every tax id write of the customer, by
// each of its four paths, and a tax_code update of a product the preview names (by price_data, or
// as the product of a Price it names), meets 409 object_busy and reaches no Stripe, and goes through
// once the subscription has settled.
import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { gate, outcome } from './fixtures/outcomes.ts';
import { useRedisReplicas } from './fixtures/redis-replicas.ts';
import { mintKeys, stripeVia } from './fixtures/replicas.ts';

/**
 * The tester's policy: every known endpoint, and named exactly the two tax id deletions and the
 * writes that change what automatic tax reads (a Product's tax_code, a Price's tax_behavior, the
 * account's tax settings and registrations: money_unpriced since the thirteenth round, tax-inputs.ts),
 * so that each meets the preview's lease rather than the endpoint check.
 */
const POLICY = {
  limits: { perCallUsd: '50', perDayUsd: '100000' },
  endpoints: [
    '* /v1/**',
    'DELETE /v1/customers/cus_1/tax_ids/txi_1',
    'DELETE /v1/tax_ids/txi_2',
    'POST /v1/products/{id}',
    'POST /v1/prices/{price}',
    'POST /v1/tax/settings',
    'POST /v1/tax/registrations',
    'POST /v1/tax/registrations/{id}',
    'DELETE /v1/customers/cus_1/sources/card_1',
  ],
};
const { files, keys } = mintKeys([
  { name: 'subscriber', ...POLICY },
  { name: 'taxer', ...POLICY },
]);

/** The four ways to change cus_1's tax ids, each a write Stripe would record at its path. */
const TAX_ID_WRITES: readonly [string, string, string, (s: Stripe) => Promise<unknown>][] = [
  [
    'a tax id added under the customer',
    'POST',
    '/v1/customers/cus_1/tax_ids',
    (s) => s.customers.createTaxId('cus_1', { type: 'eu_vat', value: 'DE123456789' }),
  ],
  [
    'a tax id added with owner[customer]',
    'POST',
    '/v1/tax_ids',
    (s) =>
      s.taxIds.create({
        owner: { type: 'customer', customer: 'cus_1' },
        type: 'eu_vat',
        value: 'DE123456789',
      }),
  ],
  [
    'a tax id deleted under the customer',
    'DELETE',
    '/v1/customers/cus_1/tax_ids/txi_1',
    (s) => s.customers.deleteTaxId('cus_1', 'txi_1'),
  ],
  ['a tax id deleted by its id alone', 'DELETE', '/v1/tax_ids/txi_2', (s) => s.taxIds.del('txi_2')],
];

describe('a subscription priced from a preview cannot be raced by a change of what the preview read', () => {
  const replicas = useRedisReplicas(files);

  const client = (replica: number, key: keyof typeof keys): Stripe =>
    stripeVia(replicas().proxies[replica]!, keys[key].token);

  const forwarded = (method: string, path: string) =>
    replicas().stripe.requests.filter((r) => r.method === method && r.path === path).length;
  /** Reads of price_1, whatever their query (the proxy expands its currency_options). */
  const priceReads = () =>
    replicas().stripe.requests.filter(
      (r) => r.method === 'GET' && r.path.split('?')[0] === '/v1/prices/price_1',
    ).length;

  /**
   * Holds a subscription create (automatic tax, cus_1, `item`) at its preview on replica `on` (0
   * unless told), runs `during` (from the other one), lets the subscription go on, and returns what
   * it answered.
   */
  function duringPreview(item: Stripe.SubscriptionCreateParams.Item, during: () => Promise<void>, on = 0) {
    return duringHeld(
      (s) => s.subscriptions.create({ customer: 'cus_1', items: [item], automatic_tax: { enabled: true } }),
      during,
      on,
    );
  }

  /** Holds `call` (subscriber's key on replica `on`) at its preview while `during` runs; its answer. */
  async function duringHeld(call: (s: Stripe) => Promise<unknown>, during: () => Promise<void>, on = 0) {
    const book = replicas().stripe.previews;
    const arrived = gate();
    const release = gate();
    book.onPreview = async () => {
      arrived.open();
      await release.promise;
    };
    try {
      const created = outcome(call(client(on, 'subscriber')));
      // A call refused before its preview would leave the gate shut: fail with its answer instead.
      await Promise.race([
        arrived.promise,
        created.then((answer) => {
          throw new Error(`answered before its preview: ${JSON.stringify(answer)}`);
        }),
      ]);
      await during();
      release.open();
      return await created;
    } finally {
      release.open();
      book.onPreview = undefined;
    }
  }

  it.each(TAX_ID_WRITES)(
    'refuses %s while the preview holds the customer, and sends it once the subscription settled',
    async (_name, method, path, write) => {
      const subscriptions = forwarded('POST', '/v1/subscriptions');
      const created = await duringPreview({ price: 'price_1' }, async () => {
        expect(await outcome(write(client(1, 'taxer')))).toMatchObject({
          ok: false,
          error: { statusCode: 409, code: 'object_busy' },
        });
        expect(forwarded(method, path)).toBe(0);
      });
      expect(created).toMatchObject({ ok: true, value: { id: 'sub_1' } });
      expect(forwarded('POST', '/v1/subscriptions')).toBe(subscriptions + 1);
      // Settled and released: the write can no longer change what the subscription was priced at.
      expect(await outcome(write(client(1, 'taxer')))).toMatchObject({ ok: true });
      expect(forwarded(method, path)).toBe(1);
    },
  );

  it('refuses a tax_code update of a product the preview prices by price_data, and sends it after', async () => {
    const update = () => client(1, 'taxer').products.update('prod_1', { tax_code: 'txcd_10000000' });
    const item = {
      price_data: {
        currency: 'usd',
        product: 'prod_1',
        unit_amount: 1000,
        recurring: { interval: 'month' as const },
      },
    };
    const created = await duringPreview(item, async () => {
      expect(await outcome(update())).toMatchObject({
        ok: false,
        error: { statusCode: 409, code: 'object_busy' },
      });
      expect(forwarded('POST', '/v1/products/prod_1')).toBe(0);
    });
    expect(created).toMatchObject({ ok: true, value: { id: 'sub_1' } });
    expect(await outcome(update())).toMatchObject({ ok: true });
    expect(forwarded('POST', '/v1/products/prod_1')).toBe(1);
  });

  // The tester's case: the preview names price_1, and automatic tax reads the tax_code of its
  // product. Replica 1 has priced no subscription before, so it reads price_1 for its product first;
  // the second time it knows the product and reads nothing more.
  it.each([
    ['reads the Price for its product, then', 1],
    ['knows the product from that read, and', 0],
  ])(
    'refuses a tax_code update of the product of a Price the preview names: a replica %s leases it (%i Price reads more)',
    async (_how, reads) => {
      const update = () => client(0, 'taxer').products.update('prod_1', { tax_code: 'txcd_10000000' });
      const updates = forwarded('POST', '/v1/products/prod_1');
      const readsBefore = priceReads();
      const created = await duringPreview(
        { price: 'price_1' },
        async () => {
          expect(await outcome(update())).toMatchObject({
            ok: false,
            error: { statusCode: 409, code: 'object_busy' },
          });
          expect(forwarded('POST', '/v1/products/prod_1')).toBe(updates);
        },
        1,
      );
      expect(created).toMatchObject({ ok: true, value: { id: 'sub_1' } });
      expect(priceReads()).toBe(readsBefore + reads);
      expect(await outcome(update())).toMatchObject({ ok: true });
      expect(forwarded('POST', '/v1/products/prod_1')).toBe(updates + 1);
    },
  );

  // Seventh round, F1 and F2: a preview of an existing subscription bills its customer and its items'
  // Prices and Products, which the call names none of; it leased only the subscription.
  const EXISTING: readonly [string, (s: Stripe) => Promise<unknown>][] = [
    [
      'a subscription update',
      (s) =>
        s.subscriptions.update('sub_1', {
          items: [{ id: 'si_1', quantity: 5 }],
          proration_behavior: 'always_invoice',
        }),
    ],
    [
      'an item update',
      (s) => s.subscriptionItems.update('si_1', { quantity: 6, proration_behavior: 'always_invoice' }),
    ],
    ['a resume', (s) => s.subscriptions.resume('sub_1', { proration_behavior: 'always_invoice' })],
  ];
  /** What changes what such a preview bills: the item's Product and Price, the customer's tax. */
  const RACING: readonly [string, (s: Stripe) => Promise<unknown>][] = [
    ['/v1/products/prod_1', (s) => s.products.update('prod_1', { tax_code: 'txcd_10000000' })],
    ['/v1/prices/price_1', (s) => s.prices.update('price_1', { tax_behavior: 'exclusive' })],
    ['/v1/customers/cus_1', (s) => s.customers.update('cus_1', { tax_exempt: 'none' })],
    ['/v1/customers/cus_1', (s) => s.customers.update('cus_1', { address: { country: 'DE' } })],
  ];

  it.each(EXISTING)(
    'refuses every change of what %s of sub_1 bills while its preview is held, and sends each after',
    async (_name, call) => {
      const before = RACING.map(([path]) => forwarded('POST', path));
      const answer = await duringHeld(call, async () => {
        for (const [, write] of RACING) {
          expect(await outcome(write(client(1, 'taxer')))).toMatchObject({
            ok: false,
            error: { statusCode: 409, code: 'object_busy' },
          });
        }
        expect(RACING.map(([path]) => forwarded('POST', path))).toEqual(before);
      });
      expect(answer).toMatchObject({ ok: true });
      for (const [, write] of RACING)
        expect(await outcome(write(client(1, 'taxer')))).toMatchObject({ ok: true });
      // The two customer writes share a path: each path is forwarded as often as it was written.
      expect(RACING.map(([path], i) => forwarded('POST', path) - before[i]!)).toEqual([1, 1, 2, 2]);
    },
  );
  // Thirteenth round (probe catalog13, HIGH): automatic tax also reads the account's tax settings
  // (defaults[tax_behavior] for a Price without one, defaults[tax_code], head_office) and its
  // registrations, which a glob admitted as free writes while such a preview was held: the
  // subscription was counted at the preview's untaxed figure. Each now meets the lease a preview
  // with automatic tax takes on them, and reaches no Stripe.
  const TAX_SETTINGS_WRITES: readonly [string, string, (s: Stripe) => Promise<unknown>][] = [
    [
      'the tax defaults',
      '/v1/tax/settings',
      (s) => s.tax.settings.update({ defaults: { tax_behavior: 'exclusive', tax_code: 'txcd_10000000' } }),
    ],
    [
      'a new tax registration',
      '/v1/tax/registrations',
      (s) =>
        s.tax.registrations.create({
          country: 'DE',
          active_from: 'now',
          country_options: { de: { type: 'standard' } },
        }),
    ],
    [
      "a tax registration's update",
      '/v1/tax/registrations/taxreg_1',
      (s) => s.tax.registrations.update('taxreg_1', { expires_at: 'now' }),
    ],
  ];

  it.each(TAX_SETTINGS_WRITES)(
    'refuses %s while a preview with automatic tax is held, and sends it once the subscription settled',
    async (_name, path, write) => {
      const before = forwarded('POST', path);
      const created = await duringPreview({ price: 'price_1' }, async () => {
        expect(await outcome(write(client(1, 'taxer')))).toMatchObject({
          ok: false,
          error: { statusCode: 409, code: 'object_busy' },
        });
        expect(forwarded('POST', path)).toBe(before);
      });
      expect(created).toMatchObject({ ok: true, value: { id: 'sub_1' } });
      expect(await outcome(write(client(1, 'taxer')))).toMatchObject({ ok: true });
      expect(forwarded('POST', path)).toBe(before + 1);
    },
  );

  // Fourteenth round (fixes13y, MEDIUM): the tax settings lease was exclusive between previews, so
  // one tenant looping free automatic-tax previews held every other tenant's off (object_busy). A
  // preview takes it shared now: another tenant's preview (its own customer and product) reaches
  // Stripe while the first is held, from the other replica; a settings write still waits (above).
  it("sends another tenant's automatic-tax preview while one is held: previews share the tax settings", async () => {
    const book = replicas().stripe.previews;
    const first = gate();
    const second = gate();
    const release = gate();
    let arrivals = 0;
    book.onPreview = async () => {
      (++arrivals === 1 ? first : second).open();
      await release.promise;
    };
    try {
      const held = outcome(
        client(0, 'subscriber').subscriptions.create({
          customer: 'cus_1',
          items: [{ price: 'price_1' }],
          automatic_tax: { enabled: true },
        }),
      );
      await Promise.race([first.promise, held.then((a) => Promise.reject(new Error(JSON.stringify(a))))]);
      const other = outcome(
        client(1, 'taxer').subscriptions.create({
          customer: 'cus_2',
          items: [
            {
              price_data: {
                currency: 'usd',
                product: 'prod_2',
                unit_amount: 500,
                recurring: { interval: 'month' },
              },
            },
          ],
          automatic_tax: { enabled: true },
        }),
      );
      // Refused before its preview (object_busy, as before the fix) answers first and fails here.
      await Promise.race([
        second.promise,
        other.then((a) => Promise.reject(new Error(`answered before its preview: ${JSON.stringify(a)}`))),
      ]);
      release.open();
      expect(await held).toMatchObject({ ok: true, value: { id: 'sub_1' } });
      expect(await other).not.toMatchObject({ error: { code: 'object_busy' } });
    } finally {
      release.open();
      book.onPreview = undefined;
    }
  });

  it('refuses a tax settings update while a preview of a subscription with automatic tax on is held', async () => {
    const [, path, write] = TAX_SETTINGS_WRITES[0]!;
    const before = forwarded('POST', path);
    replicas().stripe.previews.subscriptionTax = true;
    try {
      const answer = await duringHeld(
        (s) =>
          s.subscriptions.update('sub_1', {
            items: [{ id: 'si_1', quantity: 5 }],
            proration_behavior: 'always_invoice',
          }),
        async () => {
          expect(await outcome(write(client(1, 'taxer')))).toMatchObject({
            ok: false,
            error: { statusCode: 409, code: 'object_busy' },
          });
          expect(forwarded('POST', path)).toBe(before);
        },
      );
      expect(answer).toMatchObject({ ok: true });
    } finally {
      replicas().stripe.previews.subscriptionTax = false;
    }
  });

  it('lets the tax settings change while a preview without automatic tax is held (control)', async () => {
    const [, path, write] = TAX_SETTINGS_WRITES[0]!;
    const before = forwarded('POST', path);
    const answer = await duringHeld(
      (s) => s.subscriptions.create({ customer: 'cus_1', items: [{ price: 'price_1' }] }),
      async () => {
        expect(await outcome(write(client(0, 'taxer')))).toMatchObject({ ok: true });
        expect(forwarded('POST', path)).toBe(before + 1);
      },
      1,
    );
    expect(answer).toMatchObject({ ok: true });
  });

  // Thirteenth round (probe fixes13s, HIGH): under automatic tax a customer without an address is
  // taxed where its payment method's billing details say; those writes took no lease (a payment
  // method's update was read for its customer, not leased) and went through mid-preview. Each now
  // locks the customer the preview leases, and reaches no Stripe until the subscription settled.
  const METHOD_WRITES: readonly [string, string, string, (s: Stripe) => Promise<unknown>][] = [
    [
      "a payment method's billing address",
      'POST',
      '/v1/payment_methods/pm_1',
      (s) => s.paymentMethods.update('pm_1', { billing_details: { address: { country: 'DE' } } }),
    ],
    [
      'a payment method detached',
      'POST',
      '/v1/payment_methods/pm_1/detach',
      (s) => s.paymentMethods.detach('pm_1'),
    ],
    [
      'a payment method attached',
      'POST',
      '/v1/payment_methods/pm_1/attach',
      (s) => s.paymentMethods.attach('pm_1', { customer: 'cus_1' }),
    ],
    [
      "a card's billing country",
      'POST',
      '/v1/customers/cus_1/sources/card_1',
      (s) => s.customers.updateSource('cus_1', 'card_1', { address_country: 'DE' }),
    ],
    [
      'a card removed',
      'DELETE',
      '/v1/customers/cus_1/sources/card_1',
      (s) => s.customers.deleteSource('cus_1', 'card_1'),
    ],
    [
      "a Source's owner address",
      'POST',
      '/v1/sources/src_1',
      (s) => s.sources.update('src_1', { owner: { address: { country: 'DE' } } }),
    ],
  ];

  it.each(METHOD_WRITES)(
    'refuses %s while a preview with automatic tax holds the customer, and sends it once the subscription settled',
    async (_name, method, path, write) => {
      const before = forwarded(method, path);
      const created = await duringPreview({ price: 'price_1' }, async () => {
        expect(await outcome(write(client(1, 'taxer')))).toMatchObject({
          ok: false,
          error: { statusCode: 409, code: 'object_busy' },
        });
        expect(forwarded(method, path)).toBe(before);
      });
      expect(created).toMatchObject({ ok: true, value: { id: 'sub_1' } });
      expect(await outcome(write(client(1, 'taxer')))).toMatchObject({ ok: true });
      expect(forwarded(method, path)).toBe(before + 1);
    },
  );

  // Last: its refusal after the lookup backs the subscriber off cus_1 on replica 0 (lease backoff).
  it('refuses, unsent, a subscription whose preview computed automatic tax the call did not lease for', async () => {
    const subscriptions = forwarded('POST', '/v1/subscriptions');
    replicas().stripe.previews.previewTax = true;
    try {
      const answer = await duringHeld(
        (s) => s.subscriptions.create({ customer: 'cus_1', items: [{ price: 'price_1' }] }),
        async () => {},
      );
      expect(answer).toMatchObject({ ok: false, error: { code: 'price_unknown' } });
      expect(forwarded('POST', '/v1/subscriptions')).toBe(subscriptions);
    } finally {
      replicas().stripe.previews.previewTax = false;
    }
  });
});
