// How a body parameter Keybrake judges is trimmed: ASCII spaces only, one rule for every adapter.

/**
 * Blank or invisible characters no vendor provably drops from around a value: what `String.trim`
 * drops besides the ASCII space (tabs, line breaks, U+00A0, U+FEFF, U+2028, U+3000, …), control
 * characters and format characters (a zero-width space, a bidi mark).
 */
const UNSEEN_EDGE = /^[\s\p{Cc}\p{Cf}]|[\s\p{Cc}\p{Cf}]$/u;

/**
 * A parameter value without the ASCII spaces around it, or undefined when anything else blank or
 * invisible stands at its start or end once they are gone. Not `String.trim`: the value travels to
 * the vendor as the agent wrote it, and `\u00a0ann@example.com`, `+19005550123\u2028` or
 * `cus_allowed\u00a0` trimmed would be judged as the allowed party they only resemble, while the
 * vendor reads them its own way. Such a value has no reading Keybrake can stand by: the caller
 * refuses it.
 */
export function spaceTrimmed(value: string): string | undefined {
  let start = 0;
  let end = value.length;
  while (start < end && value.charCodeAt(start) === 0x20) start++;
  while (end > start && value.charCodeAt(end - 1) === 0x20) end--;
  const trimmed = start === 0 && end === value.length ? value : value.slice(start, end);
  return UNSEEN_EDGE.test(trimmed) ? undefined : trimmed;
}

/**
 * Whether a value is empty or ASCII spaces alone: a setting cleared or left out. Anything else, a
 * lone no-break space included, is a value the vendor sees, so Keybrake judges it as one.
 */
export function isBlank(value: string): boolean {
  return spaceTrimmed(value) === '';
}

/** A blank, control or format character anywhere: an id holds none, so one inside is not decoration. */
export const UNSEEN_ANYWHERE = /[\s\p{Cc}\p{Cf}]/u;

/**
 * An id a party parameter names (a Stripe customer, account or recipient): spaceTrimmed, and with no
 * blank or invisible character inside it either, undefined otherwise. A vendor id is letters, digits
 * and `_`, so `acct_good\u200b1` is no id: an allowlist glob (`acct_good*`) would match its text
 * while the vendor reads it its own way (a tester had `acct_good\u00a0` forwarded, sixth round).
 */
export function partyId(value: string): string | undefined {
  const id = spaceTrimmed(value);
  return id === undefined || UNSEEN_ANYWHERE.test(id) ? undefined : id;
}
