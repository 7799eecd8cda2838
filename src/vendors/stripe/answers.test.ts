import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import { type Operation, WITHHELD } from '../types.ts';
import { withholdFromStripeAnswer } from './answers.ts';

const PI_SECRET = 'pi_3Qabc123_secret_Zx9yW8vU7';
const withheld = (text: string) => withholdFromStripeAnswer(Buffer.from(text));
const textOf = (out: ReturnType<typeof withholdFromStripeAnswer>) => {
  if (isDenial(out)) throw new Error(`denied: ${out.message}`);
  return out.toString('utf8');
};

describe('withholdFromStripeAnswer', () => {
  it.each([
    [
      'a payment intent',
      { id: 'pi_3Qabc123', object: 'payment_intent', amount: 10000000, client_secret: PI_SECRET },
    ],
    [
      "an invoice's confirmation_secret",
      { id: 'in_1', confirmation_secret: { client_secret: PI_SECRET, type: 'payment_intent' } },
    ],
    [
      'a list of setup intents',
      { object: 'list', data: [{ id: 'seti_1', client_secret: 'seti_1_secret_abc' }], has_more: false },
    ],
    [
      'a card error naming its payment intent',
      { error: { type: 'card_error', payment_intent: { id: 'pi_3Qabc123', client_secret: PI_SECRET } } },
    ],
    [
      'an embedded Checkout Session',
      { id: 'cs_test_a1', client_secret: 'cs_test_a1_secret_fidwbEhqYWAnPydmcHZxamgneCUl' },
    ],
    [
      'a Terminal configuration (Wi-Fi passwords)',
      {
        id: 'tmc_1',
        wifi: {
          type: 'personal_psk_wifi',
          personal_psk_wifi: { ssid: 'shop', password: 'hunter2-wifi' },
          enterprise_eap_peap_wifi: { ssid: 'corp', username: 'u', password: 'peap-secret' },
          enterprise_eap_tls_wifi: { ssid: 'corp', private_key_file_password: 'tls-key-pass' },
        },
      },
    ],
    [
      'a Klarna source (its client_token runs the Klarna session in a browser)',
      { id: 'src_1', object: 'source', type: 'klarna', klarna: { client_token: 'klarna-client-token' } },
    ],
    ['a webhook endpoint (its signing secret)', { id: 'we_1', secret: 'whsec_signing' }],
    [
      'a client secret under another name (a redirect URL)',
      { next_action: { url: `https://shop.test/return?payment_intent_client_secret=${PI_SECRET}` } },
    ],
  ])('replaces the secrets of %s with the marker, keeping the JSON valid', (_what, answer) => {
    const sent = JSON.stringify(answer, null, 2);
    const got = textOf(withheld(sent));
    for (const secret of [
      PI_SECRET,
      'seti_1_secret_abc',
      'cs_test_a1_secret_',
      'hunter2',
      'peap-secret',
      'tls-key-pass',
      'klarna-client-token',
      'whsec_signing',
    ])
      expect(got).not.toContain(secret);
    expect(got).toContain(`"${WITHHELD}"`);
    expect(() => JSON.parse(got)).not.toThrow();
  });

  it('leaves every other byte as Stripe sent it: ids, layout, large numbers, escapes', () => {
    const sent = `{\n  "id": "pi_1",\n  "amount": 12345678901234567890,\n  "client_secret" :  "${PI_SECRET}",\n  "description": "caf\\u00e9 \\"quoted\\"",\n  "metadata": {"client_secret": "x_secret_1"}\n}`;
    expect(textOf(withheld(sent))).toBe(
      `{\n  "id": "pi_1",\n  "amount": 12345678901234567890,\n  "client_secret" :  "${WITHHELD}",\n  "description": "caf\\u00e9 \\"quoted\\"",\n  "metadata": {"client_secret": "${WITHHELD}"}\n}`,
    );
  });

  it.each([
    'password',
    'wifi_password',
    'private_key_file_password',
    'secret',
    'client_secret',
    'signing_secret',
    'client_token',
  ])('withholds a field named %s', (name) => {
    expect(textOf(withheld(`{"${name}":"v"}`))).toBe(`{"${name}":"${WITHHELD}"}`);
  });

  it.each(['passwords', 'secret_plan', 'bank_account_token', 'cvc_token', 'tokenization_method'])(
    'leaves a field named %s (no secret by its name, or consumed only through Keybrake)',
    (name) => {
      const body = Buffer.from(`{"${name}":"v"}`);
      expect(withholdFromStripeAnswer(body)).toBe(body);
    },
  );

  it('returns the very same buffer when there is nothing to withhold', () => {
    const body = Buffer.from('{"id":"cus_1","client_secret":null,"description":"a secret plan"}');
    expect(withholdFromStripeAnswer(body)).toBe(body);
  });

  it('withholds whole an answer that is not JSON but carries a client secret (fail closed)', () => {
    const out = withheld(`<html>pay at ?client_secret=${PI_SECRET}</html>`);
    expect(out).toMatchObject({ reason: 'credential_in_response' });
    expect(isDenial(out) && out.message).not.toContain(PI_SECRET);
  });

  // Sixth round: a webhook endpoint's basic-auth URL came back whole; Stripe takes one like Twilio.
  it("withholds the password of a webhook endpoint's URL, with its signing secret, keeping the rest", () => {
    const sent = JSON.stringify({
      object: 'list',
      data: [
        {
          id: 'we_1',
          url: 'https://stripehook:Wh00kPass-123@shop.example.com/stripe/webhook',
          secret: 'whsec_signing',
          description: 'notify bob@example.com',
        },
      ],
    });
    expect(JSON.parse(textOf(withheld(sent)))).toEqual({
      object: 'list',
      data: [
        {
          id: 'we_1',
          url: `https://${WITHHELD}@shop.example.com/stripe/webhook`,
          secret: WITHHELD,
          description: 'notify bob@example.com',
        },
      ],
    });
  });

  // Ninth round: a verification session's client_secret was withheld but its url, the redirect form
  // of the same secret, reached the agent: with it the agent submits its own documents for the
  // merchant's user. At any depth, as client secrets are.
  describe("an Identity verification session's url", () => {
    const URL = 'https://verify.stripe.com/start/live_YWNjdF8xTWhQ';
    const session = {
      id: 'vs_1',
      object: 'identity.verification_session',
      status: 'requires_input',
      client_secret: 'vs_1_secret_live_abc',
      url: URL,
    };
    const withheldSession = { ...session, client_secret: WITHHELD, url: WITHHELD };

    it.each([
      ['alone', session, withheldSession],
      [
        'in a list',
        { object: 'list', data: [session], has_more: false, url: '/v1/identity/verification_sessions' },
        {
          object: 'list',
          data: [withheldSession],
          has_more: false,
          url: '/v1/identity/verification_sessions',
        },
      ],
      [
        "as an event's object, and in its previous attributes",
        {
          id: 'evt_1',
          object: 'event',
          type: 'identity.verification_session.requires_input',
          data: { object: session, previous_attributes: { status: 'processing', url: URL } },
        },
        {
          id: 'evt_1',
          object: 'event',
          type: 'identity.verification_session.requires_input',
          data: { object: withheldSession, previous_attributes: { status: 'processing', url: WITHHELD } },
        },
      ],
      [
        'expanded inside another object',
        { id: 'vr_1', object: 'identity.verification_report', verification_session: session },
        { id: 'vr_1', object: 'identity.verification_report', verification_session: withheldSession },
      ],
    ])('is withheld %s, the rest kept', (_where, answer, expected) => {
      const got = textOf(withheld(JSON.stringify(answer)));
      expect(got).not.toContain(URL);
      expect(JSON.parse(got)).toEqual(expected);
    });

    it("is withheld from a customer portal session's event too", () => {
      const portal = {
        id: 'bps_1',
        object: 'billing_portal.session',
        url: 'https://billing.stripe.com/p/session/x',
      };
      const got = textOf(withheld(JSON.stringify({ object: 'event', data: { object: portal } })));
      expect(JSON.parse(got)).toEqual({ object: 'event', data: { object: { ...portal, url: WITHHELD } } });
    });

    it("leaves a Checkout Session's url without a customer (the payer's own card) and a list's API url", () => {
      const body = Buffer.from(
        JSON.stringify({
          object: 'list',
          url: '/v1/checkout/sessions',
          data: [
            {
              id: 'cs_1',
              object: 'checkout.session',
              customer: null,
              customer_account: null,
              url: 'https://checkout.stripe.com/c/pay/cs_1',
              after_expiration: { recovery: { enabled: true, url: 'https://buy.stripe.com/r/live_1' } },
            },
          ],
        }),
      );
      expect(withholdFromStripeAnswer(body)).toBe(body);
    });
  });

  // Tenth round: a Checkout Session the merchant's storefront created for a customer (with the real
  // key, never priced by Keybrake) pays with the customer's saved card whoever opens its url; an
  // expired one's recovery url makes a copy per click. A read, a list, an event or a free update
  // handed both to a read-only agent, while the same session's embedded client_secret was withheld.
  describe("a Checkout Session's urls when it names a customer", () => {
    const URL = 'https://checkout.stripe.com/c/pay/cs_live_Storefront01';
    const RECOVERY = 'https://buy.stripe.com/r/live_RecoveryStorefront02';
    const session = {
      id: 'cs_live_1',
      object: 'checkout.session',
      status: 'expired',
      customer: 'cus_saved_card',
      url: URL,
      after_expiration: { recovery: { enabled: true, allow_promotion_codes: false, url: RECOVERY } },
    };
    const withheldSession = {
      ...session,
      url: WITHHELD,
      after_expiration: { recovery: { enabled: true, allow_promotion_codes: false, url: WITHHELD } },
    };

    it.each([
      ['alone', session, withheldSession],
      [
        'with its customer expanded',
        { ...session, customer: { id: 'cus_1', object: 'customer' } },
        { ...withheldSession, customer: { id: 'cus_1', object: 'customer' } },
      ],
      [
        'naming a customer account (v2)',
        { ...session, customer: null, customer_account: 'acct_1' },
        { ...withheldSession, customer: null, customer_account: 'acct_1' },
      ],
      [
        'without a customer field at all (fail closed)',
        { id: 'cs_live_1', object: 'checkout.session', url: URL },
        { id: 'cs_live_1', object: 'checkout.session', url: WITHHELD },
      ],
      [
        'in a list',
        { object: 'list', url: '/v1/checkout/sessions', data: [session] },
        { object: 'list', url: '/v1/checkout/sessions', data: [withheldSession] },
      ],
      [
        "as an event's object, and in its previous attributes",
        {
          object: 'event',
          type: 'checkout.session.expired',
          data: { object: session, previous_attributes: { status: 'open', url: URL } },
        },
        {
          object: 'event',
          type: 'checkout.session.expired',
          data: { object: withheldSession, previous_attributes: { status: 'open', url: WITHHELD } },
        },
      ],
    ])('withholds its url and recovery url %s', (_where, answer, expected) => {
      const got = textOf(withheld(JSON.stringify(answer)));
      expect(got).not.toContain('Storefront0');
      expect(JSON.parse(got)).toEqual(expected);
    });

    it('keeps the url of the session its own create made, priced when created (checkout.ts)', () => {
      const create = { id: 'stripe.checkout.sessions.create' } as Operation;
      const open = { ...session, status: 'open', after_expiration: null };
      const body = Buffer.from(JSON.stringify(open));
      expect(withholdFromStripeAnswer(body, create)).toBe(body);
      const update = { id: 'stripe.checkout.sessions.update' } as Operation;
      expect(JSON.parse(textOf(withholdFromStripeAnswer(body, update)))).toEqual({ ...open, url: WITHHELD });
    });
  });

  // Tenth round: a file link's url is a public download of the merchant's file (a Sigma run's
  // result, a dispute's evidence, an identity document); creating one is sensitive, reading it was not.
  it("withholds a file link's url wherever it stands: a file's links, a Sigma run's file", () => {
    const LINK = 'https://files.stripe.com/links/MDB8YWNjdF8xPublicDownload03';
    const file = {
      id: 'file_1',
      object: 'file',
      url: 'https://files.stripe.com/v1/files/file_1/contents',
      links: {
        object: 'list',
        url: '/v1/file_links?file=file_1',
        data: [{ id: 'link_1', object: 'file_link', url: LINK }],
      },
    };
    const got = textOf(withheld(JSON.stringify({ id: 'sqr_1', object: 'scheduled_query_run', file })));
    expect(got).not.toContain('PublicDownload');
    expect(JSON.parse(got)).toEqual({
      id: 'sqr_1',
      object: 'scheduled_query_run',
      file: {
        ...file,
        links: { ...file.links, data: [{ id: 'link_1', object: 'file_link', url: WITHHELD }] },
      },
    });
  });

  // Tenth round: an invoice's hosted page pays it, with what the page offers (Stripe's definition
  // speaks of the customer's default payment method on it: not confirmed, so withheld, fail closed);
  // its PDF may carry the same link in its footer.
  it("withholds an invoice's hosted_invoice_url and invoice_pdf at any depth, null left null", () => {
    const invoice = {
      id: 'in_1',
      object: 'invoice',
      hosted_invoice_url: 'https://invoice.stripe.com/i/acct_1/live_HostedInvoice04',
      invoice_pdf: 'https://pay.stripe.com/invoice/acct_1/live_HostedInvoice04/pdf',
    };
    const draft = { id: 'in_2', object: 'invoice', hosted_invoice_url: null, invoice_pdf: null };
    const answer = {
      object: 'event',
      data: {
        object: { id: 'sub_1', latest_invoice: invoice },
        previous_attributes: { latest_invoice: draft },
      },
    };
    const got = textOf(withheld(JSON.stringify(answer)));
    expect(got).not.toContain('HostedInvoice');
    expect(JSON.parse(got)).toEqual({
      object: 'event',
      data: {
        object: {
          id: 'sub_1',
          latest_invoice: { ...invoice, hosted_invoice_url: WITHHELD, invoice_pdf: WITHHELD },
        },
        previous_attributes: { latest_invoice: draft },
      },
    });
  });

  // Twelfth round (reveals probe): a portal configuration's login page is a shareable URL where
  // whoever controls a customer's email logs in to the customer's portal; a configuration read, list,
  // write answer or event handed it over.
  it("withholds a portal configuration's login_page.url wherever it stands, an event's earlier one too", () => {
    const LOGIN = 'https://billing.stripe.com/p/login/aEU5kC8Zp3xYLoginPage05';
    const OLD = 'https://billing.stripe.com/p/login/oldLoginPage06';
    const configuration = {
      id: 'bpc_1',
      object: 'billing_portal.configuration',
      default_return_url: 'https://shop.example/account',
      login_page: { enabled: true, url: LOGIN },
    };
    const list = { object: 'list', url: '/v1/billing_portal/configurations', data: [configuration] };
    const got = textOf(withheld(JSON.stringify(list)));
    expect(got).not.toContain('LoginPage05');
    const kept = { ...configuration, login_page: { enabled: true, url: WITHHELD } };
    expect(JSON.parse(got)).toEqual({ ...list, data: [kept] });
    const event = {
      object: 'event',
      data: { object: configuration, previous_attributes: { login_page: { url: OLD } } },
    };
    const fromEvent = textOf(withheld(JSON.stringify(event)));
    expect(fromEvent).not.toContain('LoginPage05');
    expect(fromEvent).not.toContain('oldLoginPage06');
    expect(JSON.parse(fromEvent)).toEqual({
      object: 'event',
      data: { object: kept, previous_attributes: { login_page: { url: WITHHELD } } },
    });
  });

  // Twelfth round (reveals probe): a v2 meter event session's token sends usage on Stripe's meter
  // event stream without the secret key; its name matched neither `secret` nor `password`.
  it('withholds an authentication_token wherever it stands', () => {
    const session = {
      id: 'mes_1',
      object: 'v2.billing.meter_event_session',
      authentication_token: 'ek_live_YWNjdF8xMjM0NTY3ODkwX3Nlc3Npb25fdG9rZW4',
      expires_at: '2026-12-02T00:15:00.000Z',
    };
    const got = textOf(withheld(JSON.stringify({ data: [session] })));
    expect(got).not.toContain('ek_live_');
    expect(JSON.parse(got)).toEqual({ data: [{ ...session, authentication_token: WITHHELD }] });
  });

  it('passes an answer that is not JSON and carries no client secret', () => {
    const body = Buffer.from('<html>password reset</html>');
    expect(withholdFromStripeAnswer(body)).toBe(body);
  });
});
