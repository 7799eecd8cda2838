import { deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { UpstreamCredential } from '../snapshot/types.ts';
import { carriesCredential, credentialNeedles, unscannableBody } from './credential-scan.ts';
import type { UpstreamResponse } from './upstreams.ts';

// Built from parts so that no live-key-shaped literal sits in the tree; obviously fake all the same.
const STRIPE_KEY = ['sk', 'live', '51HxNotARealKeyForTheScanner0123456789'].join('_');
const TWILIO_SID = 'AC0123456789abcdef0123456789abcdef';
const TWILIO_TOKEN = 'f00dfeedf00dfeedf00dfeedf00dfeed';
const STRIPE: UpstreamCredential = { kind: 'bearer', token: STRIPE_KEY };
const TWILIO: UpstreamCredential = { kind: 'basic', username: TWILIO_SID, password: TWILIO_TOKEN };
const TWILIO_BASIC = Buffer.from(`${TWILIO_SID}:${TWILIO_TOKEN}`).toString('base64');

const answer = (
  body: string,
  headers: Record<string, string | string[] | undefined> = {},
): UpstreamResponse => ({
  status: 200,
  headers: { 'content-type': 'application/json', ...headers },
  body: Buffer.from(body),
});

/** Every character as a URL percent-escape. */
function percentAll(text: string): string {
  return [...Buffer.from(text)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}

const bytes = (body: Buffer): UpstreamResponse => ({ status: 200, headers: {}, body });

/** Every character as a JSON \\u escape. */
function jsonEscaped(text: string): string {
  return [...text].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
}

describe('unscannableBody', () => {
  it.each<[string, Record<string, string | string[]>, string | undefined]>([
    ['no Content-Encoding', {}, undefined],
    ['identity', { 'content-encoding': 'identity' }, undefined],
    ['gzip', { 'content-encoding': 'gzip' }, 'Content-Encoding: gzip'],
    ['br, in upper case', { 'content-encoding': 'BR' }, 'Content-Encoding: br'],
    ['the header twice', { 'content-encoding': ['identity', 'gzip'] }, 'Content-Encoding: identity,gzip'],
    ['identity between spaces and tabs', { 'content-encoding': ' identity\t' }, undefined],
    [
      'identity and a no-break space',
      { 'content-encoding': 'identity\u00a0' },
      'Content-Encoding: identity\u00a0',
    ],
  ])('%s', (_name, headers, expected) => {
    expect(unscannableBody(answer('{}', headers))).toBe(expected);
  });

  // Found by an adversarial probe: a gzip body without the header went through unread.
  it.each<[string, Buffer, string | undefined]>([
    ['gzip', gzipSync('{"k":"v"}'), 'a body compressed with gzip'],
    ['zlib', deflateSync('{"k":"v"}'), 'a body compressed with zlib'],
    ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00]), 'a body compressed with zstd'],
    ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00]), 'a body compressed with xz'],
    ['zip', Buffer.from('PK\x03\x04rest', 'latin1'), 'a body compressed with zip'],
    ['bzip2', Buffer.from('BZh91AY&SYrest', 'latin1'), 'a body compressed with bzip2'],
    ['JSON', Buffer.from('{"id":"cus_1"}'), undefined],
    ['text that starts like bzip2', Buffer.from('BZh is a prefix'), undefined],
    ['text that starts with x', Buffer.from('xylophone'), undefined],
    ['a body of one byte', Buffer.from([0x1f]), undefined],
    ['an empty body', Buffer.alloc(0), undefined],
  ])('a %s body without Content-Encoding', (_name, body, expected) => {
    expect(unscannableBody({ status: 200, headers: {}, body })).toBe(expected);
  });

  // Sixth round: only three zlib headers were known, so another level or window carried the key out.
  it.each<[string, Buffer]>([
    ['zlib at level 5 (78 5E)', deflateSync('{"k":"v"}', { level: 5 })],
    ['zlib with a 512-byte window (18 …)', deflateSync('{"k":"v"}', { level: 1, windowBits: 9 })],
    ['zlib with a preset dictionary', deflateSync('{"k":"v"}', { dictionary: Buffer.from('{"k":') })],
  ])('a %s body without Content-Encoding', (_name, body) => {
    expect(unscannableBody({ status: 200, headers: {}, body })).toBe('a body compressed with zlib');
  });

  it('knows zlib data under every zlib header, and under no two bytes that are none', () => {
    const deflated = deflateSync('{"k":"v"}');
    const data = deflated.subarray(2);
    for (let cmf = 0; cmf < 256; cmf++)
      for (let flg = 0; flg < 256; flg++) {
        const zlib = (cmf & 0x0f) === 8 && cmf >> 4 <= 7 && (cmf * 256 + flg) % 31 === 0;
        // A preset dictionary's id stands between the header and the deflate data.
        const dictionaryId = flg & 0x20 ? [0, 0, 0, 1] : [];
        const body = Buffer.concat([Buffer.from([cmf, flg, ...dictionaryId]), data]);
        const got = unscannableBody({ status: 200, headers: {}, body });
        if (zlib) expect(got).toBe('a body compressed with zlib');
        else expect(got).not.toBe('a body compressed with zlib');
      }
  });

  // Sixth round: the header alone was the test, so 1 in 31 texts starting with ( 8 H X h x were
  // withheld as compressed: MMS text media, CSV exports, Stripe file contents.
  it.each([
    ['a CSV', '80,apples\n81,pears\n82,plums\n'],
    ['a sentence', 'x marks the spot'],
    ['a CSV header', 'H,ello there world'],
    ['a parenthesis', '(S) something'],
    ['a word', 'Xf hello'],
    ['a two-byte text', 'x '],
    ['a long text', `80,${'apples,pears,plums\n'.repeat(5000)}`],
  ])('reads %s that starts like a zlib header as the text it is', (_name, text) => {
    const body = Buffer.from(text);
    expect([body[0]! & 0x0f, ((body[0]! << 8) | body[1]!) % 31]).toEqual([8, 0]);
    expect(unscannableBody({ status: 200, headers: { 'content-type': 'text/plain' }, body })).toBeUndefined();
  });

  it('withholds a long zlib answer read in part, and one that inflates past the output bound', () => {
    const text = JSON.stringify({ note: 'abcdefghijklmnopqrstuvwxyz'.repeat(20_000) });
    const random = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251));
    for (const body of [
      deflateSync(random, { level: 0 }),
      deflateSync(text),
      deflateSync(Buffer.alloc(10_000_000)),
    ])
      expect(unscannableBody({ status: 200, headers: {}, body })).toBe('a body compressed with zlib');
  });

  it.each([0x50, 0x5a, 0x5f])('a zstd stream that opens with a skippable frame (%i)', (first) => {
    const body = Buffer.from([first, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4, 0x28, 0xb5, 0x2f, 0xfd]);
    expect(unscannableBody({ status: 200, headers: {}, body })).toBe('a body compressed with zstd');
  });

  // Sixth round: undici undoes the chunks of `Transfer-Encoding: deflate, chunked`, not the deflate.
  it.each<[string, string | string[], string | undefined]>([
    ['chunked', 'chunked', undefined],
    ['chunked in upper case with spaces', ' Chunked ', undefined],
    ['identity, chunked', 'identity, chunked', undefined],
    ['deflate, chunked', 'deflate, chunked', 'Transfer-Encoding: deflate, chunked'],
    ['gzip', 'gzip', 'Transfer-Encoding: gzip'],
    ['the header twice', ['gzip', 'chunked'], 'Transfer-Encoding: gzip,chunked'],
    ['an empty coding', 'chunked,', 'Transfer-Encoding: chunked,'],
  ])('Transfer-Encoding: %s', (_name, value, expected) => {
    expect(unscannableBody(answer('{}', { 'transfer-encoding': value }))).toBe(expected);
  });
});

describe('carriesCredential', () => {
  it.each<[string, UpstreamCredential, UpstreamResponse, boolean]>([
    ['a Stripe key in the body', STRIPE, answer(`{"secret":"${STRIPE_KEY}"}`), true],
    ['a Stripe key in a header', STRIPE, answer('{}', { 'x-debug': `Bearer ${STRIPE_KEY}` }), true],
    [
      'a Stripe key in one of a repeated header',
      STRIPE,
      answer('{}', { 'set-cookie': ['a=1', `k=${STRIPE_KEY}`] }),
      true,
    ],
    ['a Stripe key as a header name', STRIPE, answer('{}', { [STRIPE_KEY]: '1' }), true],
    // Found by a probe of the second round's fixes: the body's \u decoding did not reach headers.
    [
      'a Stripe key spelt in JSON \\u escapes in a header',
      STRIPE,
      answer('{}', {
        'x-debug': `{"k":"${[...STRIPE_KEY].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"}`,
      }),
      true,
    ],
    [
      'an ordinary Stripe answer',
      STRIPE,
      answer('{"id":"cus_1","object":"customer"}', { 'request-id': 'req_1' }),
      false,
    ],
    ['a Twilio auth token in the body', TWILIO, answer(`{"auth_token":"${TWILIO_TOKEN}"}`), true],
    [
      'Twilio Basic credentials in a header',
      TWILIO,
      answer('{}', { 'www-authenticate': `Basic ${TWILIO_BASIC}` }),
      true,
    ],
    ['Twilio Basic credentials in the body', TWILIO, answer(`{"echo":"Basic ${TWILIO_BASIC}"}`), true],
    ['a Twilio answer naming the account SID only', TWILIO, answer(`{"account_sid":"${TWILIO_SID}"}`), false],
    // Found by an adversarial probe: JSON.parse turns \u escapes back into the key.
    ['a Stripe key spelt in \\u escapes', STRIPE, answer(`{"k":"${jsonEscaped(STRIPE_KEY)}"}`), true],
    [
      'a Stripe key with one character escaped',
      STRIPE,
      answer(
        `{"k":"${STRIPE_KEY.slice(0, 5)}\\u${STRIPE_KEY.charCodeAt(5).toString(16).padStart(4, '0')}${STRIPE_KEY.slice(6)}"}`,
      ),
      true,
    ],
    ['escapes that spell something else', STRIPE, answer('{"name":"caf\\u00e9"}'), false],
    // Found by an adversarial probe: the key percent-encoded, base64-encoded or in UTF-16.
    ['a Stripe key fully percent-encoded', STRIPE, answer(`{"k":"${percentAll(STRIPE_KEY)}"}`), true],
    [
      'a Stripe key with _ as %5F, in lower case',
      STRIPE,
      answer(`{"url":"https://x.test/?k=${STRIPE_KEY.replaceAll('_', '%5f')}"}`),
      true,
    ],
    [
      'a Stripe key with _ as %5F in a Location header',
      STRIPE,
      answer('{}', { location: `https://x.test/?k=${STRIPE_KEY.replaceAll('_', '%5F')}` }),
      true,
    ],
    [
      'a Stripe key percent-encoded inside \\u escapes',
      STRIPE,
      answer(`{"k":"${jsonEscaped(percentAll(STRIPE_KEY))}"}`),
      true,
    ],
    [
      'percent-escapes that spell something else',
      STRIPE,
      answer('{"url":"https://x.test/?q=a%20b%5F"}'),
      false,
    ],
    ...[0, 1, 2].flatMap((pad): [string, UpstreamCredential, UpstreamResponse, boolean][] => [
      [
        `a Stripe key in base64 after ${pad} bytes`,
        STRIPE,
        answer(`{"blob":"${Buffer.from(`${'x'.repeat(pad)}${STRIPE_KEY}!`).toString('base64')}"}`),
        true,
      ],
      [
        `a Stripe key in base64url after ${pad} bytes, in a header`,
        STRIPE,
        answer('{}', { 'x-token': Buffer.from(`${'?'.repeat(pad)}${STRIPE_KEY}??`).toString('base64url') }),
        true,
      ],
    ]),
    [
      'a Twilio auth token in base64 on its own',
      TWILIO,
      answer(`{"t":"${Buffer.from(TWILIO_TOKEN).toString('base64')}"}`),
      true,
    ],
    [
      'a Twilio account SID in base64 on its own',
      TWILIO,
      answer(`{"t":"${Buffer.from(TWILIO_SID).toString('base64')}"}`),
      false,
    ],
    ['a Stripe key in a UTF-16LE body', STRIPE, bytes(Buffer.from(`{"k":"${STRIPE_KEY}"}`, 'utf16le')), true],
    [
      'a Stripe key in a UTF-16BE body',
      STRIPE,
      bytes(Buffer.from(`{"k":"${STRIPE_KEY}"}`, 'utf16le').swap16()),
      true,
    ],
    ['a Twilio auth token in a UTF-16LE body', TWILIO, bytes(Buffer.from(TWILIO_TOKEN, 'utf16le')), true],
    // Found by a probe: escapes in UTF-16 have a NUL after every character, unseen by an ASCII search.
    [
      'a Stripe key in \\u escapes in a UTF-16LE body',
      STRIPE,
      bytes(Buffer.from(`{"note":"${jsonEscaped(STRIPE_KEY)}"}`, 'utf16le')),
      true,
    ],
    [
      'a Stripe key in \\u escapes in a UTF-16LE body with a BOM',
      STRIPE,
      bytes(Buffer.from(`\ufeff{"note":"${jsonEscaped(STRIPE_KEY)}"}`, 'utf16le')),
      true,
    ],
    [
      'a Stripe key in percent-escapes in a UTF-16BE body',
      STRIPE,
      bytes(Buffer.from(`{"note":"${percentAll(STRIPE_KEY)}"}`, 'utf16le').swap16()),
      true,
    ],
    [
      'a Twilio auth token in percent-escapes in a UTF-16LE body after one odd byte',
      TWILIO,
      bytes(Buffer.concat([Buffer.from('x'), Buffer.from(percentAll(TWILIO_TOKEN), 'utf16le')])),
      true,
    ],
    [
      'other escapes in a UTF-16LE body',
      STRIPE,
      bytes(Buffer.from(`{"note":"${jsonEscaped('caf\u00e9')} a%20b"}`, 'utf16le')),
      false,
    ],
  ])('%s', (_name, cred, res, expected) => {
    expect(carriesCredential(res, cred)).toBe(expected);
  });

  // Ninth round: only the secrets were sought in UTF-16, so a Twilio echo of its Authorization
  // header (`Basic ` and the base64 of `AC…:token`) in a UTF-16 answer was relayed.
  const utf16 = {
    le: (text: string) => Buffer.from(text, 'utf16le'),
    be: (text: string) => Buffer.from(text, 'utf16le').swap16(),
  };
  it.each(['le', 'be'] as const)('finds a Twilio Basic credential echoed in UTF-16%s', (encoding) => {
    const echo = JSON.stringify({ error: { message: 'bad header', authorization: `Basic ${TWILIO_BASIC}` } });
    expect(carriesCredential(bytes(utf16[encoding](echo)), TWILIO)).toBe(true);
  });

  it.each(
    [STRIPE, TWILIO].flatMap((cred) =>
      credentialNeedles(cred).forms.flatMap((form) =>
        (['le', 'be'] as const).flatMap((encoding) =>
          [0, 1].map((offset): [string, string, number, UpstreamCredential] => [
            form.text,
            encoding,
            offset,
            cred,
          ]),
        ),
      ),
    ),
  )('finds the form %s in UTF-16%s after %i odd bytes, escaped or not', (form, encoding, offset, cred) => {
    const wide = (text: string) =>
      Buffer.concat([Buffer.alloc(offset, 'x'), utf16[encoding as 'le' | 'be'](text)]);
    expect(carriesCredential(bytes(wide(`{"blob":"xy${form}=="}`)), cred)).toBe(true);
    expect(carriesCredential(bytes(wide(`{"blob":"${percentAll(form)}"}`)), cred)).toBe(true);
    expect(carriesCredential(bytes(wide(`{"blob":"${jsonEscaped(form)}"}`)), cred)).toBe(true);
    expect(carriesCredential(bytes(wide(`{"blob":"${form.slice(1)}"}`)), cred)).toBe(false);
  });

  it('finds the secret at any offset of a large body', () => {
    const body = Buffer.concat([Buffer.alloc(5_000_000, 'x'), Buffer.from(STRIPE_KEY)]);
    expect(carriesCredential({ status: 200, headers: {}, body }, STRIPE)).toBe(true);
  });

  // The escaped forms are read again only around escapes: each must still be found wherever it sits.
  it.each([
    ['percent-escapes', percentAll(STRIPE_KEY)],
    ['\\u escapes', jsonEscaped(STRIPE_KEY)],
    ['\\u escapes of percent-escapes', jsonEscaped(percentAll(STRIPE_KEY))],
  ])('finds the secret in %s far from the other escapes of a large body', (_name, spelt) => {
    const filler = Buffer.alloc(200_000, 'x');
    const body = Buffer.concat([
      Buffer.from('{"url":"a%20b\\u00e9",'),
      filler,
      Buffer.from(`"k":"${spelt}",`),
      filler,
      Buffer.from('"end":"%41"}'),
    ]);
    expect(carriesCredential({ status: 200, headers: {}, body }, STRIPE)).toBe(true);
    const clean = Buffer.from(body.toString('latin1').replace(spelt, 'nothing'), 'latin1');
    expect(carriesCredential({ status: 200, headers: {}, body: clean }, STRIPE)).toBe(false);
  });

  it('finds the secret spelt in escapes packed back to back over a whole body', () => {
    const body = Buffer.from(
      `{"k":"${'%41'.repeat(100_000)}${percentAll(STRIPE_KEY)}${'%41'.repeat(1000)}"}`,
    );
    expect(carriesCredential({ status: 200, headers: {}, body }, STRIPE)).toBe(true);
  });

  // Ninth round: JSON's `\/` is `/` once parsed, so a base64 form holding a `/` came through spelt so.
  it('finds a base64 form of the secret whose slashes are JSON-escaped', () => {
    const token = 'rk_Test?Key?For?Escaped?Slashes?0123';
    const cred: UpstreamCredential = { kind: 'bearer', token };
    const form = credentialNeedles(cred)
      .forms.map((n) => n.text)
      .find((f) => f.includes('/'));
    expect(form).toBeDefined();
    const spelt = form!.replaceAll('/', '\\/');
    expect(carriesCredential(answer(`{"blob":"${spelt}"}`), cred)).toBe(true);
    expect(carriesCredential(answer('{}', { 'x-debug': `{"blob":"${spelt}"}` }), cred)).toBe(true);
    expect(carriesCredential(answer(`{"blob":"${spelt.replace('\\/', '\\\\')}"}`), cred)).toBe(false);
  });

  // Ninth round: a request head dumped in base64 that an encoder wrapped every 76 characters (MIME),
  // in a JSON string (`\r\n` escapes) or as text (raw CR LF), carried the key in pieces.
  // (The Host line puts the key's base64 across a line end at 76 and at 64 characters.)
  const head = `GET /v1/customers/cus_x HTTP/1.1\r\nHost: api.stripe.com\r\nAuthorization: Bearer ${STRIPE_KEY}\r\n\r\n`;
  const wrapped = (text: string, width: number, lineBreak: string) =>
    Buffer.from(text)
      .toString('base64')
      .match(new RegExp(`.{1,${width}}`, 'g'))!
      .join(lineBreak);
  const inJson = [
    ['CR LF every 76 characters', `{"object":"customer","request_dump":"${wrapped(head, 76, '\\r\\n')}"}`],
    ['LF every 64 characters', `{"request_dump":"${wrapped(head, 64, '\\n')}"}`],
    ['CR every 3 characters', `{"request_dump":"${wrapped(head, 3, '\\r')}"}`],
    ['CR LF, with \\/ for /', `{"d":"${wrapped(`??${head}`, 76, '\\r\\n').replaceAll('/', '\\/')}"}`],
  ];
  it.each(inJson)('finds the key in wrapped base64 in JSON, %s, in the body and a header', (_name, json) => {
    expect(carriesCredential(answer(json), STRIPE)).toBe(true);
    expect(carriesCredential(bytes(Buffer.from(json, 'utf16le')), STRIPE)).toBe(true);
    expect(carriesCredential(answer('{}', { 'x-debug': json }), STRIPE)).toBe(true);
  });

  it.each([
    ['CR LF every 76 characters', `dump:\r\n${wrapped(head, 76, '\r\n')}\r\n`],
    ['LF every 4 characters', wrapped(head, 4, '\n')],
  ])('finds the key in wrapped base64 in text, %s', (_name, text) => {
    expect(carriesCredential(answer(text), STRIPE)).toBe(true);
    expect(carriesCredential(bytes(Buffer.from(text, 'utf16le').swap16()), STRIPE)).toBe(true);
  });

  it('finds nothing in wrapped base64 of something else', () => {
    const other = head.replace(
      STRIPE_KEY,
      // Spelt in two pieces: no string a secret scanner takes for a live key sits in the tree.
      `sk_${'live'}_somethingElseEntirely0123456789abcdefghijklmnopqrstuvwxyz`,
    );
    expect(carriesCredential(answer(`{"d":"${wrapped(other, 76, '\\r\\n')}"}`), STRIPE)).toBe(false);
    expect(carriesCredential(answer(wrapped(other, 4, '\r\n')), STRIPE)).toBe(false);
  });

  it('ignores secrets too short to tell from chance', () => {
    const weak: UpstreamCredential = { kind: 'basic', username: 'u', password: 'p' };
    expect(credentialNeedles(weak)).toMatchObject({ forms: [] });
    expect(carriesCredential(answer('%70 and \\u0070'), weak)).toBe(false);
    expect(carriesCredential(answer('p and dTpw'), weak)).toBe(false);
  });

  it('computes the forms of a credential once per credential object', () => {
    expect(credentialNeedles(TWILIO)).toBe(credentialNeedles(TWILIO));
    const forms = credentialNeedles(TWILIO).forms.map((n) => n.text);
    expect(forms[0]).toBe(TWILIO_TOKEN);
    // The base64 of the token at each alignment; the one inside the Basic credential among them.
    expect(forms.some((f) => TWILIO_BASIC.includes(f))).toBe(true);
    expect(forms.every((f) => f.length >= 8)).toBe(true);
  });
});

// Thirteenth round: a Twilio auth token is 32 lowercase hex digits, so in any other case it is still
// the token (lower-casing it gives it back); the scan sought it as it is only, and an echo of it
// upper-cased reached the agent. A mixed-case secret loses information with its case.
describe('a secret of one letter case, in any case', () => {
  const upper = TWILIO_TOKEN.toUpperCase();
  const mixed = [...TWILIO_TOKEN].map((c, i) => (i % 3 === 0 ? c.toUpperCase() : c)).join('');
  it.each([
    ['upper-cased in the body', answer(`{"message":"Authenticate: token ${upper} rejected"}`)],
    ['in mixed case in the body', answer(`{"m":"${mixed}"}`)],
    ['upper-cased and percent-encoded', answer(`{"u":"https://x/?t=${percentAll(upper)}"}`)],
    ['upper-cased and \\u-escaped', answer(`{"m":"${jsonEscaped(upper)}"}`)],
    ['upper-cased in UTF-16', bytes(Buffer.from(`token ${upper}`, 'utf16le'))],
    ['upper-cased, wrapped', answer(`${upper.slice(0, 16)}\r\n${upper.slice(16)}`)],
    ['upper-cased in a header value', answer('{}', { 'x-debug': `token=${upper}` })],
  ])('finds a Twilio auth token %s', (_name, res) => {
    expect(carriesCredential(res, TWILIO)).toBe(true);
  });

  it('seeks a mixed-case secret, and base64 forms, only as they are', () => {
    expect(carriesCredential(answer(`{"m":"${STRIPE_KEY.toUpperCase()}"}`), STRIPE)).toBe(false);
    expect(carriesCredential(answer(`{"m":"${STRIPE_KEY.toLowerCase()}"}`), STRIPE)).toBe(false);
    expect(carriesCredential(answer(`{"m":"${TWILIO_BASIC.toLowerCase()}"}`), TWILIO)).toBe(false);
    expect(credentialNeedles(STRIPE).folded).toEqual([]);
    expect(credentialNeedles(TWILIO).folded).toEqual([TWILIO_TOKEN]);
  });
});
