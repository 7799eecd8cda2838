import { describe, expect, it, vi } from 'vitest';
import { SpendPolicySpecSchema } from '../../api/v1alpha1/spend-policy.ts';
import { compileEndpointPattern, compileValuePattern } from '../../patterns/glob.ts';
import { compileHostPattern } from '../../patterns/hosts.ts';
import type { CompiledPolicy } from '../../snapshot/types.ts';
import { RESEND_OPERATIONS } from '../../vendors/resend/operations.ts';
import { STRIPE_OPERATIONS } from '../../vendors/stripe/operations.ts';
import { TWILIO_OPERATIONS } from '../../vendors/twilio/operations.ts';
import { NO_PARTIES, type Operation, type OperationClass } from '../../vendors/types.ts';
import type { CallContext, PipelineDeps } from '../context.ts';
import { authorize, authorizeAfterLookup, authorizeBeforeLookup } from './authorize.ts';

const base: CompiledPolicy = { ref: 'agents/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: true };

const charge = (over: Partial<Operation> = {}, parties: Partial<Operation['parties']> = {}): Operation => ({
  id: 'stripe.charges.create',
  class: 'money',
  movesMoney: true,
  costMicros: 10_000_000,
  ...over,
  parties: { ...NO_PARTIES, ...parties },
});

const pattern = (source: string) => compileValuePattern(source, { caseInsensitive: true });

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
      { recipients: [pattern('+1415555*')] },
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
      { senders: [pattern('*@example.com')] },
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

// Found by a new-user walkthrough (sixth round): the refusal suggested only the call's own path, and
// an entry copied from it admitted that one object; the next customer deleted was refused again.
describe('authorize: the entries a refusal suggests', () => {
  const globs = { endpoints: ['POST /**', 'DELETE /**'].map(compileEndpointPattern) };
  const refusal = (method: string, path: string, operation: Operation) =>
    authorize({ policy: { ...base, ...globs }, method, path, op: operation })?.message;

  it.each<[string, string, string, Operation, string]>([
    [
      'the catalog template, for every object, and the path, for this one',
      'DELETE',
      '/v1/customers/cus_RnacxDULJHU3B75',
      charge({ id: 'stripe.customers.delete', class: 'destructive', costMicros: 0 }),
      '(e.g. "DELETE /v1/customers/{customer}" for any customer, or "DELETE /v1/customers/cus_RnacxDULJHU3B75" for this one, no wildcard)',
    ],
    [
      'every placeholder of a template by its name',
      'DELETE',
      '/audiences/78261eea-8f8b-4381-83c6-79fa7120f1cf/contacts/c1',
      charge({ id: 'resend.audiences.contacts.remove', class: 'destructive', costMicros: 0 }),
      '"DELETE /audiences/{audience_id}/contacts/{contact_id}" for any audience_id and contact_id, or',
    ],
    [
      'the path alone for an operation the catalogs do not hold',
      'POST',
      '/v1/widgets/w_1',
      charge({ id: 'stripe.unknown', class: 'unknown', costMicros: 0 }),
      '(e.g. "POST /v1/widgets/w_1", no wildcard)',
    ],
    [
      'the path alone when it has no placeholder',
      'POST',
      '/contacts',
      charge({ id: 'resend.contacts.create', class: 'destructive', costMicros: 0 }),
      '(e.g. "POST /contacts", no wildcard)',
    ],
    [
      'the path alone when several Twilio hosts share the template',
      'DELETE',
      '/v1/Services/MG00000000000000000000000000000001',
      charge({ id: 'twilio.messaging.v1.delete_service', class: 'destructive', costMicros: 0 }),
      '(e.g. "DELETE /v1/Services/MG00000000000000000000000000000001", no wildcard)',
    ],
  ])('suggests %s', (_name, method, path, operation, suggestion) => {
    expect(refusal(method, path, operation)).toContain(suggestion);
  });

  it('names what in the body raised the class, beside the catalog it contradicts', () => {
    const op = charge({
      id: 'resend.contacts.create',
      class: 'destructive',
      costMicros: 0,
      raisedBy: 'unsubscribed: false (an opt-in)',
    });
    expect(refusal('POST', '/contacts', op)).toBe(
      'POST /contacts (resend.contacts.create) is destructive: name it exactly in allow.endpoints (e.g. "POST /contacts", no wildcard) to let it through. Its body makes it so: unsubscribed: false (an opt-in); `keybrake catalog` gives the class of its method and path alone.',
    );
  });

  it('admits the object the suggested template names, and another', () => {
    const op = charge({ id: 'stripe.customers.delete', class: 'destructive', costMicros: 0 });
    const suggested = /e\.g\. "([^"]+)"/.exec(refusal('DELETE', '/v1/customers/cus_1', op)!)![1]!;
    const policy = { ...base, endpoints: [compileEndpointPattern(suggested)] };
    for (const path of ['/v1/customers/cus_1', '/v1/customers/cus_2']) {
      expect(authorize({ policy, method: 'DELETE', path, op })).toBeUndefined();
    }
  });
});

// Seventh round: a key of caps only was told to add "OPTIONS /v1/charges/ch_1" to allow.endpoints,
// which the schema refuses (no entry names OPTIONS, HEAD, TRACE…). Every entry a refusal suggests
// must be one a policy can hold and one that lets that very call through.
describe('authorize: every suggested entry is valid and admits the call', () => {
  const refusal = (method: string, path: string, op: Operation) =>
    authorize({ policy: base, method, path, op })?.message ?? '';
  const suggestions = (message: string) => [...message.matchAll(/"([A-Z]+ \/[^"]*)"/g)].map((m) => m[1]!);
  const holdable = (entry: string) =>
    SpendPolicySpecSchema.safeParse({ vendor: 'stripe', allow: { endpoints: [entry] } }).success;

  const catalogued = [...STRIPE_OPERATIONS, ...TWILIO_OPERATIONS, ...RESEND_OPERATIONS].map(
    (row): [string, string, Operation] => [
      row.method,
      row.path.replace(/\{[^{}/]+\}/g, 'id_1'),
      charge({ id: row.id, class: 'destructive', costMicros: 0 }),
    ],
  );
  const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND'];
  const paths = [
    '/v1/charges/ch_1',
    '/v1/customers/cus_*',
    '/v1/customers/{x}',
    '/v1/customers/',
    '/',
    `/v1/${'x'.repeat(300)}`,
    `/${'a/'.repeat(40)}b`,
    '/v1/a%20b',
  ];
  const odd = methods.flatMap((method) =>
    paths.flatMap((path): [string, string, Operation][] => [
      [method, path, charge({ id: 'stripe.unknown', class: 'unknown', costMicros: 0 })],
      [method, path, charge({ id: 'stripe.customers.delete', class: 'destructive', costMicros: 0 })],
    ]),
  );

  it('holds for every catalogued operation and for odd methods and paths', () => {
    for (const [method, path, op] of [...catalogued, ...odd]) {
      const message = refusal(method, path, op);
      const entries = suggestions(message);
      if (entries.length === 0) expect(message).toMatch(/no allow\.endpoints entry can name/);
      for (const entry of entries) {
        expect(holdable(entry), `${entry} (suggested for ${method} ${path})`).toBe(true);
        const policy = { ...base, endpoints: [compileEndpointPattern(entry)] };
        expect(authorize({ policy, method, path, op }), `${entry} admits ${method} ${path}`).toBeUndefined();
      }
    }
  });

  it.each(['OPTIONS', 'HEAD', 'TRACE', 'PROPFIND'])('says no entry can name %s', (method) => {
    const op = charge({ id: 'stripe.unknown', class: 'unknown', costMicros: 0 });
    expect(authorize({ policy: base, method, path: '/v1/charges/ch_1', op })).toEqual({
      reason: 'price_unknown',
      message: `${method} /v1/charges/ch_1 is an operation Keybrake does not know: no allow.endpoints entry can name the method ${method} (only GET, POST, PUT, PATCH, DELETE), so Keybrake never lets it through.`,
    });
  });

  // Eighth round: OPTIONS /v1/charges under a list of other entries was "not in this key's endpoint
  // allowlist", and the user went looking for the entry policy-check refuses.
  it.each(['OPTIONS', 'HEAD', 'TRACE'])('says no entry can name %s when no entry matches it', (method) => {
    const policy = { ...base, endpoints: [compileEndpointPattern('POST /v1/payment_intents')] };
    const op = charge({ id: 'stripe.unknown', class: 'unknown', costMicros: 0 });
    expect(authorize({ policy, method, path: '/v1/charges', op })).toEqual({
      reason: 'endpoint_not_allowed',
      message: `${method} /v1/charges is not in this key's endpoint allowlist, and no allow.endpoints entry can name the method ${method} (only GET, POST, PUT, PATCH, DELETE), so Keybrake never lets it through.`,
    });
  });

  it('says only a * entry matches a HEAD that mirrors a read, and such an entry admits it', () => {
    const read = charge({ id: 'resend.emails.get', class: 'read', movesMoney: false, costMicros: 0 });
    const listed = { ...base, endpoints: [compileEndpointPattern('POST /emails')] };
    expect(authorize({ policy: listed, method: 'HEAD', path: '/emails/e_1', op: read })?.message).toBe(
      "HEAD /emails/e_1 is not in this key's endpoint allowlist, and no allow.endpoints entry can name the method HEAD (only GET, POST, PUT, PATCH, DELETE): only an entry whose method is * matches it.",
    );
    const star = { ...base, endpoints: [compileEndpointPattern('* /emails/*')] };
    expect(authorize({ policy: star, method: 'HEAD', path: '/emails/e_1', op: read })).toBeUndefined();
  });

  it('keeps the short refusal for a method an entry can name', () => {
    const policy = { ...base, endpoints: [compileEndpointPattern('GET /v1/**')] };
    expect(authorize({ policy, method: 'POST', path: '/v1/charges', op: charge() })?.message).toBe(
      "POST /v1/charges is not in this key's endpoint allowlist.",
    );
  });

  it('offers the template alone when the path as an entry would be a glob', () => {
    const op = charge({ id: 'stripe.customers.delete', class: 'destructive', costMicros: 0 });
    expect(refusal('DELETE', '/v1/customers/cus_*', op)).toContain(
      '(e.g. "DELETE /v1/customers/{customer}" for any customer, no wildcard)',
    );
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
      { recipients: [pattern('+1415555*')] },
      call([url('https://evil.example/x')], { recipients: ['+447911123456'] }),
      'instructions_not_allowed',
    ],
    [
      'still checks recipients when the instructions are allowed',
      { ...hosts, recipients: [pattern('+1415555*')] },
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

// Fifth round: a 128 000-character `transfer_data[destination]` against 10 000 recipient globs held a
// replica 45 s (and was forwarded, `acct_*` matching it); the second half of the stage judged it again.
describe('authorize: recipients and senders too long, too many or already judged', () => {
  const any = { recipients: [pattern('*')], senders: [pattern('*')] };

  it.each<[string, Partial<Operation['parties']>, string | undefined]>([
    ['passes a recipient of 512 characters', { recipients: ['a'.repeat(512)] }, undefined],
    ['refuses a recipient of 513', { recipients: ['+1', 'a'.repeat(513)] }, 'recipient_not_allowed'],
    ['refuses a sender of 513', { senders: [`${'a'.repeat(501)}@example.com`] }, 'sender_not_allowed'],
    // Sixth round follow-up: a SIP recipient is judged as sip:user@host, its headers left out, so it
    // gets no more room than any other party (it had 2 048 characters "for its headers").
    ['refuses a SIP URI of 513', { recipients: [`sip:${'a'.repeat(509)}`] }, 'recipient_not_allowed'],
    [
      'refuses one too long even after one no entry matches',
      { recipients: ['x', 'a'.repeat(600)] },
      'recipient_not_allowed',
    ],
  ])('%s', (_name, parties, reason) => {
    const denial = authorize({
      policy: { ...base, ...any },
      method: 'POST',
      path: '/v1/x',
      op: charge({}, parties),
    });
    expect(denial?.reason).toBe(reason);
  });

  // Sixth round: it quoted the value's first 64 characters, where a token the agent brought could
  // cross the cut and show part of itself, which no redaction recognises.
  it('names an over-long value by its length alone, none of its text, and matches nothing against it', () => {
    const test = vi.fn(() => true);
    const recipients = [{ source: '*', test, testWithin: test }];
    const value = `acct_${'a'.repeat(40)}kb_stripe_${'Q'.repeat(128_000)}`;
    const denial = authorize({
      policy: { ...base, recipients },
      method: 'POST',
      path: '/v1/payment_intents',
      op: charge({}, { recipients: ['acct_1', value] }),
    });
    expect(denial).toEqual({
      reason: 'recipient_not_allowed',
      message:
        "Recipient of 128055 characters: longer than any real one (at most 512), and not in this key's recipient allowlist.",
    });
    expect(test).not.toHaveBeenCalled();
  });

  it('judges no value when there is no list', () => {
    const op = charge({}, { recipients: ['a'.repeat(100_000)], senders: ['a'.repeat(100_000)] });
    expect(authorize({ policy: base, method: 'POST', path: '/v1/x', op })).toBeUndefined();
  });

  it('refuses a call whose values would scan the list past its budget', () => {
    const recipients = [
      ...Array.from({ length: 10_000 }, (_, i) => pattern(`acct_*a${i}*b*c*`)),
      pattern('acct_*'),
    ];
    const values = Array.from({ length: 400 }, (_, i) => `acct_${i}${'a'.repeat(500)}`);
    const denial = authorize({
      policy: { ...base, recipients },
      method: 'POST',
      path: '/v1/x',
      op: charge({}, { recipients: values }),
    });
    expect(denial).toEqual({
      reason: 'recipient_not_allowed',
      message: expect.stringMatching(/more recipients than Keybrake can check .* in one call/),
    });
  });

  describe('the two halves of the stage', () => {
    const counted = (source: string) => {
      const p = pattern(source);
      const testWithin = vi.fn(p.testWithin.bind(p));
      return { source, test: p.test.bind(p), testWithin };
    };
    const run = (before: Operation['parties'], after: Operation['parties']) => {
      const recipients = [counted('+1415555*')];
      const senders = [counted('*@example.com')];
      const ctx = {
        policy: { ...base, recipients, senders },
        method: 'POST',
        path: '/v1/x',
        op: charge({}, before),
      } as unknown as CallContext;
      const deps = {} as PipelineDeps;
      const first = authorizeBeforeLookup(ctx, deps);
      const judged = (l: { testWithin: ReturnType<typeof vi.fn> }[]) =>
        l[0]!.testWithin.mock.calls.map((c) => c[0].value);
      const beforeCalls = [judged(recipients), judged(senders)];
      recipients[0]!.testWithin.mockClear();
      senders[0]!.testWithin.mockClear();
      ctx.op = { ...ctx.op!, parties: after };
      const second = authorizeAfterLookup(ctx, deps);
      return { first, second, before: beforeCalls, after: [judged(recipients), judged(senders)] };
    };
    const parties = { ...NO_PARTIES, recipients: ['+14155550100'], senders: ['a@example.com'] };

    it('judges nothing again after a call without a lookup', () => {
      expect(run(parties, parties)).toEqual({
        first: undefined,
        second: undefined,
        before: [['+14155550100'], ['a@example.com']],
        after: [[], []],
      });
    });

    it('judges only the recipients and senders a lookup added', () => {
      const added = {
        ...parties,
        recipients: ['+14155550100', '+14155550199'],
        senders: ['a@example.com', 'b@evil.com'],
      };
      expect(run(parties, added)).toEqual({
        first: undefined,
        second: expect.objectContaining({ reason: 'sender_not_allowed' }),
        before: [['+14155550100'], ['a@example.com']],
        after: [['+14155550199'], ['b@evil.com']],
      });
    });
  });
});

// Tenth round (LOW): a confirm, capture or refund naming any object made Keybrake read it with the
// real key, and the refusal quoted the customer and amount it found: a key that may read nothing
// mapped ids of the account to customers and amounts. What the request named is still quoted.
describe("authorize: a refusal quotes no value Keybrake's own lookup found", () => {
  const named = { ...NO_PARTIES, recipients: ['+14155550100'], senders: ['a@example.com'] };
  const policy: CompiledPolicy = {
    ...base,
    customers: new Set(['cus_allowed']),
    currencies: new Set(['usd']),
    countries: new Set(['US']),
    recipients: [pattern('+1415555*')],
    senders: [pattern('*@example.com')],
    limits: { perCallMicros: 50_000_000 },
  };
  it.each<[string, Partial<Operation['parties']>, number, string, RegExp]>([
    [
      'the customer',
      { customers: ['cus_SECRETOTHER'] },
      1,
      'customer_not_allowed',
      /^The customer of the object/,
    ],
    ['the currency', { currencies: ['xof'] }, 1, 'currency_not_allowed', /^The currency of the object/],
    [
      'a recipient',
      { recipients: ['+14155550100', '+33612345678'] },
      1,
      'recipient_not_allowed',
      /^A recipient of the object/,
    ],
    [
      'a recipient too long to be real',
      { recipients: ['+14155550100', `+1${'9'.repeat(600)}`] },
      1,
      'recipient_not_allowed',
      /^A recipient of the object/,
    ],
    [
      'the sender',
      { senders: ['a@example.com', 'ceo@victim.example'] },
      1,
      'sender_not_allowed',
      /^The sender of the object/,
    ],
    ['a country', { countries: ['FR'] }, 1, 'country_not_allowed', /^A destination of the object .* country/],
    [
      'the amount',
      {},
      987_650_000,
      'per_call_limit_exceeded',
      /^The amount of the object .* per-call limit of \$50\.00\.$/,
    ],
  ])('%s', (_what, found, costMicros, reason, message) => {
    const op = charge({ costMicros }, { ...named, customers: ['cus_allowed'], ...found });
    const denial = authorize({
      policy,
      method: 'POST',
      path: '/v1/refunds',
      op,
      named: { ...named, customers: [] },
    });
    expect(denial).toEqual({ reason, message: expect.stringMatching(message) });
    for (const text of ['SECRETOTHER', 'xof', '33612345678', '999', 'victim', 'FR', '987']) {
      expect(denial!.message).not.toContain(text);
    }
  });

  it('still quotes what the request itself named, and the cost the request gave', () => {
    const op = charge({ costMicros: 60_000_000 }, { customers: ['cus_other'] });
    const input = { policy, method: 'POST', path: '/v1/charges', op, named: op.parties };
    expect(authorize(input)?.message).toBe("Customer cus_other is not in this key's customer allowlist.");
    expect(
      authorize({
        policy,
        method: 'POST',
        path: '/v1/charges',
        op: charge({ costMicros: 60_000_000 }, { customers: ['cus_allowed'] }),
      })?.message,
    ).toBe('This call costs $60.00, over the per-call limit of $50.00.');
  });
});

// Found by a probe (thirteenth round): an entry names no Twilio host, and a literal path several hosts
// share admitted every host's operation on it: `POST /v2/Services` written for Verify created an
// Intelligence service (unpriced), `POST /v1/Services` for Messaging a Sync or Proxy one (destructive),
// `POST /v1/Users/alice` for Conversations updated her on Frontline (unpriced).
describe('authorize: a literal path several Twilio hosts share', () => {
  const sid = (prefix: string) => `${prefix}${'0'.repeat(31)}1`;
  const verdict = (entry: string, method: string, path: string, op: Operation) =>
    authorize({ policy: { ...base, endpoints: [compileEndpointPattern(entry)] }, method, path, op })?.reason;
  const row = (id: string) => TWILIO_OPERATIONS.find((r) => r.id === id)!;
  const opOf = (id: string) => charge({ id, class: row(id).class as OperationClass, costMicros: 0 });

  it.each<[string, string, string, string | undefined]>([
    ['POST /v2/Services', '/v2/Services', 'twilio.intelligence.v2.create_service', 'price_unknown'],
    ['POST /v1/Services', '/v1/Services', 'twilio.sync.v1.create_service', 'endpoint_not_allowed'],
    ['POST /v1/Services', '/v1/Services', 'twilio.proxy.v1.create_service', 'endpoint_not_allowed'],
    ['POST /v1/Users/alice', '/v1/Users/alice', 'twilio.frontline_api.v1.update_user', 'price_unknown'],
    [
      'DELETE /v1/Services/my-name',
      '/v1/Services/my-name',
      'twilio.sync.v1.delete_service',
      'endpoint_not_allowed',
    ],
    // A Frontline user is the Conversations user of the same SID: the SID names the user, not the host.
    [
      `POST /v1/Users/${sid('US')}`,
      `/v1/Users/${sid('US')}`,
      'twilio.frontline_api.v1.update_user',
      'price_unknown',
    ],
    [
      `POST /v1/Users/${sid('US')}`,
      `/v1/Users/${sid('US')}`,
      'twilio.conversations.v1.update_user',
      undefined,
    ],
    // What such entries are written for: a write a glob admits passes as before, and a SID pins the
    // object of a destructive one (another product answers 404 for it).
    ['POST /v2/Services', '/v2/Services', 'twilio.chat.v2.create_service', undefined],
    ['POST /v1/Services', '/v1/Services', 'twilio.messaging.v1.create_service', undefined],
    ['POST /v1/Users/alice', '/v1/Users/alice', 'twilio.conversations.v1.update_user', undefined],
    [
      `DELETE /v1/Services/${sid('IS')}`,
      `/v1/Services/${sid('IS')}`,
      'twilio.sync.v1.delete_service',
      undefined,
    ],
    [
      `POST /v1/Services/${sid('KS')}/PhoneNumbers`,
      `/v1/Services/${sid('KS')}/PhoneNumbers`,
      'twilio.proxy.v1.create_phone_number',
      undefined,
    ],
  ])('the entry "%s" on %s as %s: %s', (entry, path, id, reason) => {
    expect(verdict(entry, entry.split(' ')[0]!, path, opOf(id))).toBe(reason);
  });

  it('says no entry can name a shared path without SIDs, and suggests none', () => {
    const op = opOf('twilio.intelligence.v2.create_service');
    const message = authorize({ policy: base, method: 'POST', path: '/v2/Services', op })?.message;
    expect(message).toContain('several Twilio hosts share this path');
    expect(message).not.toMatch(/"POST \//);
  });

  // Every destructive or unpriced operation on a template several hosts share, by its own literal path.
  const shared = (() => {
    const hosts = new Map<string, Set<string>>();
    for (const r of TWILIO_OPERATIONS) {
      const key = `${r.method} ${r.path.replace(/\{[^{}/]+\}/g, '{}')}`;
      hosts.set(key, (hosts.get(key) ?? new Set()).add(r.host));
    }
    return TWILIO_OPERATIONS.filter(
      (r) =>
        ['destructive', 'money_unpriced'].includes(r.class) &&
        hosts.get(`${r.method} ${r.path.replace(/\{[^{}/]+\}/g, '{}')}`)!.size > 1,
    );
  })();

  it('names such an operation only by a path whose every id is a SID', () => {
    expect(shared.length).toBeGreaterThan(20);
    for (const r of shared) {
      const op = opOf(r.id);
      const bySid = r.path.replace(/\{[^{}/]+\}/g, sid('XX'));
      const byName = r.path.replace(/\{[^{}/]+\}/g, 'alice');
      // Conversations and Frontline hold the same users: a SID there names no host either.
      const sameObjects = r.id === 'twilio.frontline_api.v1.update_user';
      const expected = r.path.includes('{') && !sameObjects ? undefined : 'admitted by no literal';
      const got = verdict(`${r.method} ${bySid}`, r.method, bySid, op);
      expect(got === undefined ? undefined : 'admitted by no literal', `${r.method} ${bySid} (${r.id})`).toBe(
        expected,
      );
      expect(verdict(`${r.method} ${byName}`, r.method, byName, op), `${r.method} ${byName}`).toBeDefined();
    }
  });
});

// Thirteenth round (probe legit13 finding 3): resend-mcp sends its configured reply-to on every
// broadcast, and the refusal named an address the agent never gave, as a plain recipient.
describe('authorize: a recipient the call stores under a field of its own', () => {
  const draft = (over: Partial<Operation> = {}): Operation => ({
    id: 'resend.broadcasts.create',
    class: 'money',
    movesMoney: false,
    costMicros: 0,
    parties: { ...NO_PARTIES, recipients: ['support@acme.test', 'ann@example.com'] },
    ...over,
  });
  const policy = { ...base, recipients: [pattern('*@example.com')] };
  const judge = (op: Operation) => authorize({ policy, method: 'POST', path: '/broadcasts', op });

  it('is refused by that field', () => {
    const denial = judge(draft({ storedRecipientFields: new Map([['support@acme.test', 'reply_to']]) }));
    expect(denial).toMatchObject({ reason: 'recipient_not_allowed' });
    expect(denial?.message).toMatch(
      /^The reply_to support@acme\.test this call stores is not in this key's recipient allowlist: a stored reply_to is judged as a recipient/,
    );
  });

  it('leaves the others named as recipients', () => {
    const denial = judge(
      draft({
        parties: { ...NO_PARTIES, recipients: ['evil@attacker.test'] },
        storedRecipientFields: new Map([['support@acme.test', 'reply_to']]),
      }),
    );
    expect(denial?.message).toBe("Recipient evil@attacker.test is not in this key's recipient allowlist.");
    expect(judge(draft())?.message).toBe(
      "Recipient support@acme.test is not in this key's recipient allowlist.",
    );
  });
});
