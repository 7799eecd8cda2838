import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AllowSchema, MAX_ENDPOINTS } from '../api/v1alpha1/spend-policy.ts';
import { STRIPE_OPERATIONS } from '../vendors/stripe/operations.ts';
import { TWILIO_OPERATIONS } from '../vendors/twilio/operations.ts';
import { UsageError } from './args.ts';
import { catalogCommand, printCatalog } from './catalog.ts';

describe('keybrake catalog', () => {
  it('prints a vendor table as aligned text under a header', () => {
    const lines = catalogCommand(['stripe']).split('\n');
    expect(lines[0]).toMatch(/^ENDPOINT +OPERATION +CLASS$/);
    expect(lines).toHaveLength(STRIPE_OPERATIONS.length + 1);
    expect(lines).toContainEqual(
      expect.stringMatching(/^POST \/v1\/refunds +stripe\.refunds\.create +money$/),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(/^POST \/v1\/ephemeral_keys +stripe\.ephemeral_keys\.create +sensitive$/),
    );
  });

  // A new user copied `DELETE  /v1/customers/{customer}` (the METHOD column padded) into a policy,
  // which refused it.
  it.each([
    ['stripe', 0, 'DELETE /v1/customers/{customer}'],
    ['twilio', 1, 'DELETE /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json'],
    ['resend', 0, 'DELETE /domains/{domain_id}'],
  ])(
    'prints every %s endpoint as an allow.endpoints entry that validates as copied',
    (vendor, column, one) => {
      const endpoints = catalogCommand([vendor])
        .split('\n')
        .slice(1)
        .map((line) => line.split(/ {2,}/)[column]!);
      expect(endpoints).toContain(one);
      for (let i = 0; i < endpoints.length; i += MAX_ENDPOINTS) {
        const allow = { endpoints: endpoints.slice(i, i + MAX_ENDPOINTS) };
        expect(AllowSchema.safeParse(allow).error?.issues).toBeUndefined();
      }
    },
  );

  it('prints the host of Twilio operations', () => {
    const lines = catalogCommand(['twilio']).split('\n');
    expect(lines[0]).toMatch(/^HOST +ENDPOINT +OPERATION +CLASS$/);
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^api +POST \/2010-04-01\/Accounts\/\{AccountSid\}\/Messages\.json +twilio\.messages\.create +money$/,
      ),
    );
  });

  it('prints one JSON object per line with exactly method, path, operation and class', () => {
    const objects = catalogCommand(['resend', '--json'])
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, string>);
    expect(objects).toContainEqual({
      method: 'POST',
      path: '/emails',
      operation: 'resend.emails.send',
      class: 'money',
    });
    for (const o of objects) expect(Object.keys(o)).toEqual(['method', 'path', 'operation', 'class']);
  });

  it('adds the host for Twilio, first', () => {
    const objects = catalogCommand(['twilio', '--json'])
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(objects).toHaveLength(TWILIO_OPERATIONS.length);
    expect(objects).toContainEqual({
      host: 'verify',
      method: 'POST',
      path: '/v2/Services/{ServiceSid}/Verifications',
      operation: 'twilio.verify.verifications.create',
      class: 'money',
    });
    expect(Object.keys(objects[0])).toEqual(['host', 'method', 'path', 'operation', 'class']);
  });

  it.each([[[]], [['paypal']], [['stripe', 'twilio']], [['stripe', '--yaml']]])(
    'refuses %j with a usage error',
    (argv) => {
      expect(() => catalogCommand(argv)).toThrow(UsageError);
    },
  );

  it('writes the table to its output', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    expect(await printCatalog(['resend'], out)).toBe(0);
    expect(Buffer.concat(chunks).toString()).toMatch(/^ENDPOINT .*\n[\s\S]*resend\.emails\.send/);
  });

  it('ends quietly when the reader has gone (keybrake catalog twilio | head)', async () => {
    const closed = new Writable({
      write(_chunk, _encoding, callback) {
        callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    expect(await printCatalog(['twilio'], closed)).toBe(0);
  });
});
