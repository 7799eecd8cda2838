import { describe, expect, it } from 'vitest';
import type { CompiledKey, Snapshot } from '../snapshot/types.ts';
import {
  carriesToken,
  carriesTokenAnyCase,
  holdsTokenShape,
  holdsTokenShapeAnyCase,
  presentedCredentials,
  tokenPrefixesOf,
  withoutPresented,
  withoutToken,
  withoutTokenShapes,
} from './redact.ts';
import { mintRunToken, runSecretFor } from './run-token.ts';
import { fingerprint, newToken, tokenDigest } from './token.ts';

const token = newToken('stripe', { random: () => new Uint8Array(24).fill(7) });
const custom = newToken('twilio', { random: () => new Uint8Array(24).fill(9), prefix: 'acme_' });
/** A snapshot whose one key uses the custom prefix `acme_`. */
const snapshot = {
  version: 1,
  compiledAt: 0,
  keys: new Map([['d', { tokenPrefix: 'acme_' } as CompiledKey]]),
} as Snapshot;
const prefixes = tokenPrefixesOf(snapshot);
const defaults = tokenPrefixesOf(undefined);

describe('withoutToken', () => {
  it('replaces every occurrence by the fingerprint', () => {
    expect(withoutToken(`/v1/customers/${token}/x${token}`, token)).toBe(
      `/v1/customers/${fingerprint(token)}/x${fingerprint(token)}`,
    );
    expect(withoutToken('/v1/customers', token)).toBe('/v1/customers');
  });
});

describe('withoutTokenShapes', () => {
  const encoded = [...token].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('');
  it.each([
    ['a whole segment', `/${token}/v1/charges`],
    ['inside a segment, with text on both sides', `/v1/customers/x${token}y`],
    ['after an escape', `/v1/customers/%5F${token}`],
    ['fully percent-encoded', `/v1/customers/${encoded}`],
    ['percent-encoded twice', `/v1/customers/${encoded.replaceAll('%', '%25')}`],
    ['percent-encoded beside a stray %', `/v1/customers/${encoded}?q=100%`],
    ['in a query', `/v1/customers?email=${token}`],
    ['with a custom prefix a served key uses, twice', `/${custom}/${custom}`],
  ])('finds a vault token %s, and writes its fingerprint instead', (_name, text) => {
    const clean = withoutTokenShapes(text, prefixes);
    expect(clean).not.toContain(token);
    expect(clean).not.toContain(custom);
    expect(clean).toMatch(/…/);
    expect(holdsTokenShape(text, prefixes)).toBe(true);
  });

  it('finds a run key', () => {
    const parent = {
      tokenPrefix: 'kb_stripe_',
      digest: tokenDigest(token),
      runSecret: runSecretFor(token, 'a/b'),
    };
    const runKey = mintRunToken(parent, {
      runId: 'run-1',
      capMicros: 1_000_000,
      issuedAt: 1_900_000_000_000,
      expiresAt: 2_000_000_000_000,
    });
    expect(withoutTokenShapes(`/v1/customers/${runKey}`, defaults)).not.toContain(runKey);
    expect(holdsTokenShape(runKey, defaults)).toBe(true);
  });

  // Found by a probe: after a `kb_stripe_` candidate failed its checksum, the search resumed after
  // it and skipped the real key (prefix `stripe_`) that starts inside it.
  it('finds a key that starts inside a candidate that is none', () => {
    const inner = newToken('stripe', { random: () => new Uint8Array(24).fill(5), prefix: 'stripe_' });
    const served = tokenPrefixesOf({
      version: 1,
      compiledAt: 0,
      keys: new Map([['d', { tokenPrefix: 'stripe_' } as CompiledKey]]),
    } as Snapshot);
    const text = `/v1/customers/kb_${inner}`;
    expect(holdsTokenShape(text, served)).toBe(true);
    expect(withoutTokenShapes(text, served)).toBe(`/v1/customers/kb_${fingerprint(inner)}`);
  });

  it('knows a custom prefix only from a snapshot that serves it', () => {
    expect(holdsTokenShape(`/x/${custom}`, defaults)).toBe(false);
    expect(holdsTokenShape(`/x/${custom}`, prefixes)).toBe(true);
  });

  it('leaves ids, digests, cursors and a prefix with less than a body alone', () => {
    for (const text of [
      `/v1/customers/${'a'.repeat(40)}`,
      // Fourteenth round: 32 of the body's 33 is a near miss (below); 30 leave 3 characters to guess.
      `/v1/customers/${token.slice(0, 10 + 30)}`,
      `/v1/customers/kb_stripe_${'a'.repeat(14)}_${'b'.repeat(14)}`,
      '/v1/customers/cus_NffrFeUfNV2Hib',
      `/2010-04-01/Accounts/AC${'0'.repeat(32)}/Messages/SM${'f'.repeat(32)}.json`,
      `/v1/customers?starting_after=${'x'.repeat(2000)}`,
    ]) {
      expect(withoutTokenShapes(text, prefixes)).toBe(text);
      expect(holdsTokenShape(text, prefixes)).toBe(false);
    }
  });
});

// Thirteenth round: a token with its checksum left off or one character mistyped was written in
// plain; the checksum (crc32 of prefix and body) gives the token back offline.
describe('near misses of a vault token', () => {
  const body = token.slice(0, -6);
  const other = token[20] === 'X' ? 'Y' : 'X';
  const typo = `${token.slice(0, 20)}${other}${token.slice(21)}`;
  const checksumTypo = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
  it.each([
    ['prefix and body, no checksum', `/v1/customers/${body}`, '/v1/customers/kb_stripe_…'],
    ['a body character mistyped', `/v1/customers/${typo}/x`, '/v1/customers/kb_stripe_…/x'],
    ['a checksum character mistyped', `/v1/customers/${checksumTypo}`, '/v1/customers/kb_stripe_…'],
    ['the checksum half written', `/v1/x/${token.slice(0, -3)}`, '/v1/x/kb_stripe_…'],
    ['a character more', `/v1/x/${token}Z`, `/v1/x/${fingerprint(token)}Z`],
    ['percent-encoded', `/v1/x/${body.replaceAll('_', '%5F')}`, '/v1/x/kb_stripe_…'],
  ])('by shape: %s', (_what, text, clean) => {
    expect(holdsTokenShape(text, defaults)).toBe(true);
    expect(withoutTokenShapes(text, defaults)).toBe(clean);
    expect(withoutTokenShapes(text, defaults)).not.toContain(body.slice(10, 30));
  });

  it.each([
    ['its prefix and body', body],
    ['a character changed', typo],
    ['a character left out', `${token.slice(0, 15)}${token.slice(16)}`],
    ['a character added', `${token.slice(0, 25)}q${token.slice(25)}`],
    ['two characters swapped', `${token.slice(0, 19)}${token[20]}${token[19]}${token.slice(21)}`],
    ['the prefix mistyped', `kb_strioe_${token.slice(10)}`],
    ['the prefix mistyped, percent-encoded', `kb_strioe%5F${token.slice(10)}`],
  ])('by value, the token presented: %s', (_what, variant) => {
    const text = `/v1/customers/${variant}/x`;
    expect(carriesToken(text, token)).toBe(true);
    expect(withoutToken(text, token)).not.toContain(token.slice(12, 36));
    expect(withoutToken(text, token)).toContain(fingerprint(token));
    // Without its checksum nothing gives the case back: upper-cased, the body is no longer the token's
    // (holdsTokenShapeAnyCase still refuses it in a header name by its shape).
    if (variant !== body) expect(carriesTokenAnyCase(text.toUpperCase(), token)).toBe(true);
    expect(holdsTokenShapeAnyCase(body.toUpperCase(), defaults)).toBe(true);
  });

  it('finds a near miss of a brought token by value, and no text two changes away', () => {
    const brought = 'foreign-agent-token-0123456789abcdefXYZ';
    const typoed = brought.replace('0123', '0x23');
    expect(withoutToken(`/v1/x/${typoed}`, brought)).toBe(`/v1/x/${fingerprint(brought)}`);
    const twice = brought.replace('0123', '0xy3');
    expect(carriesToken(`/v1/x/${twice}`, brought)).toBe(false);
    expect(carriesToken(`/v1/x/${twice.slice(0, 20)}`, brought)).toBe(false);
  });

  // Sixteenth round (probe leaks16 finding 1): a brought `openssl rand -hex 32` token upper-cased in the
  // path, a header or a run id was forwarded and recorded in plain; lower-casing it gives it back.
  it('finds a brought token whose letters are all one case in any case, near misses too', () => {
    const hex = 'bd8df61748bf9d181ff6d6be417891751e46599c804493918809e9d36a4c5c65';
    const upper = hex.toUpperCase();
    const mixed = `${hex.slice(0, 20)}${upper.slice(20)}`;
    for (const [written, token] of [
      [upper, hex],
      [mixed, hex],
      [hex, upper],
      [`${upper.slice(0, 40)}X${upper.slice(41)}`, hex],
    ] as const) {
      expect(carriesToken(`/v1/customers/${written}`, token)).toBe(true);
      expect(carriesToken(written, token)).toBe(true);
      expect(withoutToken(`/v1/customers/${written}/x`, token)).toBe(`/v1/customers/${fingerprint(token)}/x`);
    }
    // Percent-encoded as well, and as the presented credential's own search (withoutPresented).
    const encoded = [...upper].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('');
    expect(carriesToken(`/v1/x/${encoded}`, hex)).toBe(true);
    expect(withoutPresented(`/v1/x/${upper}`, `Bearer ${hex}`)).toBe(`/v1/x/${fingerprint(hex)}`);
    // Two changes away stays text, in any case.
    expect(carriesToken(`/v1/x/${upper.replace('BD8D', 'BXYD')}`, hex)).toBe(false);
  });

  it('finds a mixed-case brought token as it is only: its case is part of it', () => {
    const brought = 'foreign-agent-token-0123456789abcdefXYZ';
    expect(carriesToken(`/v1/x/${brought.toLowerCase()}`, brought)).toBe(false);
    expect(carriesToken(`/v1/x/${brought.toUpperCase()}`, brought)).toBe(false);
  });
});

// Eighth round: a token the user brought has no shape; the table's digest of it finds it, whoever
// presents what (no credential, another key's, the token with a character more).
describe('withoutTokenShapes, with brought tokens the table serves', () => {
  const brought = 'foreign-agent-token-0123456789abcdefXYZ';
  const served = tokenPrefixesOf({
    version: 1,
    compiledAt: 0,
    keys: new Map<string, CompiledKey>([
      [
        tokenDigest(brought),
        { tokenFingerprint: fingerprint(brought), broughtTokenLength: brought.length } as CompiledKey,
      ],
      [
        tokenDigest(token),
        { tokenFingerprint: fingerprint(token), tokenPrefix: 'kb_stripe_' } as CompiledKey,
      ],
    ]),
  } as Snapshot);
  const encoded = [...brought].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('');

  it.each([
    ['a whole segment', `/v1/customers/${brought}`, `/v1/customers/${fingerprint(brought)}`],
    ['inside a segment', `/v1/customers/cus_${brought}x`, `/v1/customers/cus_${fingerprint(brought)}x`],
    ['beside a minted key', `/${brought}/${token}`, `/${fingerprint(brought)}/${fingerprint(token)}`],
    ['percent-encoded twice', `/v1/x/${encoded.replaceAll('%', '%25')}`, `/v1/x/${fingerprint(brought)}`],
  ])('replaces it in %s by its fingerprint', (_name, text, clean) => {
    expect(withoutTokenShapes(text, served)).toBe(clean);
    expect(holdsTokenShape(text, served)).toBe(true);
  });

  it('leaves text alone that holds no served token, and a table without brought tokens looks for none', () => {
    expect(withoutTokenShapes(`/v1/customers/${brought.slice(0, -1)}`, served)).toBe(
      `/v1/customers/${brought.slice(0, -1)}`,
    );
    expect(prefixes.brought).toBeUndefined();
    expect(holdsTokenShape(`/v1/customers/${brought}`, prefixes)).toBe(false);
  });
});

describe('presented credentials', () => {
  const brought = 'foreign-agent-token-0123456789abcdefXYZ';
  const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;

  // Eighth round: a brought token under another scheme (`Token`, or none) was not taken out.
  it('reads the credential of any scheme, and a value of one word', () => {
    expect(presentedCredentials(`Token ${brought}`)).toEqual([brought]);
    expect(presentedCredentials(`  ${brought} `)).toEqual([brought]);
    expect(withoutPresented(`/v1/customers/${brought}`, `Token ${brought}`)).toBe(
      `/v1/customers/${fingerprint(brought)}`,
    );
    expect(presentedCredentials('Token short')).toEqual([]);
  });

  it('reads a Bearer value and the Basic parts of 16 characters or more, never a Twilio SID', () => {
    expect(presentedCredentials(`Bearer ${brought}`)).toEqual([brought]);
    expect(presentedCredentials(basic(`${brought}:`))).toEqual([brought]);
    expect(presentedCredentials(basic(`AC${'0'.repeat(32)}:${brought}`))).toEqual([brought]);
    expect(presentedCredentials('Bearer short')).toEqual([]);
    expect(presentedCredentials(undefined)).toEqual([]);
  });

  // Ninth round: on Twilio the user name is never read, so the agent wrote its run id there, and the
  // run id was recorded as that text's fingerprint.
  it('leaves a Basic user name the vendor does not read, and still reads the password', () => {
    const runId = 'run-budget-000042';
    const authorization = basic(`${runId}:${brought}`);
    expect(presentedCredentials(authorization, 'name')).toEqual([brought]);
    expect(withoutPresented(`${runId}/${brought}`, authorization, 'name')).toBe(
      `${runId}/${fingerprint(brought)}`,
    );
    // Not known to be the vendor's name slot (no vendor routed, or Stripe's): still a credential.
    expect(presentedCredentials(authorization)).toEqual([runId, brought]);
    // Without a colon there is no user name: the whole is what is presented.
    expect(presentedCredentials(basic(brought), 'name')).toEqual([brought]);
  });

  it('finds the token percent-encoded up to three times, and gives the text decoded', () => {
    const once = [...brought].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('');
    for (const text of [once, once.replaceAll('%', '%25'), once.replaceAll('%', '%2525')]) {
      expect(carriesToken(`/v1/x/${text}`, brought)).toBe(true);
      expect(withoutPresented(`/v1/x/${text}`, `Bearer ${brought}`)).toBe(`/v1/x/${fingerprint(brought)}`);
    }
    expect(carriesToken('/v1/x/%41', brought)).toBe(false);
    expect(withoutPresented('/v1/x/%41', `Bearer ${brought}`)).toBe('/v1/x/%41');
  });
});

describe('in any letter case (header names, which are forwarded lower-cased)', () => {
  const run = mintRunToken(
    { tokenPrefix: 'kb_stripe_', digest: tokenDigest(token), runSecret: runSecretFor(token, 'a/b') },
    { runId: 'run-1', issuedAt: 1_900_000_000_000, expiresAt: 2_000_000_000_000 },
  );
  it.each([
    ['a vault token lower-cased', token.toLowerCase(), true],
    ['a vault token upper-cased', token.toUpperCase(), true],
    ['a custom-prefixed token lower-cased', custom.toLowerCase(), true],
    ['a run key upper-cased', run.toUpperCase(), true],
    ['a vault token percent-encoded in part', `%6B%62${token.slice(2).toLowerCase()}`, true],
    ['a prefix with too short a body', `${token.slice(0, 30)}`, false],
    ['a prefix alone', 'KB_Stripe_Note', false],
    ['an ordinary header name', 'x-request-id', false],
  ])('%s: %s', (_what, text, held) => {
    expect(holdsTokenShapeAnyCase(text, prefixes)).toBe(held);
  });

  it('finds the presented token whatever its case, percent-encoded too', () => {
    const brought = 'MyBroughtToken-ABCdefGHIjklMNOpqr';
    expect(carriesTokenAnyCase(brought.toLowerCase(), brought)).toBe(true);
    expect(carriesTokenAnyCase(`x-${brought.toUpperCase()}`, brought)).toBe(true);
    expect(carriesTokenAnyCase(`%4d${brought.slice(1).toLowerCase()}`, brought)).toBe(true);
    expect(carriesTokenAnyCase('x-request-id', brought)).toBe(false);
  });
});
