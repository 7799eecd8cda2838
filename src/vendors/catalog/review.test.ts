import { describe, expect, it } from 'vitest';
import type { DefinedOperation } from './definition.ts';
import { applyReview, type ReviewRule } from './review.ts';

const op = (method: string, path: string, host?: string): DefinedOperation => ({
  method,
  path,
  id: `x.${method.toLowerCase()}${path.replace(/\W+/g, '_')}`,
  ...(host ? { host } : {}),
});

const DEFINITION = [
  op('GET', '/v1/things'),
  op('POST', '/v1/things'),
  op('GET', '/v1/things/{thing}'),
  op('POST', '/v1/things/{thing}/pay'),
  op('DELETE', '/v1/things/{thing}'),
  op('GET', '/v1/secrets/find'),
  op('POST', '/Accounts/{AccountSid}/Keys.json', 'api'),
];

const RULES: ReviewRule<'pay'>[] = [
  { match: '* /v1/secrets/**', class: 'sensitive' },
  {
    match: 'POST /v1/things/{thing}/pay',
    class: 'money',
    rule: 'pay',
    locks: ['{thing}'],
    id: 'x.things.pay',
  },
  { match: 'POST|PATCH /v1/things/**', class: 'write' },
  { match: 'DELETE /**', class: 'destructive' },
  { host: 'api', match: 'POST /Accounts/*/Keys.json', class: 'sensitive' },
];

describe('applying a review', () => {
  const { operations, problems } = applyReview(DEFINITION, RULES);
  const classOf = (method: string, path: string) =>
    operations.find((o) => o.method === method && o.path === path);

  it('gives each operation the class of the first rule that matches it, and GETs no rule names read', () => {
    expect(problems).toEqual([]);
    expect(operations.map((o) => `${o.method} ${o.path} ${o.class}`)).toEqual([
      'GET /v1/things read',
      'POST /v1/things write',
      'GET /v1/things/{thing} read',
      'POST /v1/things/{thing}/pay money',
      'DELETE /v1/things/{thing} destructive',
      'GET /v1/secrets/find sensitive',
      'POST /Accounts/{AccountSid}/Keys.json sensitive',
    ]);
  });

  it('carries the rule, locks and a kept id', () => {
    expect(classOf('POST', '/v1/things/{thing}/pay')).toMatchObject({
      id: 'x.things.pay',
      rule: 'pay',
      locks: ['{thing}'],
    });
  });

  it.each<[string, ReviewRule<'pay'>[], RegExp]>([
    ['a write no rule names', RULES.slice(0, 3), /DELETE \/v1\/things\/\{thing\}: no review rule/],
    [
      'a rule that matches nothing',
      [...RULES, { match: 'POST /v1/gone', class: 'write' }],
      /POST \/v1\/gone matches no/,
    ],
    [
      'a money rule without a pricing rule',
      [{ match: 'POST /v1/things', class: 'money' }, ...RULES],
      /money without/,
    ],
    [
      'a pricing rule on a write',
      [{ match: 'POST /v1/things', class: 'write', rule: 'pay' }, ...RULES],
      /pay on a write/,
    ],
    [
      'an id on a pattern',
      [{ match: 'POST /v1/*', class: 'write', id: 'x.y' }, ...RULES],
      /an id needs an exact/,
    ],
    [
      'a host the operation is not on',
      [{ host: 'verify', match: 'POST /**', class: 'write' }, ...RULES],
      /verify POST/,
    ],
  ])('reports %s', (_name, rules, problem) => {
    expect(applyReview(DEFINITION, rules).problems.join('\n')).toMatch(problem);
  });

  it('reports two operations given one id', () => {
    const rules: ReviewRule<'pay'>[] = [
      { match: 'POST /v1/things', class: 'write', id: 'x.get_v1_things' },
      ...RULES,
    ];
    expect(applyReview(DEFINITION, rules).problems.join('\n')).toMatch(/id x\.get_v1_things is also/);
  });
});
