import { describe, expect, it } from 'vitest';
import type { SpendPolicy } from '../api/v1alpha1/spend-policy.ts';
import { resolvableCountries } from '../vendors/twilio/destinations.ts';
import { UNKNOWN_COUNTRY } from '../vendors/twilio/parties.ts';
import { policyWarnings } from './policy-warnings.ts';

const COUNTRIES = { resolvable: resolvableCountries(), unknown: UNKNOWN_COUNTRY };
const policy = (spec: Partial<SpendPolicy['spec']>): SpendPolicy => ({
  apiVersion: 'keybrake.dev/v1alpha1',
  kind: 'SpendPolicy',
  metadata: { name: 'p', namespace: 'a' },
  spec: { vendor: 'stripe', timezone: 'UTC', readsWhenCountersDown: 'allow', requireRunId: false, ...spec },
});
const warnings = (spec: Partial<SpendPolicy['spec']>) =>
  policyWarnings([policy(spec)], COUNTRIES).map((line) => line.replace('warning: SpendPolicy a/p: ', ''));

// Seventh round: entries that can never match were accepted silently (they fail closed, so a
// policy's author learnt of them only from refusals), and so were repeated entries and a per-call
// limit above the day's cap.
describe('policyWarnings', () => {
  it.each<[string, Partial<SpendPolicy['spec']>, string[]]>([
    [
      'a country code no number resolves to',
      { vendor: 'twilio', allow: { countries: ['US', 'XX', 'GG', 'XK'] } },
      ['spec.allow.countries[1]: "XX" is not a territory any phone number resolves to, so it admits nothing'],
    ],
    [
      'ZZ, which is the code of every destination without a country',
      { vendor: 'twilio', allow: { countries: ['ZZ'] } },
      [
        'spec.allow.countries[0]: "ZZ" is not a country: it admits every destination Keybrake cannot place in one (a SIP URI, a <Sim>, a national number, an unassigned code)',
      ],
    ],
    [
      'a * in a customer or account id, which the lists compare whole',
      { allow: { customers: ['cus_*', 'cus_1'], accounts: ['platform', 'acct_1*'] } },
      [
        'spec.allow.customers[0]: "cus_*" is a literal customer id, not a pattern (no * in customers): it admits only the id written, which Stripe never assigns',
        'spec.allow.accounts[1]: "acct_1*" is a literal account id, not a pattern (no * in accounts): it admits only the id written, which Stripe never assigns',
      ],
    ],
    [
      'an entry listed twice, as its list compares entries',
      {
        allow: {
          customers: ['cus_1', 'cus_2', 'cus_1', 'CUS_2'],
          recipients: ['*@example.com', '*@EXAMPLE.com'],
          endpoints: ['GET /v1/**', 'POST /v1/refunds', 'GET /v1/**'],
        },
      },
      [
        'spec.allow.customers[2]: "cus_1" repeats spec.allow.customers[0]',
        'spec.allow.recipients[1]: "*@EXAMPLE.com" repeats spec.allow.recipients[0]',
        'spec.allow.endpoints[2]: "GET /v1/**" repeats spec.allow.endpoints[0]',
      ],
    ],
    [
      'a limit above a cap that bounds it',
      { limits: { perCallUsd: '500', perDayUsd: '200.5', perMonthUsd: '150', perRunUsd: '1' } },
      [
        'spec.limits.perCallUsd "500" is above spec.limits.perDayUsd "200.5", which bounds it: no call passes over $200.50',
        'spec.limits.perCallUsd "500" is above spec.limits.perMonthUsd "150", which bounds it: no call passes over $150.00',
        'spec.limits.perDayUsd "200.5" is above spec.limits.perMonthUsd "150", which bounds it: no day spends over $150.00',
      ],
    ],
  ])('warns of %s', (_name, spec, expected) => {
    expect(warnings(spec)).toEqual(expected);
  });

  it.each<[string, Partial<SpendPolicy['spec']>]>([
    [
      'lists that can match, once each',
      { vendor: 'twilio', allow: { countries: ['US', 'GB', 'GG'], recipients: ['+1415*', '*@example.com'] } },
    ],
    [
      'limits in order, equal ones too',
      { limits: { perCallUsd: '200', perDayUsd: '200', perMonthUsd: '2000' } },
    ],
    ['a run cap above the day cap (a run may span days)', { limits: { perDayUsd: '10', perRunUsd: '50' } }],
  ])('is silent on %s', (_name, spec) => {
    expect(warnings(spec)).toEqual([]);
  });

  it('shows an id with control characters on one line', () => {
    expect(warnings({ allow: { customers: ['cus_\u001b[31m*'] } })[0]).toMatch(
      /^spec\.allow\.customers\[0\]: "cus_\\x1b\[31m\*"/,
    );
  });
});
