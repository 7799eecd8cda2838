import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import type { CompiledKey } from '../../snapshot/types.ts';
import type { Operation, VendorRequest } from '../types.ts';
import { createTwilioAdapter } from './index.ts';

const ACCOUNT = 'AC00000000000000000000000000000001';
const key: CompiledKey = {
  uid: 'u',
  namespace: 'agents',
  name: 'bot',
  vendor: 'twilio',
  tokenFingerprint: 'kb_twilio_…0000',
  upstream: { kind: 'basic', username: ACCOUNT, password: 'real-token' },
  suspended: false,
  policy: { ref: 'agents/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: false },
};
const limits = { maxBytes: 65_536, maxDepth: 8, maxParams: 256 };
const req: VendorRequest = {
  method: 'POST',
  path: `/2010-04-01/Accounts/${ACCOUNT}/Messages.json`,
  query: '',
  subHost: 'api',
  // What twilio-node sends with a create.
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
};

describe('createTwilioAdapter', () => {
  it('parses twilio-node’s form body and prices it with overridden rates', () => {
    const adapter = createTwilioAdapter({ prices: { countries: { US: { mmsPerMessage: 40_000 } } } });
    const params = adapter.parse(
      req,
      Buffer.from('To=%2B14155550100&From=%2B14155550199&MediaUrl=a&MediaUrl=b&Body=hi+there'),
      limits,
    );
    expect(params).toEqual({
      To: '+14155550100',
      From: '+14155550199',
      MediaUrl: ['a', 'b'],
      Body: 'hi there',
    });
    if (isDenial(params)) throw new Error('denied');
    const op = adapter.price(req, params, key) as Operation;
    expect(op).toMatchObject({ id: 'twilio.messages.create', costMicros: 40_000 });
    expect(adapter.settle(op, 201, { price: '-0.0300', price_unit: 'USD' })).toBe(30_000);
  });

  it('declares the Twilio request id header', () => {
    const adapter = createTwilioAdapter();
    expect(adapter).toMatchObject({
      name: 'twilio',
      requestIdHeader: 'twilio-request-id',
    });
  });

  // Fourth probe round: a webhook's basic-auth password reached the agent in a number's read.
  it("withholds the user name and password of an answer's URLs", () => {
    const answer = Buffer.from('{"sid":"PN1","sms_url":"https://app:WebhookPw123@app.example.com/sms"}');
    const got = createTwilioAdapter().withholdFromAnswer?.(answer);
    expect(got?.toString()).toBe(
      '{"sid":"PN1","sms_url":"https://withheld_by_keybrake@app.example.com/withheld_by_keybrake"}',
    );
  });

  // Fourteenth round, probe fixtwre14 finding 5: a receiver's token in a webhook's query or path.
  it("withholds the path and query of an answer's webhook URLs, Twilio's own links kept", () => {
    const answer = Buffer.from(
      '{"sid":"PN1","sms_url":"https://app.acme.test/sms?token=tw_hook_1","voice_url":"https://hooks.zapier.com/hooks/catch/1/s3cret/","url":"https://api.twilio.com/2010-04-01/PN1.json"}',
    );
    const got = createTwilioAdapter().withholdFromAnswer?.(answer);
    expect(got?.toString()).toBe(
      '{"sid":"PN1","sms_url":"https://app.acme.test/withheld_by_keybrake","voice_url":"https://hooks.zapier.com/withheld_by_keybrake","url":"https://api.twilio.com/2010-04-01/PN1.json"}',
    );
  });
});
