import type { VendorName } from '../snapshot/types.ts';

/**
 * The shapes of the vendors' own keys, where a Keybrake key is expected or the other way round: the
 * compiler refuses a brought vault token shaped like one, the proxy says a credential it does not
 * know looks like one, and `policy-check` warns of an upstream Secret that does not. Shapes only:
 * none of these ever quotes a value.
 */

// Secret and restricted keys of Stripe (live and test) and Resend API keys: a token brought by the
// user that has one of these shapes is a real key put where a vault token belongs.
const PREFIXED = /^(?:sk_live_|sk_test_|rk_live_|rk_test_|re_)/;

/** Whether `token` starts like a Stripe secret or restricted key or a Resend API key. */
export function hasVendorKeyPrefix(token: string): boolean {
  return PREFIXED.test(token);
}

const STRIPE_KEY = 'a Stripe secret or restricted key';

/** What a credential may be when it is a vendor's key: the first that fits names it. */
const LOOKALIKES: readonly (readonly [RegExp, string])[] = [
  [/^(?:sk|rk)_(?:live|test)_/, STRIPE_KEY],
  [/^re_/, 'a Resend API key'],
  [/^AC[0-9a-f]{32}$/i, 'a Twilio account SID'],
  [/^[0-9a-f]{32}$/i, 'a Twilio auth token'],
];

/**
 * The vendor key a presented credential no served key holds looks like (`a Stripe secret or
 * restricted key`), or undefined: an agent configured with the vendor's own key was told only "Unknown
 * or malformed Keybrake vault key" (eighth round).
 */
export function vendorKeyLookalike(token: string): string | undefined {
  return LOOKALIKES.find(([shape]) => shape.test(token))?.[1];
}

/** An upstream Secret field's expected shape, and its description for a warning. */
interface FieldShape {
  readonly shape: RegExp;
  readonly what: string;
}

const STRIPE_FIELD: FieldShape = {
  shape: /^(?:sk|rk)_(?:live|test)_[A-Za-z0-9]+$/,
  what: `${STRIPE_KEY} (sk_live_…, sk_test_…, rk_live_…, rk_test_…)`,
};
const RESEND_FIELD: FieldShape = { shape: /^re_[A-Za-z0-9_]+$/, what: 'a Resend API key (re_…)' };
/** Twilio's fields the compiler does not already check by prefix (accountSid AC…, apiKeySid SK…). */
const TWILIO_FIELDS: Readonly<Record<string, FieldShape>> = {
  authToken: { shape: /^[0-9a-f]{32}$/, what: 'a Twilio auth token (32 hexadecimal digits)' },
  apiKeySecret: { shape: /^[A-Za-z0-9]{32}$/, what: 'a Twilio API key secret (32 letters and digits)' },
};

/**
 * What an upstream Secret's field should look like when `value` (trimmed) does not look so, else
 * undefined: `sk_tset_…` would only ever be refused by Stripe, call after call. A warning, not an
 * error: a vendor may issue a new shape before this table knows it.
 */
export function unexpectedUpstreamShape(
  vendor: VendorName,
  field: string,
  value: string,
): string | undefined {
  const expected =
    vendor === 'stripe' ? STRIPE_FIELD : vendor === 'resend' ? RESEND_FIELD : TWILIO_FIELDS[field];
  return expected === undefined || expected.shape.test(value.trim()) ? undefined : expected.what;
}
