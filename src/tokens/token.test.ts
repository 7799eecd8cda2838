import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fingerprint, hasValidChecksum, newToken, TOKEN_BODY_CHARS, tokenDigest } from './token.ts';

const fixed = (fill: number) => (size: number) => new Uint8Array(size).fill(fill);

describe('newToken', () => {
  it.each([
    ['stripe', 'kb_stripe_'],
    ['twilio', 'kb_twilio_'],
    ['resend', 'kb_resend_'],
  ] as const)('gives a %s token the %s prefix', (vendor, prefix) => {
    expect(newToken(vendor).startsWith(prefix)).toBe(true);
  });

  it('carries 192 random bits as 33 base62 characters plus a 6-character checksum', () => {
    const token = newToken('stripe');
    expect(token).toMatch(/^kb_stripe_[0-9A-Za-z]{39}$/);
    expect(token.length).toBe('kb_stripe_'.length + TOKEN_BODY_CHARS + 6);
  });

  it('asks the random source for 24 bytes and encodes them deterministically', () => {
    const sizes: number[] = [];
    const rnd = (n: number) => {
      sizes.push(n);
      return new Uint8Array(n).fill(7);
    };
    expect(newToken('stripe', { random: rnd })).toBe(newToken('stripe', { random: fixed(7) }));
    expect(sizes).toEqual([24]);
  });

  it('keeps leading zero bytes as padding so the length never varies', () => {
    expect(newToken('resend', { random: fixed(0) }).length).toBe(
      newToken('resend', { random: fixed(255) }).length,
    );
  });

  it('differs between calls with the real random source', () => {
    expect(newToken('stripe')).not.toBe(newToken('stripe'));
  });

  it('accepts a prefix override and rejects a malformed one', () => {
    expect(newToken('stripe', { prefix: 'sk_live_' }).startsWith('sk_live_')).toBe(true);
    expect(hasValidChecksum(newToken('stripe', { prefix: 'sk_live_' }))).toBe(true);
    expect(() => newToken('stripe', { prefix: 'bad prefix' })).toThrow();
  });
});

describe('hasValidChecksum', () => {
  const token = newToken('twilio', { random: fixed(42) });

  it('accepts a freshly minted token', () => {
    expect(hasValidChecksum(token)).toBe(true);
  });

  it('answers each token for itself when asked about the same tokens again, in any order', () => {
    const typo = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    for (const [t, valid] of [
      [token, true],
      [token, true],
      [typo, false],
      [typo, false],
      [token, true],
      [`${token}`.slice(0), true],
      [typo, false],
    ] as const)
      expect(hasValidChecksum(t)).toBe(valid);
  });

  it('keeps the checksums of tokens minted before (known answers)', () => {
    expect(newToken('twilio', { random: fixed(0) })).toBe(
      'kb_twilio_0000000000000000000000000000000004DSlCY',
    );
    expect(newToken('twilio', { random: fixed(7) })).toBe(
      'kb_twilio_04hRzgefUy8S7YcHUrJGoeiJTKldGueU33CqmkK',
    );
    expect(hasValidChecksum('kb_twilio_2lFA6LboL2xx0ldQH2K1TdSrwuqMMiME33ZCtxr')).toBe(true);
  });

  it('is the CRC-32 of the rest in six base62 digits, for any head (property)', () => {
    // The definition, written the slow way: BigInt division of the CRC of the UTF-8 bytes.
    const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    const reference = (head: string) => {
      let n = BigInt(crc32(Buffer.from(head, 'utf8')));
      let out = '';
      while (n > 0n) {
        out = BASE62[Number(n % 62n)] + out;
        n /= 62n;
      }
      return out.padStart(6, '0');
    };
    const head = fc.stringMatching(/^[A-Za-z0-9_]{35,60}$/);
    fc.assert(
      fc.property(head, (h) => {
        const right = reference(h);
        expect(hasValidChecksum(h + right)).toBe(true);
        const wrong = right === '000000' ? '000001' : '000000';
        expect(hasValidChecksum(h + wrong)).toBe(false);
      }),
    );
  });

  it.each([0, 5, 12, 30, token.length - 1])('detects a changed character at position %i', (pos) => {
    const c = token[pos] === 'a' ? 'b' : 'a';
    expect(hasValidChecksum(token.slice(0, pos) + c + token.slice(pos + 1))).toBe(false);
  });

  it.each([
    ['a truncated token', token.slice(0, -1)],
    ['a token with a space', `${token.slice(0, 20)} ${token.slice(21)}`],
    ['a short string', 'kb_stripe_abc'],
  ])('rejects %s', (_name, value) => {
    expect(hasValidChecksum(value)).toBe(false);
  });
});

describe('tokenDigest', () => {
  it('is the SHA-256 hex of the token', () => {
    expect(tokenDigest('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('fingerprint', () => {
  it('shows the prefix and the last four characters only', () => {
    const token = newToken('stripe', { random: fixed(9) });
    const fp = fingerprint(token);
    expect(fp).toBe(`kb_stripe_…${token.slice(-4)}`);
    const body = token.slice('kb_stripe_'.length, -4);
    for (let i = 0; i + 4 <= body.length; i++) expect(fp).not.toContain(body.slice(i, i + 4));
  });

  it.each([
    ['a token with no underscore', 'abcdefghijklmnopqrstuvwxyz0123', '…0123'],
    ['a token whose underscore is near the end', 'abcdefghijklmnopqrstuvwxyz_0123', '…0123'],
    ['a short token', 'short', '…'],
    // Fifth probe round: everything up to the last `_` was shown when 16 or more characters followed.
    [
      'a brought token with an underscore after its random part',
      'Xq7pL2mN9vR4tY8wK3jH6bF1aB3c_dE5fG7hJ9kL1mN3p',
      '…mN3p',
    ],
    ['a brought token with words before an underscore', 'user_provided_token_0123456789abcdef', '…cdef'],
    ['a brought token shaped like a minted one, checksum wrong', `kb_stripe_${'A'.repeat(39)}`, '…AAAA'],
  ])('shows no prefix for %s', (_name, token, expected) => {
    expect(fingerprint(token)).toBe(expected);
  });

  it.each([
    ['a vendor-shaped prefix', 'sk_live_', 'sk_live_'],
    ['a prefix with no underscore at its end, up to its last one', 'kb_x', 'kb_'],
    ['a prefix with no underscore', 'kbX', ''],
  ])('shows the prefix of a token minted with %s', (_name, prefix, shown) => {
    const token = newToken('stripe', { prefix, random: fixed(7) });
    expect(fingerprint(token)).toBe(`${shown}…${token.slice(-4)}`);
  });
});
