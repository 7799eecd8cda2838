import { describe, expect, it, vi } from 'vitest';
import { compileEndpointPattern } from '../../patterns/glob.ts';
import { compileHostPattern } from '../../patterns/hosts.ts';
import type { CompiledPolicy } from '../../snapshot/types.ts';
import { NO_PARTIES, type Operation, type OperationClass } from '../../vendors/types.ts';
import { authorize } from './authorize.ts';

const base: CompiledPolicy = { ref: 'agents/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: true };

const charge = (over: Partial<Operation> = {}, parties: Partial<Operation['parties']> = {}): Operation => ({
  id: 'stripe.charges.create',
  class: 'money',
  movesMoney: true,
  costMicros: 10_000_000,
  ...over,
  parties: { ...NO_PARTIES, ...parties },
});

const pattern = (source: string, regex: RegExp) => ({ source, test: (v: string) => regex.test(v) });

describe('authorize', () => {
  it.each<[string, Partial<CompiledPolicy>, Operation, string | undefined, string?]>([
    ['allows anything the catalog knows when nothing is restricted', {}, charge(), undefined],
    [
      'denies an endpoint outside the allowlist',
      { endpoints: [compileEndpointPattern('GET /v1/**')] },
      charge(),
      'endpoint_not_allowed',
    ],
    [
      'denies an unknown operation when no allowlist names it',
      {},
      charge({ id: 'stripe.unknown', class: 'unknown', costMicros: 0 }),
      'price_unknown',
    ],
    [
      'lets an unknown operation through when the allowlist names it',
      { endpoints: [compileEndpointPattern('POST /v1/charges')] },
      charge({ id: 'stripe.unknown', class: 'unknown', costMicros: 0 }),
      undefined,
    ],
    [
      'denies a customer outside the allowlist',
      { customers: new Set(['cus_A']) },
      charge({}, { customers: ['cus_B'] }),
      'customer_not_allowed',
    ],
    [
      'denies a money-moving call naming no customer while a customer allowlist is set',
      { customers: new Set(['cus_A']) },
      charge(),
      'customer_not_allowed',
    ],
    [
      'allows a read naming no customer while a customer allowlist is set',
      { customers: new Set(['cus_A']) },
      charge({ id: 'stripe.read', movesMoney: false, costMicros: 0 }),
      undefined,
    ],
    [
      'denies a Stripe-Account outside the allowlist',
      { accounts: new Set(['acct_1']) },
      charge({}, { accounts: ['acct_2'] }),
      'account_not_allowed',
    ],
    [
      'denies a recipient outside the patterns',
      { recipients: [pattern('+1415555*', /^\+1415555.*$/)] },
      charge({}, { recipients: ['+14155550100', '+442071234567'] }),
      'recipient_not_allowed',
    ],
    [
      'denies a country outside the list',
      { countries: new Set(['US']) },
      charge({}, { countries: ['GB'] }),
      'country_not_allowed',
    ],
    [
      'denies a currency outside the list',
      { currencies: new Set(['usd']) },
      charge({}, { currencies: ['jpy'] }),
      'currency_not_allowed',
    ],
    [
      'denies a sender outside the patterns',
      { senders: [pattern('*@example.com', /^.*@example\.com$/i)] },
      charge({}, { senders: ['a@evil.com'] }),
      'sender_not_allowed',
    ],
    [
      'allows a call of exactly the per-call limit',
      { limits: { perCallMicros: 10_000_000 } },
      charge(),
      undefined,
    ],
    [
      'denies a call one micro-dollar over the per-call limit',
      { limits: { perCallMicros: 9_999_999 } },
      charge(),
      'per_call_limit_exceeded',
      'over the per-call limit of $9.999999',
    ],
    [
      'reports the first denial in chain order',
      { currencies: new Set(['usd']), customers: new Set(['cus_A']) },
      charge({}, { customers: ['cus_B'], currencies: ['jpy'] }),
      'customer_not_allowed',
    ],
  ])('%s', (_name, policy, op, reason, message) => {
    const result = authorize({ policy: { ...base, ...policy }, method: 'POST', path: '/v1/charges', op });
    expect(result?.reason).toBe(reason);
    if (message) expect(result?.message).toContain(message);
  });

  describe('admits operations by class (ADR 0007 §1)', () => {
    // The catalog's DELETE /v1/customers/{customer}, with the class each case gives it; an unknown
    // operation has no catalog id.
    const op = (cls: OperationClass): Operation =>
      charge({
        id: cls === 'unknown' ? 'stripe.unknown' : 'stripe.customers.delete',
        class: cls,
        costMicros: 0,
      });
    const endpoints = (...sources: string[]) => ({ endpoints: sources.map(compileEndpointPattern) });
    const DELETE_CUSTOMER = ['DELETE', '/v1/customers/cus_1'] as const;

    it.each<[string, OperationClass, Partial<CompiledPolicy>, string | undefined]>([
      ['a sensitive operation under no allowlist', 'sensitive', {}, 'credential_operation'],
      [
        'a sensitive operation named exactly',
        'sensitive',
        endpoints('DELETE /v1/customers/cus_1'),
        'credential_operation',
      ],
      ['a read under a glob', 'read', endpoints('DELETE /v1/**'), undefined],
      ['a write under no allowlist', 'write', {}, undefined],
      ['a destructive operation under no allowlist', 'destructive', {}, 'endpoint_not_allowed'],
      [
        'a destructive operation under a glob',
        'destructive',
        endpoints('DELETE /v1/**'),
        'endpoint_not_allowed',
      ],
      [
        'a destructive operation under a one-segment glob',
        'destructive',
        endpoints('DELETE /v1/customers/*'),
        'endpoint_not_allowed',
      ],
      [
        'a destructive operation under a method wildcard',
        'destructive',
        endpoints('* /v1/customers/cus_1'),
        'endpoint_not_allowed',
      ],
      [
        'a destructive operation named by its path',
        'destructive',
        endpoints('DELETE /v1/customers/cus_1'),
        undefined,
      ],
      [
        'a destructive operation named by its template',
        'destructive',
        endpoints('DELETE /v1/customers/{customer}'),
        undefined,
      ],
      [
        'a destructive operation named among globs',
        'destructive',
        endpoints('DELETE /v1/**', 'DELETE /v1/customers/{customer}'),
        undefined,
      ],
      [
        'an unpriced money operation under a glob',
        'money_unpriced',
        endpoints('DELETE /v1/**'),
        'price_unknown',
      ],
      [
        'an unpriced money operation named exactly',
        'money_unpriced',
        endpoints('DELETE /v1/customers/{id}'),
        undefined,
      ],
      ['an unknown operation under no allowlist', 'unknown', {}, 'price_unknown'],
      ['an unknown operation under a glob', 'unknown', endpoints('DELETE /v1/customers/**'), 'price_unknown'],
      ['an unknown operation named exactly', 'unknown', endpoints('DELETE /v1/customers/cus_1'), undefined],
      [
        'an unknown operation under a template',
        'unknown',
        endpoints('DELETE /v1/customers/{customer}'),
        'endpoint_not_allowed',
      ],
      [
        'an exact entry for another path',
        'destructive',
        endpoints('DELETE /v1/customers/cus_2'),
        'endpoint_not_allowed',
      ],
    ])('%s', (_name, cls, policy, reason) => {
      const [method, path] = DELETE_CUSTOMER;
      expect(authorize({ policy: { ...base, ...policy }, method, path, op: op(cls) })?.reason).toBe(reason);
    });
  });

  // Found while reviewing a probe's report: a template entry admitted every operation its path fits,
  // so `GET /emails/{email_id}` (one sent email) also admitted `GET /emails/receiving` (inbound mail).
  it.each<[string, string, string, Operation, string | undefined]>([
    [
      'the operation a template names',
      'GET /emails/{email_id}',
      '/emails/em_1',
      charge({ id: 'resend.emails.get', class: 'read', costMicros: 0 }),
      undefined,
    ],
    [
      "a sibling the template's path also fits",
      'GET /emails/{email_id}',
      '/emails/receiving',
      charge({ id: 'resend.emails.receiving.list', class: 'read', costMicros: 0 }),
      'endpoint_not_allowed',
    ],
    [
      'a sibling of a Stripe update',
      'POST /v1/invoices/{invoice}',
      '/v1/invoices/create_preview',
      charge({ id: 'stripe.invoices.create_preview', class: 'read', costMicros: 0 }),
      'endpoint_not_allowed',
    ],
    // Found by a probe of this round's fix: an entry names no Twilio host, and several share a path.
    [
      'a destructive operation whose template several Twilio hosts share',
      'DELETE /v1/Services/{Sid}',
      '/v1/Services/MG00000000000000000000000000000001',
      charge({ id: 'twilio.messaging.v1.delete_service', class: 'destructive', costMicros: 0 }),
      'endpoint_not_allowed',
    ],
    [
      'the same operation named by its literal path',
      'DELETE /v1/Services/MG00000000000000000000000000000001',
      '/v1/Services/MG00000000000000000000000000000001',
      charge({ id: 'twilio.messaging.v1.delete_service', class: 'destructive', costMicros: 0 }),
      undefined,
    ],
  ])('under a template entry, admits %s only', (_name, entry, path, operation, reason) => {
    const method = entry.split(' ')[0]!;
    const policy = { ...base, endpoints: [compileEndpointPattern(entry)] };
    expect(authorize({ policy, method, path, op: operation })?.reason).toBe(reason);
  });
});

describe('authorize: remote instructions (ADR 0007 §7)', () => {
  const call = (instructions: Operation['instructions'], parties: Partial<Operation['parties']> = {}) =>
    charge({ id: 'twilio.calls.create', costMicros: 14_000, instructions }, parties);
  const url = (u: string, where = 'Url') => ({ kind: 'url' as const, where, url: u });
  const hosts = { twimlHosts: ['twiml.example.com', '*.flows.example.com'].map(compileHostPattern) };

  it.each<[string, Partial<CompiledPolicy>, Operation, string | undefined, RegExp?]>([
    ['passes a call without instructions', {}, call(undefined), undefined],
    [
      'refuses a URL when the policy names no host (absent means none)',
      {},
      call([url('https://twiml.example.com/x')]),
      'instructions_not_allowed',
      /twiml\.example\.com, which is not in this key's allow\.twimlHosts/,
    ],
    [
      'refuses a URL when the policy lists no host',
      { twimlHosts: [] },
      call([url('https://twiml.example.com/x')]),
      'instructions_not_allowed',
    ],
    ['passes a URL on a listed host', hosts, call([url('https://twiml.example.com/x')]), undefined],
    ['passes a URL below a *. entry', hosts, call([url('wss://a.b.flows.example.com/s')]), undefined],
    [
      'refuses the wildcard parent itself',
      hosts,
      call([url('https://flows.example.com/x')]),
      'instructions_not_allowed',
    ],
    [
      'refuses a host that only starts with a listed one',
      hosts,
      call([url('https://twiml.example.com.evil.example/x')]),
      'instructions_not_allowed',
    ],
    [
      'refuses a listed host hidden as user information',
      hosts,
      call([url('https://twiml.example.com@evil.example/x')]),
      'instructions_not_allowed',
      /evil\.example/,
    ],
    [
      'refuses a relative URL',
      hosts,
      call([url('/next', 'Twiml <Redirect>')]),
      'instructions_not_allowed',
      /Twiml <Redirect> is not an absolute/,
    ],
    [
      'refuses the second of two URLs when only the first is allowed',
      hosts,
      call([url('https://twiml.example.com/a'), url('https://evil.example/b', 'FallbackUrl')]),
      'instructions_not_allowed',
      /FallbackUrl/,
    ],
    [
      'refuses a TwiML application whatever the hosts',
      hosts,
      call([{ kind: 'opaque', where: 'ApplicationSid', what: 'a TwiML application' }]),
      'instructions_not_allowed',
      /ApplicationSid hands the call to a TwiML application/,
    ],
    [
      'answers endpoint_not_allowed first for a call the policy does not list',
      { endpoints: [compileEndpointPattern('POST /v1/Messages.json')] },
      call([url('https://evil.example/x')]),
      'endpoint_not_allowed',
    ],
    [
      'checks instructions before recipients',
      { recipients: [pattern('+1415555*', /^\+1415555.*$/)] },
      call([url('https://evil.example/x')], { recipients: ['+447911123456'] }),
      'instructions_not_allowed',
    ],
    [
      'still checks recipients when the instructions are allowed',
      { ...hosts, recipients: [pattern('+1415555*', /^\+1415555.*$/)] },
      call([url('https://twiml.example.com/x', 'Twiml <Dial action>')], { recipients: ['+33612345678'] }),
      'recipient_not_allowed',
    ],
  ])('%s', (_name, over, op, reason, message) => {
    const denial = authorize({
      policy: { ...base, ...over },
      method: 'POST',
      path: '/2010-04-01/Accounts/AC1/Calls.json',
      op,
    });
    expect(denial?.reason).toBe(reason);
    if (message) expect(denial?.message).toMatch(message);
  });
});

// A fourth-round probe: 40 000 entries `GET /v1/*/x<i>/**/*/**` against a 10 KB path of 5 000
// segments held a proxy every tenant shares 5 s per call, each entry splitting the path again.
describe('authorize: the work of one call against a long endpoint list', () => {
  const endpoints = Array.from({ length: 1_000 }, (_, i) =>
    compileEndpointPattern(`GET /v1/*/x${i}/**/*/**`),
  );
  const unknown = charge({ id: 'stripe.unknown', class: 'unknown', movesMoney: false, costMicros: 0 });
  /** The denial, and how many times the path (or its tail) was split on the way. */
  const splits = (path: string) => {
    const split = vi.spyOn(String.prototype, 'split');
    try {
      const denial = authorize({ policy: { ...base, endpoints }, method: 'GET', path, op: unknown });
      return {
        denial,
        splits: split.mock.contexts.filter((s) => String(s).length >= path.length - 1).length,
      };
    } finally {
      split.mockRestore();
    }
  };

  it('splits the path once for the whole list, not once per entry', () => {
    const path = `/v1/${Array.from({ length: 30 }, (_, i) => `s${i}`).join('/')}`;
    expect(splits(path)).toEqual({
      denial: expect.objectContaining({ reason: 'endpoint_not_allowed' }),
      splits: 1,
    });
  });

  it('does not split a path of more than 32 segments at all: no entry matches it', () => {
    const path = `/v1/${'a/'.repeat(5_000)}x`;
    expect(splits(path)).toEqual({
      denial: expect.objectContaining({ reason: 'endpoint_not_allowed' }),
      splits: 0,
    });
  });
});
