import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TWILIO_PACKAGE } from '../catalog/twilio-definition.ts';
import { LOOKUP_QUERY_NAMES, type LookupRule, lookupQueryDenial } from './lookup-query.ts';

const SPECS: Record<LookupRule, [string, string]> = {
  lookup_v1: ['twilio_lookups_v1.json', '/v1/PhoneNumbers/{PhoneNumber}'],
  lookup_v2: ['twilio_lookups_v2.json', '/v2/PhoneNumbers/{PhoneNumber}'],
};

describe('lookupQueryDenial', () => {
  it.each(Object.keys(SPECS) as LookupRule[])(
    'knows the query parameters the pinned definition declares for %s',
    (rule) => {
      const [file, path] = SPECS[rule];
      const spec = JSON.parse(
        readFileSync(join('node_modules', TWILIO_PACKAGE, 'twilio-oai/spec/json', file), 'utf8'),
      ) as { paths: Record<string, { get: { parameters: { in: string; name: string }[] } }> };
      const declared = spec.paths[path]!.get.parameters.filter((p) => p.in === 'query').map((p) => p.name);
      expect([...LOOKUP_QUERY_NAMES[rule]].sort()).toEqual(declared.sort());
    },
  );

  // Fifth round: `Fields%5B%5D=sim_swap` was forwarded free while `Fields=sim_swap` costs $0.15.
  it.each<[string, LookupRule, string]>([
    ['Fields as a bracketed list', 'lookup_v2', 'Fields%5B%5D=sim_swap'],
    ['Fields with an index', 'lookup_v2', 'Fields%5B0%5D=sim_swap'],
    ['Fields with a trailing dot', 'lookup_v2', 'Fields.=sim_swap'],
    ['a parameter in another case', 'lookup_v2', 'Fields=validation&countrycode=US'],
    ['a parameter the definition does not have', 'lookup_v2', 'Package=sim_swap'],
    ['Type as a bracketed list', 'lookup_v1', 'Type%5B%5D=carrier'],
    ['AddOns as a bracketed list', 'lookup_v1', 'AddOns%5B%5D=payfone'],
  ])('refuses %s', (_name, rule, query) => {
    expect(lookupQueryDenial(rule, new URLSearchParams(query))).toMatchObject({ reason: 'body_invalid' });
  });

  it.each<[string, LookupRule, string]>([
    ['no query', 'lookup_v2', ''],
    [
      'every declared v2 parameter',
      'lookup_v2',
      'Fields=identity_match&CountryCode=US&FirstName=A&LastName=B&DateOfBirth=19900101',
    ],
    ['v1 types, add-ons and their data', 'lookup_v1', 'Type=carrier&AddOns=payfone&AddOns.payfone.Key=v'],
  ])('lets %s through', (_name, rule, query) => {
    expect(lookupQueryDenial(rule, new URLSearchParams(query))).toBeUndefined();
  });
});
