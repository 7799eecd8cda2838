import { describe, expect, it } from 'vitest';
import { v2SensitiveDenial } from './v2-sensitive.ts';

describe('v2SensitiveDenial', () => {
  // The first segment is read on its own before the rest (every Stripe call passes here): each
  // spelling a lenient router reads as `v2` must still find the refused operation.
  it.each([
    '/v2/core/account_links',
    '/V2/core/account_links',
    '/v2./core/account_links',
    '/v2%20/core/account_links',
    '/v%32/core/account_links',
    '/v2;x/core/account_links',
    '/%76%32/core/account_links',
    '/ｖ２/core/account_links',
    '/v2/core/account_links/',
    '/v2/Core/Account_Links',
  ])('refuses %s', (path) => {
    expect(v2SensitiveDenial('POST', path)).toMatchObject({ reason: 'credential_operation' });
  });

  it.each([
    ['POST', '/v1/account_links'],
    ['POST', '/v20/core/account_links'],
    ['POST', '/v/core/account_links'],
    ['POST', '/'],
    ['POST', '//v2/core/account_links'],
    ['GET', '/v2/core/account_links'],
    ['POST', '/v2/core/account_links/x/y'],
  ])('leaves %s %s to the catalog', (method, path) => {
    expect(v2SensitiveDenial(method, path)).toBeUndefined();
  });
});
