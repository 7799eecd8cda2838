/**
 * Parameter names as the parse stage compares and reports them, shared by the form parser and the
 * JSON duplicate scanner.
 */

const NON_ASCII = /[^\u0000-\u007f]/;

/**
 * The form two names share when a vendor that ignores case would read them as one parameter. Simple
 * case folding, approximated by upper- then lower-casing outside ASCII, so `ſ` meets `s` and the
 * Kelvin sign meets `k` (what Go's EqualFold and Java's equalsIgnoreCase also equate).
 */
export function foldName(name: string): string {
  return NON_ASCII.test(name) ? name.toUpperCase().toLowerCase() : name.toLowerCase();
}

/** A parameter name safe to echo in an error: never a value, bounded, printable ASCII only. */
export function printableName(name: string): string {
  const clean = name.replace(/[^\w[\].-]/g, '?');
  return `"${clean.length > 64 ? `${clean.slice(0, 64)}…` : clean}"`;
}

/** `_method`: what Rack's MethodOverride and similar middleware read as the real method. */
export function isMethodOverride(name: string): boolean {
  return name.length === 7 && name.toLowerCase() === '_method';
}
