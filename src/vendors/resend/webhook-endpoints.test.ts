import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import { NO_PARTIES, type Operation, WITHHELD } from '../types.ts';
import { createResendAdapter } from './index.ts';
import { withholdWebhookEndpoints } from './webhook-endpoints.ts';

const op = (id: string): Operation => ({
  id,
  class: 'read',
  movesMoney: false,
  costMicros: 0,
  parties: NO_PARTIES,
});
const list = (...endpoints: string[]) =>
  Buffer.from(
    JSON.stringify({ object: 'list', data: endpoints.map((endpoint, i) => ({ id: `wh_${i}`, endpoint })) }),
  );
const endpoints = (body: Buffer) =>
  (JSON.parse(body.toString('utf8')) as { data: { endpoint: string }[] }).data.map((w) => w.endpoint);

// Thirteenth round (probe resend13, finding 7): a webhook endpoint's secret in its query or path
// reached the agent through GET /webhooks; only a userinfo was withheld.
describe('withholdWebhookEndpoints', () => {
  it.each([
    [
      'a query token',
      'https://hooks.acme.test/resend?token=QUERY_SECRET',
      'https://hooks.acme.test/withheld_by_keybrake',
    ],
    [
      'a path token',
      'https://hooks.zapier.com/hooks/catch/123456/PATH_SECRET/',
      'https://hooks.zapier.com/withheld_by_keybrake',
    ],
    ['a fragment', 'https://hooks.acme.test/#FRAG_SECRET', 'https://hooks.acme.test/withheld_by_keybrake'],
    [
      'a port and a path',
      'https://hooks.acme.test:8443/in/SECRET',
      'https://hooks.acme.test:8443/withheld_by_keybrake',
    ],
    [
      'a userinfo and a path',
      'https://u:PW_SECRET@hooks.acme.test/in',
      'https://withheld_by_keybrake@hooks.acme.test/withheld_by_keybrake',
    ],
    [
      'a path behind a backslash',
      'https:\\\\hooks.acme.test\\SECRET',
      'https://hooks.acme.test/withheld_by_keybrake',
    ],
    [
      'a path behind a tab',
      'https://hooks.acme.test/\tSECRET',
      'https://hooks.acme.test/withheld_by_keybrake',
    ],
    ['text that is no URL', 'hooks.acme.test/SECRET', WITHHELD],
    ['a URL without a host', 'mailto:SECRET@acme.test', WITHHELD],
  ])('cuts an endpoint with %s to its origin', (_name, endpoint, expected) => {
    const out = withholdWebhookEndpoints(list(endpoint), op('resend.webhooks.list'));
    if (isDenial(out)) throw new Error('denied');
    expect(endpoints(out)).toEqual([expected]);
    expect(out.toString('utf8')).not.toContain('SECRET');
  });

  it('leaves a bare origin, other operations and an empty answer as they are', () => {
    const bare = list('https://hooks.acme.test/', 'https://hooks.acme.test');
    expect(withholdWebhookEndpoints(bare, op('resend.webhooks.list'))).toBe(bare);
    const other = list('https://hooks.acme.test/in?token=x');
    expect(withholdWebhookEndpoints(other, op('resend.domains.list'))).toBe(other);
    expect(withholdWebhookEndpoints(other, null)).toBe(other);
    expect(withholdWebhookEndpoints(Buffer.alloc(0), op('resend.webhooks.list'))).toHaveLength(0);
  });

  it('withholds a webhook list that is not JSON whole', () => {
    expect(
      withholdWebhookEndpoints(Buffer.from('endpoint=https://h/?t=SECRET'), op('resend.webhooks.list')),
    ).toMatchObject({
      reason: 'credential_in_response',
    });
  });

  it('runs in the adapter before the userinfo rule', () => {
    const out = createResendAdapter().withholdFromAnswer?.(
      list('https://resendhook:Rs3ndPass-456@shop.example.com/resend/webhook', 'https://bare.example.com/'),
      op('resend.webhooks.list'),
    );
    if (out === undefined || isDenial(out)) throw new Error(`not withheld: ${JSON.stringify(out)}`);
    expect(endpoints(out)).toEqual([
      'https://withheld_by_keybrake@shop.example.com/withheld_by_keybrake',
      'https://bare.example.com/',
    ]);
  });
});
