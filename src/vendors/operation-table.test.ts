import { describe, expect, it } from 'vitest';
import { deny, isDenial } from '../decision/reasons.ts';
import {
  compileOperations,
  type LockFieldReader,
  type OperationRow,
  resolveLocks,
} from './operation-table.ts';

const row = (id: string, method: string, path: string): OperationRow => ({
  id,
  method,
  path,
  class: 'write',
});

const ROWS: readonly OperationRow[] = [
  row('x.update', 'POST', '/emails/{id}'),
  row('x.batch', 'POST', '/emails/batch'),
  row('x.capture', 'POST', '/v1/charges/{charge}/capture'),
  row('x.invoice', 'POST', '/v1/invoices/{invoice}'),
  row('x.preview', 'POST', '/v1/invoices/create_preview'),
  row('x.invoice_lines', 'POST', '/v1/invoices/{invoice}/lines'),
  row('x.preview_lines', 'GET', '/v1/invoices/create_preview/x'),
  row('x.message', 'POST', '/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json'),
  row('x.messages', 'POST', '/2010-04-01/Accounts/{AccountSid}/Messages.json'),
  row('x.media', 'POST', '/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media.json'),
  row('x.account', 'GET', '/2010-04-01/Accounts/{Sid}.json'),
  row('x.bare', 'GET', '/2010-04-01/Accounts/{Sid}'),
  row('x.accounts', 'GET', '/2010-04-01/Accounts.json'),
  row('x.config', 'PUT', '/domains/**'),
  row('x.domain_verify', 'PUT', '/domains/{id}/verify'),
];
const match = compileOperations(ROWS);

describe('an operations table matches', () => {
  it.each([
    [
      'a literal path over a template that also matches it, whatever the table order',
      'POST',
      '/emails/batch',
      'x.batch',
      [],
    ],
    ['a placeholder as one segment', 'POST', '/emails/em_1', 'x.update', ['em_1']],
    ['placeholders in path order', 'POST', '/v1/charges/ch_1/capture', 'x.capture', ['ch_1']],
    ['a literal segment over a placeholder', 'POST', '/v1/invoices/create_preview', 'x.preview', []],
    [
      'a placeholder whose value only starts like a literal',
      'POST',
      '/emails/batches',
      'x.update',
      ['batches'],
    ],
    ['the template after the literal', 'POST', '/v1/invoices/in_1', 'x.invoice', ['in_1']],
    [
      'a placeholder followed by a literal suffix in the same segment',
      'POST',
      '/2010-04-01/Accounts/AC1/Messages/SM1.json',
      'x.message',
      ['AC1', 'SM1'],
    ],
    [
      'a Twilio 2010 list with its .json',
      'POST',
      '/2010-04-01/Accounts/AC1/Messages.json',
      'x.messages',
      ['AC1'],
    ],
    [
      'placeholders of one shape under different names',
      'POST',
      '/2010-04-01/Accounts/AC1/Messages/SM1/Media.json',
      'x.media',
      ['AC1', 'SM1'],
    ],
    ['a suffixed placeholder over a bare one', 'GET', '/2010-04-01/Accounts/AC1.json', 'x.account', ['AC1']],
    ['the bare placeholder without the suffix', 'GET', '/2010-04-01/Accounts/AC1', 'x.bare', ['AC1']],
    ['a literal with a dot', 'GET', '/2010-04-01/Accounts.json', 'x.accounts', []],
    ['the path a /** template names', 'PUT', '/domains', 'x.config', []],
    ['anything below it', 'PUT', '/domains/d_1/other', 'x.config', []],
    ['a more specific template below a /**', 'PUT', '/domains/d_1/verify', 'x.domain_verify', ['d_1']],
  ])('%s', (_name, method, path, id, segments) => {
    expect(match(method, path)).toEqual({ row: expect.objectContaining({ id }), segments });
  });
});

describe('an operations table does not match', () => {
  it.each([
    ['another method', 'GET', '/emails/batch'],
    ['an unknown method', 'PATCH', '/emails/batch'],
    ['an empty segment', 'POST', '/v1/charges//capture'],
    ['a segment more', 'POST', '/emails/em_1/x'],
    ['a trailing slash', 'POST', '/emails/'],
    ['a path without a leading slash', 'POST', 'emails/batch'],
    ['a literal dot as any character', 'POST', '/2010-04-01/Accounts/AC1/Messages/SM1xjson'],
    ['a suffix with nothing before it', 'POST', '/2010-04-01/Accounts/AC1/Messages/.json'],
    ['a prefix of a /** template', 'PUT', '/domainsX'],
    ['an unknown path', 'POST', '/v2/core/events'],
    // Twelfth round (probe12-resend finding 7): a literal read by a lenient router is no id.
    [
      'a literal as a placeholder value when its own branch leads nowhere',
      'POST',
      '/v1/invoices/create_preview/lines',
    ],
    ['a literal in upper case as a placeholder value', 'POST', '/emails/BATCH'],
    ['a literal in mixed case', 'POST', '/emails/Batch'],
    ['a literal with a trailing dot', 'POST', '/emails/batch.'],
    ['a literal with a matrix parameter', 'POST', '/emails/batch;x=1'],
    ['a literal with an escaped trailing blank', 'POST', '/emails/batch%20'],
    ['a literal with an escaped dot', 'POST', '/emails/batch%2E'],
    ['a literal spelt full-width', 'POST', `/emails/${encodeURIComponent('ｂａｔｃｈ')}`],
  ])('%s', (_name, method, path) => {
    expect(match(method, path)).toBeUndefined();
  });
});

describe('compiling an operations table', () => {
  it('refuses two rows for one route, whatever their placeholder names', () => {
    expect(() => compileOperations([row('a', 'GET', '/x/{id}'), row('b', 'GET', '/x/{other}')])).toThrow(
      /same route/,
    );
  });

  it('refuses a segment with two placeholders', () => {
    expect(() => compileOperations([row('a', 'GET', '/x/{a}-{b}')])).toThrow(/more than one placeholder/);
  });

  it('finds the one row of a 600-row table that a path names', () => {
    const big = Array.from({ length: 600 }, (_, i) => row(`r${i}`, 'POST', `/v1/r${i}/{id}/a${i % 7}`));
    const lookup = compileOperations(big);
    expect(lookup('POST', '/v1/r599/x_1/a4')).toEqual({ row: big[599], segments: ['x_1'] });
  });
});

describe('a trailing slash', () => {
  const match = compileOperations([
    { id: 'x.keys.create', method: 'POST', path: '/v1/keys', class: 'write', rule: 'free' },
    { id: 'x.keys.get', method: 'GET', path: '/v1/keys/{key}', class: 'read', rule: 'free' },
  ]);

  it.each([
    ['POST', '/v1/keys/', 'x.keys.create'],
    ['GET', '/v1/keys/k_1/', 'x.keys.get'],
    ['POST', '/v1/keys//', undefined],
  ])('%s %s reads as %s', (method, path, id) => {
    expect(match(method, path)?.row.id).toBe(id);
  });
});

describe('resolving the objects a row locks', () => {
  const locking = (path: string, locks: readonly string[]): OperationRow => ({
    id: 'x.lock',
    method: 'POST',
    path,
    class: 'money',
    locks,
  });
  /** A body field holds one id, or ids separated by commas; `bad` is unreadable. */
  const readField: LockFieldReader = (params, field) => {
    const v = params[field];
    if (v === 'bad') return deny('body_invalid', `${field} is unreadable`);
    return typeof v === 'string' ? v.split(',') : [];
  };

  it('takes path placeholders by name, in path order, and body fields through the reader', () => {
    const r = locking('/v1/{a}/x/{b}', ['{b}', 'field', '{a}']);
    expect(resolveLocks(r, ['a_1', 'b_1'], { field: 'f_1,f_2' }, readField)).toEqual({
      locks: ['b_1', 'f_1', 'f_2', 'a_1'],
    });
  });

  it('locks each id once and skips empty ones; nothing to lock is {}', () => {
    const r = locking('/v1/{a}', ['{a}', 'field', 'other']);
    expect(resolveLocks(r, ['a_1'], { field: 'a_1,,a_1', other: '' }, readField)).toEqual({ locks: ['a_1'] });
    expect(resolveLocks(locking('/v1/x', ['field']), [], {}, readField)).toEqual({});
    expect(resolveLocks(row('x.plain', 'POST', '/v1/{a}'), ['a_1'], {}, readField)).toEqual({});
  });

  it("returns the reader's denial", () => {
    const out = resolveLocks(locking('/v1/{a}', ['{a}', 'field']), ['a_1'], { field: 'bad' }, readField);
    expect(isDenial(out) && out.reason).toBe('body_invalid');
  });

  it('throws on a lock naming no placeholder of its own path (a table bug)', () => {
    expect(() => resolveLocks(locking('/v1/{a}', ['{b}']), ['a_1'], {}, readField)).toThrow(
      'x.lock: lock {b} is not in /v1/{a}',
    );
  });
});
