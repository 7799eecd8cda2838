import { describe, expect, it } from 'vitest';
import { snakeCase } from './definition.ts';
import { resendId } from './resend-definition.ts';
import { stripeId } from './stripe-definition.ts';
import { twilioId } from './twilio-definition.ts';

describe('catalog ids', () => {
  it.each<[string, string, string[] | undefined, string]>([
    ['POST', '/v1/refunds', ['create'], 'stripe.refunds.create'],
    ['POST', '/v1/invoices/{invoice}/finalize', ['finalize_invoice'], 'stripe.invoices.finalize_invoice'],
    ['POST', '/v1/accounts/{account}/login_links', ['create'], 'stripe.accounts.login_links.create'],
    [
      'POST',
      '/v1/customers/{customer}/funding_instructions',
      ['create_funding_instructions'],
      'stripe.customers.create_funding_instructions',
    ],
    [
      'GET',
      '/v1/checkout/sessions/{session}/line_items',
      ['list_line_items'],
      'stripe.checkout.sessions.list_line_items',
    ],
    ['POST', '/v1/apps/secrets/delete', ['delete_where'], 'stripe.apps.secrets.delete_where'],
    ['GET', '/v1/customers/{customer}/cards', undefined, 'stripe.customers.cards.list'],
    ['GET', '/v1/customers/{customer}/cards/{id}', undefined, 'stripe.customers.cards.retrieve'],
    ['POST', '/v1/customers/{customer}/cards/{id}', undefined, 'stripe.customers.cards.update'],
  ])('Stripe %s %s (%j) is %s', (method, path, names, id) => {
    expect(stripeId(method, path, names)).toBe(id);
  });

  it.each([
    ['api', '/2010-04-01/Accounts/{AccountSid}/Messages.json', 'CreateMessage', 'twilio.api.create_message'],
    ['messaging', '/v1/Services', 'CreateService', 'twilio.messaging.v1.create_service'],
    ['flex-api', '/v2/WebChats', 'CreateWebChannel', 'twilio.flex_api.v2.create_web_channel'],
    [
      'preview',
      '/HostedNumbers/HostedNumberOrders',
      'CreateHostedNumbersHostedNumberOrder',
      'twilio.preview.create_hosted_numbers_hosted_number_order',
    ],
  ])('Twilio %s %s %s is %s', (host, path, operationId, id) => {
    expect(twilioId(host, path, operationId)).toBe(id);
  });

  it.each([
    ['emails.send', 'resend.emails.send'],
    ['apiKeys.create', 'resend.api_keys.create'],
    ['inboxes.threads.emails.reply', 'resend.inboxes.threads.emails.reply'],
    ['webhooks.rotateSigningSecret', 'resend.webhooks.rotate_signing_secret'],
  ])('Resend %s is %s', (method, id) => {
    expect(resendId(method)).toBe(id);
  });

  it.each([
    ['CreateIncomingPhoneNumberLocal', 'create_incoming_phone_number_local'],
    ['UpdateDomainCertV4', 'update_domain_cert_v4'],
    ['ListSIPDomain', 'list_sip_domain'],
  ])('snake-cases %s as %s', (name, snake) => {
    expect(snakeCase(name)).toBe(snake);
  });
});
