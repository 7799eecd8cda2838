import { domainToASCII } from 'node:url';
import { z } from 'zod';
import { formatUsd, parseUsd, USD_AMOUNT_RULE } from '../../money/micro-usd.ts';
import {
  compileEndpointPattern,
  compileValuePattern,
  MAX_ENTRY_LENGTH,
  PatternError,
} from '../../patterns/glob.ts';
import { compileHostPattern } from '../../patterns/hosts.ts';
import { VENDORS } from '../../snapshot/types.ts';
import { API_VERSION, ConditionSchema, fileStatus, ObjectMetaSchema, RootStatus, Timestamp } from './meta.ts';

/** The vendor a policy or key is for. */
export const VendorSchema = z.enum(VENDORS as ['stripe', 'twilio', 'resend'], {
  error: 'must be one of stripe, twilio, resend',
});

/** A USD amount as a decimal string: exact, never a float. */
export const UsdAmount = z
  .string({ error: 'must be a decimal string in quotes, e.g. "200" or "12.50"' })
  // Said apart from the format: "-1" was refused as having too many digits (seventh round). A
  // refinement, not a second pattern: the CRD's structural schema takes one pattern per field.
  .refine((s) => !/^-\d/.test(s), {
    abort: true,
    error: 'must not be negative: a limit is an amount of at least "0"',
  })
  .regex(/^\d{1,10}(\.\d{1,6})?$/, {
    abort: true,
    error: `must be a decimal USD amount such as "200" or "12.50": ${USD_AMOUNT_RULE}`,
  })
  .refine((s) => parseUsd(s) !== undefined, {
    error: `is too large: at most "${formatUsd(Number.MAX_SAFE_INTEGER)}" (micro-dollars are safe integers)`,
  });

const patternRefine =
  (compile: (s: string) => unknown) =>
  (value: string, ctx: z.RefinementCtx): void => {
    try {
      compile(value);
    } catch (err) {
      if (!(err instanceof PatternError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
    }
  };

/**
 * Bounds of the allow lists: far above any real policy (the examples name at most 20 endpoints), and
 * what keeps one tenant's policy from costing everyone. Every proxy holds and receives each policy
 * (a tenant's 54 policies of 1.3 MB each once stopped the whole cluster's snapshot stream), and the
 * authorize stage tries a call against every endpoint entry (40 000 of them held a shared proxy 5 s
 * per call). The CRD carries them too (maxItems, maxLength), so the API server refuses a larger list.
 */
export const MAX_ENDPOINTS = 1_000;
/** Entries of every other allow list. */
export const MAX_LIST_ENTRIES = 10_000;
/** Characters of one allow-list entry (patterns/glob.ts, where a refusal's suggestion is held to it too). */
export { MAX_ENTRY_LENGTH };

const entry = () =>
  z.string().max(MAX_ENTRY_LENGTH, { abort: true, error: `must be at most ${MAX_ENTRY_LENGTH} characters` });
const list = <T extends z.ZodType>(item: T, max = MAX_LIST_ENTRIES) =>
  z.array(item).max(max, { error: `must have at most ${max} entries` });

// The one shape mistake the general message below does not point at: a method padded apart from
// its path (as a table column is), which reads right but is not the entry it looks like.
const SEPARATED_OTHERWISE = /^\S+(?! \S)\s+\S/;

const EndpointString = entry()
  .refine((s) => !SEPARATED_OTHERWISE.test(s), {
    abort: true,
    error:
      'must have exactly one space between METHOD and /path (it has more, or a tab), e.g. "POST /v1/refunds"',
  })
  .regex(/^(GET|POST|PUT|PATCH|DELETE|\*) \/\S*$/, {
    abort: true,
    error: 'must be "METHOD /path" with METHOD one of GET POST PUT PATCH DELETE *, e.g. "POST /v1/refunds"',
  })
  .superRefine(patternRefine(compileEndpointPattern));

/**
 * The domain a recipient or sender pattern names: what follows its last `@`, or a bare domain (no
 * `@`, no scheme such as `client:`); undefined for a pattern that names none (`+1415555*`).
 */
function patternDomain(pattern: string): string | undefined {
  const at = pattern.lastIndexOf('@');
  if (at >= 0) return pattern.slice(at + 1);
  return pattern.includes(':') ? undefined : pattern;
}

/**
 * Refuses a pattern whose domain is written in Unicode (`*@straße.de`): every address is compared
 * with its domain in punycode (an address a Unicode domain's mailbox is read to, or refused), so
 * such a pattern never matches and the list would silently refuse the domain its author meant
 * (sixth round). Refused rather than converted: a policy says what is compared, and the message
 * names the punycode to write.
 */
function asciiDomain(pattern: string, ctx: z.RefinementCtx): void {
  const domain = patternDomain(pattern);
  if (domain === undefined || /^[\x00-\x7f]*$/.test(domain)) return;
  const ascii = domainToASCII(domain);
  const written = ascii === '' ? '' : `: write "${pattern.slice(0, pattern.length - domain.length)}${ascii}"`;
  ctx.addIssue({
    code: 'custom',
    message: `names the domain "${domain}" in Unicode, but addresses are compared with their domains in punycode (xn--…), so it would match nothing${written}`,
  });
}

const ValuePattern = entry()
  .min(1, { abort: true, error: 'must not be empty' })
  .superRefine(patternRefine((s) => compileValuePattern(s, { caseInsensitive: true })))
  .superRefine(asciiDomain);

const HostPatternString = entry()
  .min(1, { abort: true, error: 'must not be empty' })
  .superRefine(patternRefine(compileHostPattern));

const Identifier = entry()
  .min(1, { abort: true, error: 'must not be empty' })
  .regex(/^\S+$/, { abort: true, error: 'must not contain whitespace' });

/**
 * A zone's IANA name, as tzdb spells its zones and links (`UTC`, `Europe/Berlin`, `Etc/GMT+12`,
 * `EST5EDT`; letter case aside, as Intl reads them). Intl also takes fixed offsets (`+05:45`,
 * `-0820`), which are not names: a probe found them served though the docs promise IANA zones.
 */
const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/;

function isTimeZone(tz: string): boolean {
  if (!ZONE_NAME.test(tz)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** The largest `requestsPerMinute`: far above any vendor's own rate limit. */
const MAX_REQUESTS_PER_MINUTE = 1_000_000;
const TOO_MANY_REQUESTS = `must be at most ${MAX_REQUESTS_PER_MINUTE}`;

export const LimitsSchema = z
  .strictObject({
    perCallUsd: UsdAmount.optional().describe('Largest single call, USD.'),
    perDayUsd: UsdAmount.optional().describe('Calendar day in spec.timezone, USD.'),
    perMonthUsd: UsdAmount.optional().describe('Calendar month in spec.timezone, USD.'),
    perRunUsd: UsdAmount.optional().describe('Per agent run (Keybrake-Run-Id), USD.'),
    requestsPerMinute: z
      // A number beyond the safe integers fails z.int()'s own bound (too_big): it is a whole number
      // too large, not a fraction. Unnamed, `.max` took the schema's message, and 1000001 was
      // refused as "must be a whole number" (seventh round).
      .int({ error: (issue) => (issue.code === 'too_big' ? TOO_MANY_REQUESTS : 'must be a whole number') })
      .positive({ error: 'must be at least 1' })
      .max(MAX_REQUESTS_PER_MINUTE, { error: TOO_MANY_REQUESTS })
      .optional()
      .describe('Calls per minute, any endpoint.'),
  })
  .describe('Spend and rate limits, per VaultKey. Every limit is optional.');

export const AllowSchema = z
  .strictObject({
    endpoints: list(EndpointString, MAX_ENDPOINTS)
      .optional()
      .describe('"METHOD /path" globs: * is one segment, ** any number. Absent: every known endpoint.'),
    customers: list(Identifier).optional().describe('Stripe customer ids.'),
    accounts: list(Identifier).optional().describe('Stripe-Account (connected account) ids.'),
    recipients: list(ValuePattern)
      .optional()
      .describe(
        'Phone numbers or e-mail addresses; * matches any run; a bare domain matches every address at it.',
      ),
    senders: list(ValuePattern).optional().describe('Resend "from" addresses or domains.'),
    countries: list(
      z.string().regex(/^[A-Z]{2}$/, {
        abort: true,
        error: 'must be an upper-case ISO 3166 alpha-2 code such as "US"',
      }),
    )
      .optional()
      .describe('Destination countries (ISO 3166 alpha-2, upper-case).'),
    currencies: list(
      z
        .string()
        .regex(/^[a-z]{3}$/, { abort: true, error: 'must be a lower-case ISO 4217 code such as "usd"' }),
    )
      .optional()
      .describe('Currencies (ISO 4217, lower-case).'),
    twimlHosts: list(HostPatternString)
      .optional()
      .describe(
        'Twilio: hosts call instructions may be fetched from (Url, <Redirect>, action…): "twiml.example.com" or "*.example.com". Absent: none.',
      ),
  })
  .describe('Allowlists. An absent list does not restrict; a present list (even empty) does.');

/**
 * Allowlists a vendor's calls never name a party of, and why. Accepted, such a list would pass every
 * call ("names no country") while its author believes it restricts: a new-user walkthrough wrote
 * `countries` on a Resend policy and mail went anywhere. A mistake must not silently remove a
 * restriction, so the policy is invalid instead (its keys are not served).
 */
const INAPPLICABLE: Partial<Record<string, Partial<Record<'stripe' | 'twilio' | 'resend', string>>>> = {
  customers: {
    twilio: 'customers are Stripe customer ids',
    resend: 'customers are Stripe customer ids',
  },
  accounts: {
    twilio:
      'accounts are Stripe Connect accounts (Stripe-Account); a Twilio key acts on its own account only',
    resend: 'accounts are Stripe Connect accounts (Stripe-Account)',
  },
  currencies: {
    twilio: 'Twilio calls name no currency (Keybrake prices them in USD)',
    resend: 'Resend calls name no currency',
  },
  countries: {
    stripe: 'Stripe calls name no destination country',
    resend: 'an e-mail address has no country Keybrake can tell; restrict recipients instead',
  },
  senders: { stripe: 'Stripe calls name no sender' },
  twimlHosts: {
    stripe: 'twimlHosts are Twilio call instructions',
    resend: 'twimlHosts are Twilio call instructions',
  },
};

export const SpendPolicySpecSchema = z
  .strictObject({
    vendor: VendorSchema.describe('stripe | twilio | resend'),
    limits: LimitsSchema.optional(),
    allow: AllowSchema.optional(),
    timezone: z
      .string()
      .refine(isTimeZone, { error: 'must be an IANA time zone such as "UTC" or "Europe/Berlin"' })
      .default('UTC')
      .describe('IANA time zone of the day and month windows.'),
    expiresAt: Timestamp.optional().describe('After this instant no key using the policy is served.'),
    readsWhenCountersDown: z
      .enum(['allow', 'deny'], { error: 'must be "allow" or "deny"' })
      .default('allow')
      .describe('Whether GETs pass while the counter store is unreachable. Money-moving calls never do.'),
    requireRunId: z
      .boolean({ error: 'must be true or false' })
      .default(false)
      .describe(
        'Deny calls that name no agent run (Keybrake-Run-Id or baggage keybrake.run_id): run_id_required.',
      ),
  })
  .superRefine((spec, ctx) => {
    for (const field of Object.keys(spec.allow ?? {}) as (keyof typeof INAPPLICABLE)[]) {
      const why = INAPPLICABLE[field]?.[spec.vendor];
      if (why)
        ctx.addIssue({
          code: 'custom',
          path: ['allow', field],
          message: `does not apply to ${spec.vendor}: ${why}`,
        });
    }
  })
  .describe('What a VaultKey may do.');
export type SpendPolicySpec = z.infer<typeof SpendPolicySpecSchema>;

export const SpendPolicyStatusSchema = z.object({
  conditions: z.array(ConditionSchema).optional(),
  observedGeneration: z.int().nonnegative().optional(),
});
export type SpendPolicyStatus = z.infer<typeof SpendPolicyStatusSchema>;

/**
 * A SpendPolicy as the compiler receives it from a source, defaults applied. Closed at the root
 * like its spec: a field one indent short of `spec` (`limits:`) was dropped silently, a policy
 * without its caps (ninth round). The API server prunes unknown root fields, so its objects carry
 * only these.
 */
export const SpendPolicySchema = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('SpendPolicy'),
  metadata: ObjectMetaSchema,
  spec: SpendPolicySpecSchema,
  status: RootStatus,
});
export type SpendPolicy = z.infer<typeof SpendPolicySchema>;

/** A SpendPolicy in a manifest file: its `status` closed too (meta.ts `fileStatus`). */
export const SpendPolicyFileSchema = SpendPolicySchema.extend({
  status: fileStatus(SpendPolicyStatusSchema),
});
