import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isDenial } from '../decision/reasons.ts';
import { WITHHELD } from './types.ts';
import { withholdUrlUserinfo } from './url-userinfo.ts';

/**
 * Properties of the URL userinfo withholding (ADR 0007 §1), WHATWG's URL parser (Node's `URL`, what a
 * webhook client reads a URL with) the independent oracle: whatever spelling a URL takes (slashes and
 * backslashes after the scheme, none at all, a TAB or newline the parser strips anywhere in the scheme
 * and its separators, percent-encodings, a `%40` or an `@` in the user name, a user name that is a
 * dotted name followed by a sub-delim, a space in the password), in a JSON value, XML or plain text,
 * or percent-encoded in a form-encoded text, or in part (any of its `:`, `/`, `\` and `@` spelt either
 * way, the parser reading it after one decode), once the answer has been
 * withheld from, the parser reads no password, and no user name but the marker, out of the URL where
 * it stood; and the password's characters are nowhere in the answer.
 */

const RUNS = { numRuns: 400 };

const SPECIAL_SCHEMES = ['http', 'https', 'HTTPS', 'ws', 'wss', 'ftp'];
const SPECIAL_SLASHES = ['', '/', '//', '///', '\\', '\\\\', '/\\', '\\/', '/\t/', '\n//'];

/** A user name's pieces: the sixth round's carve-out let `first.last` followed by a sub-delim through. */
const namePiece = fc.constantFrom(
  'first.last',
  'api.corp.com',
  'ops.team',
  'john.doe',
  'app',
  'u',
  '%40',
  '%41',
  '@',
  '+',
  '=',
  '!',
  '$',
  "'",
  '(',
  ')',
  '*',
  ',',
  ';',
  '~',
  '-',
  '_',
  '.',
  '\t',
  '\n',
);
const userName = fc.array(namePiece, { minLength: 0, maxLength: 5 }).map((pieces) => pieces.join(''));

/** A password: a token found again in the answer if it leaked, with sub-delims, `%40`, `@` or `:` around. */
const token = fc.stringMatching(/^[A-Za-z0-9]{8,16}$/).map((core) => `Pw${core}`);
const password = fc
  .tuple(
    fc.constantFrom('', '=', ';pw=', '!', '$', ',', '%40', '@', ':', '\t', ' ', '\u00a0', '\u3000', '\\'),
    token,
  )
  .map(([lead, core]) => ({ spelt: `${lead}${core}`, core }));

const special = fc.tuple(fc.constantFrom(...SPECIAL_SCHEMES), fc.constantFrom(...SPECIAL_SLASHES));
const other = fc.tuple(fc.constantFrom('foo', 'git+ssh', 'redis'), fc.constant('//'));

/**
 * TAB, LF and CR a parser strips, inserted in a URL's opening (its scheme, `:` and slashes): each at a
 * position from 0 (before the scheme) to the opening's length, in any number.
 */
const stripped = fc.array(fc.tuple(fc.nat(), fc.constantFrom('\t', '\n', '\r', '\r\n')), { maxLength: 3 });

function inserted(opening: string, insertions: [number, string][]): string {
  let out = opening;
  for (const [at, what] of insertions) {
    const position = at % (out.length + 1);
    out = out.slice(0, position) + what + out.slice(position);
  }
  return out;
}

/** A URL with a password, as the vendor holds it, and the password's token. */
const urlWithPassword = fc
  .tuple(
    fc.oneof(special, other),
    stripped,
    userName,
    password,
    fc.constantFrom('hooks.example.com', 'h', '10.0.0.1:8443'),
    fc.constantFrom('', '/voice', '/sms?x=1', '#f'),
  )
  .map(([[scheme, slashes], insertions, user, pw, host, rest]) => ({
    url: `${inserted(`${scheme}:${slashes}`, insertions)}${user}:${pw.spelt}@${host}${rest}`,
    core: pw.core,
  }))
  .filter(({ url }) => parsed(url)?.password !== undefined && parsed(url)?.password !== '');

/** What WHATWG reads out of a URL, or undefined when it is none. */
function parsed(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/** How a vendor's answer may hold a URL, and how to take what stands in its place out of the answer. */
const containers: Record<string, { wrap: (url: string) => string; unwrap: (answer: string) => string }> = {
  json: {
    wrap: (url) => JSON.stringify({ sid: 'PN1', voice_url: url, friendly_name: 'bob@example.com' }),
    unwrap: (answer) => (JSON.parse(answer) as { voice_url: string }).voice_url,
  },
  'json with \\/ escapes': {
    wrap: (url) => JSON.stringify({ url, note: 'x' }).replaceAll('/', '\\/'),
    unwrap: (answer) => (JSON.parse(answer) as { url: string }).url,
  },
  xml: {
    wrap: (url) =>
      `<?xml version='1.0'?><TwilioResponse><VoiceUrl>${url}</VoiceUrl><Email>bob@example.com</Email></TwilioResponse>`,
    unwrap: (answer) => answer.split('<VoiceUrl>')[1]!.split('</VoiceUrl>')[0]!,
  },
  'plain text': {
    wrap: (url) => `posts to ${url} then stops`,
    unwrap: (answer) => answer.slice('posts to '.length, -' then stops'.length),
  },
  'a form-encoded text in JSON': {
    wrap: (url) =>
      JSON.stringify({ alert_text: `Msg=timeout&url=${encodeURIComponent(url)}&LogLevel=ERROR` }),
    unwrap: (answer) =>
      new URLSearchParams((JSON.parse(answer) as { alert_text: string }).alert_text).get('url')!,
  },
  // A form encodes a space as `+`: the URL stands after one, in a message.
  'a form-encoded message': {
    wrap: (url) => new URLSearchParams({ Msg: `posted to ${url}`, LogLevel: 'ERROR' }).toString(),
    unwrap: (answer) => new URLSearchParams(answer).get('Msg')!.slice('posted to '.length),
  },
};

/**
 * A URL with each `:`, `/`, `\` and `@` percent-encoded or not as the mask says (cycling through it):
 * any mix of the spellings, the fully encoded and the plain included.
 */
function partlyEncoded(url: string, mask: boolean[]): string {
  let i = 0;
  return url.replace(/[:/\\@]/g, (c) => (mask[i++ % mask.length] ? encodeURIComponent(c) : c));
}

/** What one decode of those four characters makes of a text, as a client decoding it reads it. */
const decodedOnce = (text: string) => text.replace(/%(?:3a|2f|5c|40)/gi, (e) => decodeURIComponent(e));

/** Where a URL percent-encoded in part may stand: a JSON value, a text, a form's value. */
const partlyEncodedContainers: Record<string, (typeof containers)[string]> = {
  json: containers.json!,
  'plain text': containers['plain text']!,
  'a form value': {
    wrap: (url) => JSON.stringify({ alert_text: `Msg=timeout&url=${url}&LogLevel=ERROR` }),
    unwrap: (answer) =>
      (JSON.parse(answer) as { alert_text: string }).alert_text.slice(
        'Msg=timeout&url='.length,
        -'&LogLevel=ERROR'.length,
      ),
  },
};

function withheld(text: string): string {
  const out = withholdUrlUserinfo(Buffer.from(text));
  if (isDenial(out)) throw new Error(`denied: ${out.message}`);
  return out.toString('utf8');
}

describe('withholdUrlUserinfo, WHATWG as the oracle', () => {
  it.each(Object.entries(containers))(
    'leaves no password a URL parser reads in %s',
    (_name, { wrap, unwrap }) => {
      fc.assert(
        fc.property(urlWithPassword, ({ url, core }) => {
          const answer = withheld(wrap(url));
          expect(answer).not.toContain(core);
          const after = parsed(unwrap(answer));
          expect(after?.password ?? '').toBe('');
          expect(['', WITHHELD]).toContain(after?.username ?? '');
        }),
        RUNS,
      );
    },
  );

  // Eighth round: a URL percent-encoded in part, as a quoting tool leaves it (Python's `quote` keeps
  // `/`, JavaScript's `escape` keeps `@`), reached the agent whole: one decode reads its password.
  it.each(Object.entries(partlyEncodedContainers))(
    'leaves no password a URL parser reads after one decode of a URL percent-encoded in part, in %s',
    (_name, { wrap, unwrap }) => {
      fc.assert(
        fc.property(urlWithPassword, fc.array(fc.boolean(), { minLength: 1 }), ({ url, core }, mask) => {
          const spelt = partlyEncoded(url, mask);
          fc.pre(parsed(decodedOnce(spelt))?.password !== undefined);
          const answer = withheld(wrap(spelt));
          expect(answer).not.toContain(core);
          const after = parsed(decodedOnce(unwrap(answer)));
          expect(after?.password ?? '').toBe('');
          expect(['', WITHHELD]).toContain(after?.username ?? '');
        }),
        RUNS,
      );
    },
  );

  // A user name alone is withheld too (a token may be one), but for prose: a dotted name, then
  // punctuation ending a URL in text, then an address, with no `:` anywhere.
  it('withholds a user name without a password that is not prose', () => {
    const word = fc.stringMatching(/^[A-Za-z0-9_~+=!$*%-]{1,12}$/);
    const credential = fc.stringMatching(/^[A-Za-z0-9._+-]{0,6}[=!$*%~:][A-Za-z0-9=!$*%~:]{0,6}$/);
    const dotted = fc
      .tuple(
        fc.constantFrom('api.corp.com', 'first.last'),
        fc.constantFrom(',', ';', ')', "'", '+', '='),
        credential,
      )
      .map((parts) => parts.join(''));
    const name = fc.oneof(word, dotted);
    fc.assert(
      fc.property(
        fc.constantFrom(containers.json!, containers.xml!),
        special,
        name,
        (c, [scheme, slashes], user) => {
          const url = `${scheme}:${slashes}${user}@hooks.example.com/x`;
          fc.pre(parsed(url)?.username !== undefined && parsed(url)?.username !== '');
          expect(parsed(c.unwrap(withheld(c.wrap(url))))?.username).toBe(WITHHELD);
        },
      ),
      RUNS,
    );
  });
});
