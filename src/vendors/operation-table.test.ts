import { describe, expect, it } from 'vitest';
import { compileOperations, type OperationRow } from './operation-table.ts';

const ROWS: readonly OperationRow<'free' | 'priced'>[] = [
  { id: 'x.batch', method: 'POST', path: '/emails/batch', rule: 'priced' },
  { id: 'x.update', method: 'POST', path: '/emails/{id}', rule: 'free' },
  { id: 'x.capture', method: 'POST', path: '/v1/charges/{charge}/capture', rule: 'priced' },
  { id: 'x.message', method: 'POST', path: '/Accounts/{AccountSid}/Messages/{Sid}.json', rule: 'free' },
  { id: 'x.config', method: 'PUT', path: '/domains/**', rule: 'free' },
];
const match = compileOperations(ROWS);

describe('an operations table matches', () => {
  it.each([
    ['a literal path before a template that also matches it', 'POST', '/emails/batch', 'x.batch', []],
    ['a placeholder as one segment', 'POST', '/emails/em_1', 'x.update', ['em_1']],
    ['placeholders in path order', 'POST', '/v1/charges/ch_1/capture', 'x.capture', ['ch_1']],
    [
      'a placeholder followed by a literal suffix in the same segment',
      'POST',
      '/Accounts/AC1/Messages/SM1.json',
      'x.message',
      ['AC1', 'SM1'],
    ],
    ['the path a /** template names', 'PUT', '/domains', 'x.config', []],
    ['anything below it', 'PUT', '/domains/d_1/verify', 'x.config', []],
  ])('%s', (_name, method, path, id, segments) => {
    expect(match(method, path)).toEqual({ row: expect.objectContaining({ id }), segments });
  });
});

describe('an operations table does not match', () => {
  it.each([
    ['another method', 'GET', '/emails/batch'],
    ['an empty segment', 'POST', '/v1/charges//capture'],
    ['a segment more', 'POST', '/emails/em_1/x'],
    ['a trailing slash', 'POST', '/emails/'],
    ['a literal dot as any character', 'POST', '/Accounts/AC1/Messages/SM1xjson'],
    ['a prefix of a /** template', 'PUT', '/domainsX'],
  ])('%s', (_name, method, path) => {
    expect(match(method, path)).toBeUndefined();
  });
});
