/**
 * A hint for a phone party written without its leading `+`, for the authorize stage's refusals. The
 * vendors' parsers give a phone party as E.164 (`+14155550100`) and a number without a country code as
 * its digits alone, whose country is unknown (`ZZ`). The common way to get there is a `+` typed into a
 * form body: `curl -d To=+14155550100` sends a space, and a new user told only "Destination country ZZ
 * is not allowed" could not see why (eighth round).
 */

/** A phone party without its `+`: digits only (a WhatsApp party is its number without `whatsapp:`). */
const PLUSLESS = /^\d+$/;

/** The first of `values` that is a phone number without its `+`, if any. */
export function plusless(values: readonly string[]): string | undefined {
  return values.find((v) => PLUSLESS.test(v));
}

/**
 * Why `number` (digits only) matched nothing, with the form field that usually carries it (`To`,
 * `From`) in the example; `plusless` values are digits, so echoing one shows no more than the
 * refusal already names.
 */
export function pluslessHint(number: string, field: 'To' | 'From'): string {
  return ` ${number} is not a phone number in E.164 form (a + and the country code), so its country is unknown; a + in a form body reads as a space unless sent as %2B (e.g. curl --data-urlencode '${field}=+${number}').`;
}
