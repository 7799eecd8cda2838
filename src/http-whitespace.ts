// HTTP's optional whitespace: shared vocabulary of every reader of header values, importing nothing.

/**
 * A header value (or one element or parameter of it) without the optional whitespace around it,
 * which HTTP defines as spaces and horizontal tabs only (RFC 9110 §5.6.3, OWS). Not
 * `String.prototype.trim`: that also drops U+00A0 (byte 0xA0 in a latin-1 header), U+FEFF and the
 * other Unicode spaces, which a vendor's HTTP stack keeps, so `application/json\xA0` or
 * `acct_allowed\xA0` would be judged as the value they only resemble and forwarded as they are.
 * Whatever else surrounds a value stays part of it, so it matches nothing Keybrake allows.
 */
export function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isOws(value.charCodeAt(start))) start++;
  while (end > start && isOws(value.charCodeAt(end - 1))) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}
