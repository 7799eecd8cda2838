import { type Denial, deny, isDenial } from '../decision/reasons.ts';
import { trimOws } from '../http-whitespace.ts';
import { parseForm } from './form.ts';
import { printableName } from './names.ts';
import type { Params, ParseLimits } from './types.ts';

/**
 * A strict reader of multipart/form-data (RFC 7578 over RFC 2046) for the few operations whose vendor
 * definition takes only that (Stripe `POST /v1/files`), in the parse stage. As with the other body
 * readers (ADR 0007 §2), anything two implementations could read differently is refused rather than
 * guessed at, and nothing refused is forwarded:
 *
 *   - Content-Type `multipart/form-data` with exactly one `boundary` parameter (RFC 2046 bchars,
 *     1–70 characters, quoted when it is not a token) and no other parameter;
 *   - the body starts with the first delimiter (no preamble), every delimiter line ends in CRLF
 *     (no transport padding), the close delimiter ends the body (an optional CRLF, no epilogue);
 *   - each part has at most MAX_PART_HEAD_BYTES of headers, CRLF lines, no folding, valid UTF-8; only
 *     `Content-Disposition` (required, once: `form-data; name="…"`, plus `filename="…"` for a file)
 *     and `Content-Type` (at most once); parameter values are tokens or quoted strings without
 *     backslashes or control characters; `filename*` is refused (RFC 7578 §4.2); values are trimmed
 *     of spaces and tabs only (trimOws), so `form-data\xA0` is not `form-data`;
 *   - a part with a filename must be one of the operation's file fields (and a file field must have
 *     one), each file field at most once; its content is kept as bytes, never decoded or logged;
 *   - every other part is a field: `text/plain` (charset utf-8) or no Content-Type, valid UTF-8; the
 *     fields are read as a Stripe form is (Rack brackets, lists only as `a[]`/`a[0]`, a name given
 *     twice refused, depth and count limits), so one parameter has one reading whatever the encoding.
 */

/** The most header bytes one part may carry (its Content-Disposition and Content-Type). */
export const MAX_PART_HEAD_BYTES = 2048;

/** A file part: where it was, what it claims to be, and its bytes as sent. */
export interface MultipartFile {
  readonly name: string;
  readonly filename: string;
  readonly contentType?: string;
  readonly data: Buffer;
}

/** What a multipart body holds: its fields as form parameters, and its files. */
export interface MultipartForm {
  readonly params: Params;
  readonly files: readonly MultipartFile[];
}

/** Which parts of an operation are files (`file` for Stripe's upload). */
export interface MultipartSpec {
  readonly fileFields: ReadonlySet<string>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const BCHARS = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;
const MEDIA_TYPE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const CRLF = Buffer.from('\r\n');
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const invalid = (why: string): Denial => deny('body_invalid', `The multipart/form-data body ${why}.`);

/** One `; name=value` list after a leading value, as in Content-Type and Content-Disposition. */
interface HeaderValue {
  readonly value: string;
  readonly params: readonly (readonly [string, string])[];
}

/**
 * Splits `value; a=b; c="d"`. Quoted strings may not hold `\` (implementations disagree on escapes),
 * `"` or control characters; unquoted values must be tokens. Undefined when it does not parse.
 */
function headerValue(text: string): HeaderValue | undefined {
  let i = 0;
  const skipSpace = () => {
    while (text[i] === ' ' || text[i] === '\t') i++;
  };
  const readToken = () => {
    const start = i;
    while (i < text.length && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(text[i]!)) i++;
    return text.slice(start, i);
  };
  skipSpace();
  const start = i;
  while (i < text.length && text[i] !== ';') i++;
  const value = trimOws(text.slice(start, i));
  const params: [string, string][] = [];
  while (i < text.length) {
    i++; // ';'
    skipSpace();
    const name = readToken();
    if (name === '' || text[i] !== '=') return undefined;
    i++;
    let v: string;
    if (text[i] === '"') {
      const end = text.indexOf('"', i + 1);
      if (end === -1) return undefined;
      v = text.slice(i + 1, end);
      // Anything below space (but tab) or DEL, and the backslash some readers take as an escape.
      if (/[\x00-\x08\x0a-\x1f\x7f\\]/.test(v)) return undefined;
      i = end + 1;
    } else {
      v = readToken();
      if (v === '') return undefined;
    }
    skipSpace();
    if (i < text.length && text[i] !== ';') return undefined;
    params.push([name.toLowerCase(), v]);
  }
  return { value, params };
}

/** The boundary of a `multipart/form-data` Content-Type, or why the header is refused. */
export function multipartBoundary(header: string | undefined): string | Denial {
  const expected = 'Uploads must be sent as multipart/form-data with a boundary.';
  if (header === undefined) return deny('body_invalid', expected);
  const parsed = headerValue(header);
  if (parsed?.value.toLowerCase() !== 'multipart/form-data') return deny('body_invalid', expected);
  if (parsed.params.length !== 1 || parsed.params[0]![0] !== 'boundary') {
    return invalid('Content-Type must carry exactly one parameter, its boundary');
  }
  const boundary = parsed.params[0]![1];
  if (!BCHARS.test(boundary)) return invalid('boundary is not 1 to 70 RFC 2046 boundary characters');
  return boundary;
}

/** Reads a multipart/form-data body strictly (see the file comment). */
export function readMultipart(
  body: Buffer,
  boundary: string,
  limits: ParseLimits,
  spec: MultipartSpec,
): MultipartForm | Denial {
  if (body.length > limits.maxBytes) {
    return deny('body_too_large', `The request body exceeds ${limits.maxBytes} bytes.`);
  }
  const dash = Buffer.from(`--${boundary}`, 'latin1');
  const delimiter = Buffer.concat([CRLF, dash]);
  if (!body.subarray(0, dash.length).equals(dash)) {
    return invalid('must start with its boundary (no preamble)');
  }
  const fields: string[] = [];
  const files: MultipartFile[] = [];
  let at = dash.length;
  let parts = 0;
  for (;;) {
    // After a delimiter: `--` closes the body, CRLF opens a part; nothing else (no padding).
    if (body[at] === 0x2d && body[at + 1] === 0x2d) {
      const rest = body.subarray(at + 2);
      if (rest.length === 0 || rest.equals(CRLF)) break;
      return invalid('has data after its closing boundary');
    }
    if (body[at] !== 0x0d || body[at + 1] !== 0x0a)
      return invalid('has a boundary line that does not end in CRLF');
    at += 2;
    parts += 1;
    if (parts > limits.maxParams) {
      return invalid(`has more than ${limits.maxParams} parts`);
    }
    const headEnd = body.indexOf('\r\n\r\n', at, 'latin1');
    if (headEnd === -1 || headEnd - at > MAX_PART_HEAD_BYTES) {
      return invalid(`has a part whose headers do not end within ${MAX_PART_HEAD_BYTES} bytes`);
    }
    const head = partHead(body.subarray(at, headEnd));
    if (isDenial(head)) return head;
    const contentStart = headEnd + 4;
    const contentEnd = body.indexOf(delimiter, contentStart);
    if (contentEnd === -1) return invalid('ends before its closing boundary');
    const content = body.subarray(contentStart, contentEnd);
    at = contentEnd + delimiter.length;

    if (head.filename !== undefined) {
      if (!spec.fileFields.has(head.name))
        return invalid(`has a file in ${printableName(head.name)}, which takes none`);
      if (files.some((f) => f.name === head.name))
        return invalid(`has more than one file in ${printableName(head.name)}`);
      files.push({
        name: head.name,
        filename: head.filename,
        ...(head.contentType !== undefined ? { contentType: head.contentType } : {}),
        data: content,
      });
      continue;
    }
    if (spec.fileFields.has(head.name)) return invalid(`has ${printableName(head.name)} without a filename`);
    if (head.contentType !== undefined && !isPlainText(head.contentType)) {
      return invalid(`has a field ${printableName(head.name)} that is not text/plain`);
    }
    let value: string;
    try {
      value = utf8.decode(content);
    } catch {
      return invalid(`has a field ${printableName(head.name)} that is not valid UTF-8`);
    }
    if (value.charCodeAt(0) === 0xfeff)
      return invalid(`has a field ${printableName(head.name)} starting with a byte-order mark`);
    fields.push(`${encodeURIComponent(head.name)}=${encodeURIComponent(value)}`);
  }
  // The fields read exactly as the same names and values form-encoded would be.
  const params = parseForm(fields.join('&'), limits);
  if (isDenial(params)) return params;
  for (const name of spec.fileFields) {
    if (Object.hasOwn(params, name))
      return invalid(`names ${printableName(name)} both as a file and as a field`);
  }
  return { params, files };
}

/** The Content-Type of a multipart request, its boundary and body, read (see readMultipart). */
export function parseMultipart(
  contentType: string | undefined,
  body: Buffer,
  limits: ParseLimits,
  spec: MultipartSpec,
): MultipartForm | Denial {
  const boundary = multipartBoundary(contentType);
  if (isDenial(boundary)) return boundary;
  return readMultipart(body, boundary, limits, spec);
}

interface PartHead {
  readonly name: string;
  readonly filename?: string;
  readonly contentType?: string;
}

function partHead(bytes: Buffer): PartHead | Denial {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return invalid('has part headers that are not valid UTF-8');
  }
  let disposition: HeaderValue | undefined;
  let contentType: string | undefined;
  for (const line of text.split('\r\n')) {
    if (/[\r\n\x00]/.test(line)) return invalid('has a bare CR, LF or NUL in its part headers');
    if (line.startsWith(' ') || line.startsWith('\t')) return invalid('has a folded part header');
    const colon = line.indexOf(':');
    const name = colon === -1 ? '' : line.slice(0, colon);
    if (!TOKEN.test(name)) return invalid('has a malformed part header');
    const value = trimOws(line.slice(colon + 1));
    switch (name.toLowerCase()) {
      case 'content-disposition': {
        if (disposition) return invalid('has a part with two Content-Disposition headers');
        disposition = headerValue(value);
        if (!disposition) return invalid('has a malformed Content-Disposition');
        break;
      }
      case 'content-type':
        if (contentType !== undefined) return invalid('has a part with two Content-Type headers');
        contentType = value;
        if (headerValue(value) === undefined || !MEDIA_TYPE.test(headerValue(value)!.value)) {
          return invalid('has a malformed part Content-Type');
        }
        break;
      default:
        return invalid(`has a part header Keybrake does not read ${printableName(name)}`);
    }
  }
  if (disposition?.value.toLowerCase() !== 'form-data') {
    return invalid('has a part without Content-Disposition: form-data');
  }
  let name: string | undefined;
  let filename: string | undefined;
  for (const [key, value] of disposition.params) {
    if (key === 'name' && name === undefined) name = value;
    else if (key === 'filename' && filename === undefined) filename = value;
    else
      return invalid(
        `has a Content-Disposition parameter Keybrake does not read or repeated ${printableName(key)}`,
      );
  }
  if (name === undefined || name === '') return invalid('has a part without a name');
  if (filename === '') return invalid('has a file part with an empty filename');
  return {
    name,
    ...(filename !== undefined ? { filename } : {}),
    ...(contentType !== undefined ? { contentType } : {}),
  };
}

/** `text/plain`, with at most a `charset=utf-8`. */
function isPlainText(contentType: string): boolean {
  const parsed = headerValue(contentType);
  if (parsed?.value.toLowerCase() !== 'text/plain') return false;
  return (
    parsed.params.every(([k, v]) => k === 'charset' && v.toLowerCase() === 'utf-8') &&
    parsed.params.length <= 1
  );
}
