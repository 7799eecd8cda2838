import { spaceTrimmed } from '../parameter-spaces.ts';
import type { Params } from '../types.ts';

/**
 * Reads of Twilio parameters for classify and its cost formulas. The parse stage has already refused
 * a parameter given twice unless the operation declares it a list (`MediaUrl`), so a scalar read
 * never has to pick among copies.
 */

/** Every string value of a parameter: `To=a` → ['a'], `MediaUrl=a&MediaUrl=b` → ['a','b']. */
export function strings(params: Params, name: string): string[] {
  const value = Object.hasOwn(params, name) ? params[name] : undefined;
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

/**
 * The one value of a parameter that Twilio reads once; undefined when absent or not a string. Given
 * more than once it cannot be read one way: that is the parse stage's to refuse, so reaching it here
 * is a bug, and the call fails closed (internal_error) rather than be priced from a guess.
 */
export function single(params: Params, name: string): string | undefined {
  const value = Object.hasOwn(params, name) ? params[name] : undefined;
  if (Array.isArray(value)) {
    throw new Error(`Twilio parameter ${name} reached pricing more than once; parse must refuse it.`);
  }
  return typeof value === 'string' ? value : undefined;
}

/**
 * A boolean that adds cost when on (`SendAsMms`, `Record`). Twilio's SDKs send `true`/`false`, but
 * whether Twilio also takes `1`, `yes` or ` True` is not ours to know: anything but absent, empty or
 * `false` (ASCII spaces around it aside) is read as on, so a spelling Twilio honours is never priced
 * as off; `false` with a no-break space is on too.
 */
export function flag(params: Params, name: string): boolean {
  return strings(params, name).some((v) => {
    const text = spaceTrimmed(v)?.toLowerCase();
    return text !== '' && text !== 'false';
  });
}
