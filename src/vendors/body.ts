import type { IncomingHttpHeaders } from 'node:http';
import { type Denial, deny } from '../decision/reasons.ts';
import { trimOws } from '../http-whitespace.ts';

/**
 * The framing of a request body as the parse stage accepts it (ADR 0007 §2): the vendor's own
 * content type, `charset=utf-8` or none, no content coding other than `identity` and no transfer
 * coding other than `chunked`, valid UTF-8 without a byte-order mark. Anything else could be read by the vendor in a way Keybrake did not
 * (a gzip body is opaque to us; a latin-1 body decodes differently; a BOM may or may not be part of
 * the first name), so it is refused rather than forwarded at a guessed price. Values are trimmed of
 * HTTP whitespace only (trimOws): `application/x-www-form-urlencoded\xA0` is not the vendor's type.
 */

/** The body encodings vendors take. */
export type BodyType = 'form' | 'json';

const MEDIA_TYPES: Record<BodyType, string> = {
  form: 'application/x-www-form-urlencoded',
  json: 'application/json',
};

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A coding Keybrake would not undo (on any request, with or without a body): a `Content-Encoding`
 * other than `identity`, or a `Transfer-Encoding` other than a single `chunked`. Node undoes only
 * `chunked` and hands the rest on as it arrived, so `gzip, chunked` was judged as plain text while a
 * vendor or an intermediary may decode it (eleventh round: judged and forwarded as plain). RFC 9112
 * lets a server refuse a transfer coding it does not understand; it is refused like a content coding.
 */
export function codingDenial(headers: IncomingHttpHeaders): Denial | undefined {
  const coding = headers['content-encoding'];
  if (coding !== undefined && trimOws(coding).toLowerCase() !== 'identity')
    return deny(
      'body_invalid',
      'Request bodies must not be compressed or encoded: no Content-Encoding but identity.',
    );
  const transfer = headers['transfer-encoding'];
  if (transfer !== undefined && trimOws(transfer).toLowerCase() !== 'chunked')
    return deny('body_invalid', 'Request bodies must not be encoded: no Transfer-Encoding but chunked.');
  return undefined;
}

/** Whether the Content-Type is `type` with at most a `charset=utf-8` parameter. */
export function isContentType(header: string | undefined, type: BodyType): boolean {
  if (header === undefined) return false;
  const semi = header.indexOf(';');
  const media = trimOws(semi === -1 ? header : header.slice(0, semi)).toLowerCase();
  if (media !== MEDIA_TYPES[type]) return false;
  if (semi === -1) return true;
  let charset = false;
  for (const param of header.slice(semi + 1).split(';')) {
    const p = trimOws(param);
    if (p === '') continue;
    const eq = p.indexOf('=');
    if (eq === -1 || charset || trimOws(p.slice(0, eq)).toLowerCase() !== 'charset') return false;
    let value = trimOws(p.slice(eq + 1));
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (value.toLowerCase() !== 'utf-8') return false;
    charset = true;
  }
  return true;
}

/**
 * The text of a non-empty body of the given type, or why it is refused. The content coding is
 * checked separately (`codingDenial`), for every request.
 */
export function bodyText(headers: IncomingHttpHeaders, body: Buffer, type: BodyType): string | Denial {
  const header = headers['content-type'];
  if (!isContentType(header, type)) {
    const expected = MEDIA_TYPES[type];
    return deny(
      'body_invalid',
      header === undefined
        ? `A request body needs Content-Type: ${expected}.`
        : `Request bodies here must be ${expected} (charset utf-8 or none).`,
    );
  }
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return deny('body_invalid', 'The request body is not valid UTF-8.');
  }
  if (text.charCodeAt(0) === 0xfeff)
    return deny('body_invalid', 'The request body starts with a byte-order mark.');
  return text;
}

/** GET, HEAD and DELETE: the methods whose parameters travel in the query string. */
export function isQueryMethod(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'DELETE';
}
