import type { SpendPolicy } from '../api/v1alpha1/spend-policy.ts';
import { formatUsd, parseUsd } from '../money/micro-usd.ts';
import { escapeForTerminal } from '../terminal-text.ts';
import { endpointWarning } from './endpoint-warnings.ts';

/** The countries a Twilio call can name: the territories numbers resolve to, and the unknown one. */
export interface CountryCodes {
  readonly resolvable: ReadonlySet<string>;
  /** The code of a destination no territory holds (`ZZ`: a SIP URI, a `<Sim>`, a national number). */
  readonly unknown: string;
}

type AllowList = keyof NonNullable<SpendPolicy['spec']['allow']>;
type UsdLimit = 'perCallUsd' | 'perDayUsd' | 'perMonthUsd';

/** Lists whose entries are compared ignoring case (addresses and host names; ADR 0007 §7). */
const CASE_INSENSITIVE: ReadonlySet<AllowList> = new Set(['recipients', 'senders', 'twimlHosts']);

/** Lists of literal ids, matched whole: a `*` in one is a character of an id no vendor assigns. */
const LITERAL_IDS: Partial<Record<AllowList, string>> = { customers: 'customer', accounts: 'account' };

/**
 * A smaller cap bounds a larger one: every call counts towards the day and the month, every day's
 * spend towards the month. (A run may span days, so a run cap above the day cap still means
 * something, and a call outside any run is not bounded by the run cap.)
 */
const BOUNDED_BY: readonly (readonly [UsdLimit, UsdLimit, string])[] = [
  ['perCallUsd', 'perDayUsd', 'no call passes over'],
  ['perCallUsd', 'perMonthUsd', 'no call passes over'],
  ['perDayUsd', 'perMonthUsd', 'no day spends over'],
];

/**
 * `policy-check`'s warnings on a valid policy that cannot work as written (seventh round): an
 * allowlist entry that can never match (a country no number resolves to, a `*` in a literal id, an
 * endpoint no operation of the vendor's catalog has: endpoint-warnings.ts), one
 * listed twice, a limit above a cap that bounds it. Warnings, not errors: each fails closed or is
 * merely redundant, and the schema accepts it, so serve runs such a policy as written.
 * `countries` is given when a policy lists countries (the table is libphonenumber's, loaded then).
 */
export function policyWarnings(policies: readonly SpendPolicy[], countries?: CountryCodes): string[] {
  const lines: string[] = [];
  for (const policy of policies) {
    const warn = (message: string) =>
      lines.push(`warning: SpendPolicy ${policy.metadata.namespace}/${policy.metadata.name}: ${message}`);
    const allow = policy.spec.allow ?? {};
    for (const list of Object.keys(allow) as AllowList[]) {
      for (const message of listWarnings(list, allow[list] ?? [], countries)) warn(message);
    }
    (allow.endpoints ?? []).forEach((entry, i) => {
      const message = endpointWarning(policy.spec.vendor, entry);
      if (message !== undefined) warn(`spec.allow.endpoints[${i}]: ${quoted(entry)} ${message}`);
    });
    const limits = policy.spec.limits ?? {};
    for (const [smaller, larger, what] of BOUNDED_BY) {
      const amount = parseUsd(limits[smaller] ?? '');
      const bound = parseUsd(limits[larger] ?? '');
      if (amount === undefined || bound === undefined || amount <= bound) continue;
      warn(
        `spec.limits.${smaller} "${limits[smaller]}" is above spec.limits.${larger} "${limits[larger]}", which bounds it: ${what} $${formatUsd(bound)}`,
      );
    }
  }
  return lines;
}

/** An allowlist's entries that repeat an earlier one (as the list compares them) or can never match. */
function listWarnings(list: AllowList, entries: readonly string[], countries?: CountryCodes): string[] {
  const first = new Map<string, number>();
  const warnings: string[] = [];
  const kind = LITERAL_IDS[list];
  entries.forEach((entry, i) => {
    const at = `spec.allow.${list}[${i}]: ${quoted(entry)}`;
    const key = CASE_INSENSITIVE.has(list) ? entry.toLowerCase() : entry;
    const earlier = first.get(key);
    if (earlier === undefined) first.set(key, i);
    else warnings.push(`${at} repeats spec.allow.${list}[${earlier}]`);
    if (kind !== undefined && entry.includes('*')) {
      warnings.push(
        `${at} is a literal ${kind} id, not a pattern (no * in ${list}): it admits only the id written, which Stripe never assigns`,
      );
    }
    if (list === 'countries' && countries) {
      const country = countryWarning(entry, countries);
      if (country !== undefined) warnings.push(`${at} ${country}`);
    }
  });
  return warnings;
}

function countryWarning(code: string, countries: CountryCodes): string | undefined {
  if (code === countries.unknown) {
    return 'is not a country: it admits every destination Keybrake cannot place in one (a SIP URI, a <Sim>, a national number, an unassigned code)';
  }
  return countries.resolvable.has(code)
    ? undefined
    : 'is not a territory any phone number resolves to, so it admits nothing';
}

/** An entry as the manifest wrote it, on one line (an id may hold control characters). */
function quoted(entry: string): string {
  return `"${escapeForTerminal(entry)}"`;
}
