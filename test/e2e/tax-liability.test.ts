// A preview's automatic tax computed for another account than the call acts as is not priced (ADR
// 0007 §5, "Since 2026-12-02 (fourteenth round)", tax-liability.ts). Found by an adversarial probe
// (leases14, HIGH, a regression of eddf766): a platform key's subscription create with
// automatic_tax[liability][account]=acct_1Conn and no Stripe-Account leased the tax settings under the
// platform's account, a tax registration sent with `Stripe-Account: acct_1Conn` locked them under
// acct_1Conn: the two never met, the registration went out during the held preview, and the
// subscription was counted at the preview's untaxed figure. Now such a call is refused unsent; sent as
// the liable account (Stripe-Account), its preview and the registration meet on one lease. Read at the
// recording stand-in (promises, no sleeps), on two `keybrake serve` replicas sharing one redis-server
// and on one process counting in memory.
import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import type { KeybrakeProcess } from '../env/keybrake.ts';
import { gate, outcome } from './fixtures/outcomes.ts';
import { useMemoryReplica, useRedisReplicas } from './fixtures/redis-replicas.ts';
import { mintKeys, stripeVia } from './fixtures/replicas.ts';

/** The connected account the platform's subscriptions make liable for tax. */
const CONNECTED = 'acct_1Conn';

const POLICY = {
  limits: { perCallUsd: '50', perDayUsd: '100000' },
  endpoints: ['* /v1/**', 'POST /v1/tax/settings', 'POST /v1/tax/registrations'],
};
const { files, keys } = mintKeys([
  { name: 'subscriber', ...POLICY },
  { name: 'taxer', ...POLICY },
]);

/** A DE registration of the connected account, as its platform writes it. */
const register = (s: Stripe, stripeAccount = CONNECTED) =>
  s.tax.registrations.create(
    { country: 'DE', active_from: 'now', country_options: { de: { type: 'standard' } } },
    { stripeAccount },
  );

describe('automatic tax is priced only for the account the call acts as', () => {
  const replicas = useRedisReplicas(files);
  /** A third process on the same stand-in, without Redis: the memory counter store. */
  const memory = useMemoryReplica(files, replicas);

  const client = (proxy: KeybrakeProcess, key: keyof typeof keys): Stripe =>
    stripeVia(proxy, keys[key].token);
  const posts = (path: string) =>
    replicas().stripe.requests.filter((r) => r.method === 'POST' && r.path === path).length;

  /**
   * Sends `call`; if its preview reaches the stand-in, holds it there while `during` runs, then lets
   * it go. Returns the call's answer and whether its preview arrived.
   */
  async function heldIfPreviewed(call: () => Promise<unknown>, during: () => Promise<void>) {
    const book = replicas().stripe.previews;
    const arrived = gate();
    const release = gate();
    let previewed = false;
    book.onPreview = async () => {
      previewed = true;
      arrived.open();
      await release.promise;
    };
    try {
      const answer = outcome(call());
      await Promise.race([arrived.promise, answer]);
      if (previewed) await during();
      release.open();
      return { answer: await answer, previewed };
    } finally {
      release.open();
      book.onPreview = undefined;
    }
  }

  const liableSubscription = (s: Stripe, opts?: Stripe.RequestOptions) =>
    s.subscriptions.create(
      {
        customer: 'cus_1',
        items: [{ price: 'price_1' }],
        automatic_tax: { enabled: true, liability: { type: 'account', account: CONNECTED } },
      },
      opts,
    );

  // The probe's case: refused unsent, so the registration has no held preview to slip past.
  it.each([
    ['across two replicas on Redis', 0, 1],
    ['with the memory counter store (one process)', -1, -1],
  ])(
    'refuses, unsent, a platform key’s subscription making a connected account liable, %s',
    async (_name, on, writer) => {
      const via = (i: number) => (i < 0 ? memory() : replicas().proxies[i]!);
      const [previews, subscriptions, registrations] = [
        posts('/v1/invoices/create_preview'),
        posts('/v1/subscriptions'),
        posts('/v1/tax/registrations'),
      ];
      const { answer, previewed } = await heldIfPreviewed(
        () => liableSubscription(client(via(on), 'subscriber')),
        async () => {
          // Without the rule: the registration goes out while the preview is held.
          await outcome(register(client(via(writer), 'taxer')));
        },
      );
      expect(answer).toMatchObject({ ok: false, error: { statusCode: 403, code: 'price_unknown' } });
      expect(JSON.stringify(answer)).toContain(`Stripe-Account: ${CONNECTED}`);
      // At the stand-in: no preview, no subscription, no registration during it.
      expect(previewed).toBe(false);
      expect(posts('/v1/invoices/create_preview')).toBe(previews);
      expect(posts('/v1/subscriptions')).toBe(subscriptions);
      expect(posts('/v1/tax/registrations')).toBe(registrations);
    },
  );

  it('refuses, unsent, a preview-priced update of a subscription whose stored automatic tax makes a connected account liable', async () => {
    const book = replicas().stripe.previews;
    book.subscriptionTax = true;
    book.subscriptionLiability = CONNECTED;
    try {
      const previews = posts('/v1/invoices/create_preview');
      const { answer, previewed } = await heldIfPreviewed(
        () =>
          client(replicas().proxies[0]!, 'subscriber').subscriptions.update('sub_1', {
            items: [{ id: 'si_1', quantity: 5 }],
            proration_behavior: 'always_invoice',
          }),
        async () => {
          await outcome(register(client(replicas().proxies[1]!, 'taxer')));
        },
      );
      expect(answer).toMatchObject({ ok: false, error: { code: 'price_unknown' } });
      expect(previewed).toBe(false);
      expect(posts('/v1/invoices/create_preview')).toBe(previews);
      expect(posts('/v1/subscriptions/sub_1')).toBe(0);
    } finally {
      book.subscriptionTax = false;
      book.subscriptionLiability = undefined;
    }
  });

  // Control: sent as the liable account, the preview leases that account's tax settings, and the
  // registration written for it meets the lease (409) and reaches no Stripe until the call settled.
  it('prices it sent as the liable account, and holds that account’s registration off meanwhile', async () => {
    const [first, second] = replicas().proxies as [KeybrakeProcess, KeybrakeProcess];
    const before = posts('/v1/tax/registrations');
    const subscriptions = posts('/v1/subscriptions');
    const { answer, previewed } = await heldIfPreviewed(
      () => liableSubscription(client(first, 'subscriber'), { stripeAccount: CONNECTED }),
      async () => {
        expect(await outcome(register(client(second, 'taxer')))).toMatchObject({
          ok: false,
          error: { statusCode: 409, code: 'object_busy' },
        });
        expect(posts('/v1/tax/registrations')).toBe(before);
      },
    );
    expect(previewed).toBe(true);
    expect(answer).toMatchObject({ ok: true });
    expect(posts('/v1/subscriptions')).toBe(subscriptions + 1);
    expect(await outcome(register(client(second, 'taxer')))).toMatchObject({ ok: true });
  });
});
