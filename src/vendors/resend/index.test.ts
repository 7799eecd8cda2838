import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import type { CompiledKey } from '../../snapshot/types.ts';
import type { VendorRequest } from '../types.ts';
import { createResendAdapter } from './index.ts';

const key: CompiledKey = {
  uid: 'u',
  namespace: 'agents',
  name: 'mailer',
  vendor: 'resend',
  tokenFingerprint: 'kb_resend_…0000',
  upstream: { kind: 'bearer', token: 're_real' },
  suspended: false,
  policy: { ref: 'agents/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: false },
};
const limits = { maxBytes: 65_536, maxDepth: 8, maxParams: 256 };
// What resend-node sends with every request.
const req: VendorRequest = {
  method: 'POST',
  path: '/emails',
  query: '',
  headers: { 'content-type': 'application/json' },
};

describe('createResendAdapter', () => {
  it('reads the Bearer token, parses JSON and prices per recipient with overrides', () => {
    const adapter = createResendAdapter({ prices: { perEmail: 400 } });
    expect(adapter.credential({ authorization: 'Bearer kb_resend_abc' })).toEqual({ token: 'kb_resend_abc' });
    const params = adapter.parse(
      req,
      Buffer.from('{"from":"a@acme.test","to":["b@x.test","c@x.test"]}'),
      limits,
    );
    if (isDenial(params)) throw new Error('denied');
    expect(adapter.price(req, params, key)).toMatchObject({ costMicros: 800 });
    expect(adapter.upstreamAuthorization(key.upstream)).toBe('Bearer re_real');
    expect(adapter.settle({} as never, 200, { id: 'x' })).toBeUndefined();
  });

  // Sixth round: a webhook's basic-auth endpoint came back whole from a plain list read.
  it("withholds the password of a webhook's endpoint from an answer, keeping the rest", () => {
    const body = Buffer.from(
      JSON.stringify({
        object: 'list',
        data: [{ id: 'wh_1', endpoint: 'https://resendhook:Rs3ndPass-456@shop.example.com/resend/webhook' }],
      }),
    );
    const out = createResendAdapter().withholdFromAnswer?.(body);
    if (out === undefined || isDenial(out)) throw new Error(`not withheld: ${JSON.stringify(out)}`);
    expect(JSON.parse(out.toString('utf8'))).toEqual({
      object: 'list',
      data: [{ id: 'wh_1', endpoint: 'https://withheld_by_keybrake@shop.example.com/resend/webhook' }],
    });
  });

  it.each([
    ['a missing header', {}],
    ['a Basic header', { authorization: 'Basic abc' }],
    ['an empty Bearer', { authorization: 'Bearer ' }],
  ])('finds no credential in %s', (_name, headers) => {
    expect(createResendAdapter().credential(headers)).toBeUndefined();
  });
});
