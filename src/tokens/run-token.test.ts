import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { runKeyId } from '../snapshot/run-keys.ts';
import {
  looksLikeRunToken,
  MAX_RUN_CAP_MICROS,
  mac,
  mintRunToken,
  newRunId,
  RUN_MAC_CHARS,
  readRunToken,
  runSecretFor,
  runTokenKeyId,
  verifyRunToken,
} from './run-token.ts';
import { newToken, tokenDigest } from './token.ts';

const vault = newToken('stripe');
const parent = {
  tokenPrefix: 'kb_stripe_',
  runSecret: runSecretFor(vault, 'uid-1'),
  digest: tokenDigest(vault),
};
const grant = {
  runId: 'session-42',
  capMicros: 5_000_000,
  issuedAt: 1_780_000_000_000,
  expiresAt: 1_780_001_800_000,
};

describe('runSecretFor', () => {
  it('is 32 bytes of base64url, never the token, and changes with the token and the uid', () => {
    const s = runSecretFor(vault, 'uid-1');
    expect(s).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(s).not.toContain(vault);
    expect(runSecretFor(newToken('stripe'), 'uid-1')).not.toBe(s);
    expect(runSecretFor(vault, 'uid-2')).not.toBe(s);
    expect(runSecretFor(vault, 'uid-1')).toBe(s);
  });
});

describe('mintRunToken and verifyRunToken', () => {
  const token = mintRunToken(parent, grant);

  it('looks like the parent key: its prefix, then r1_, in the charset every vendor reader takes', () => {
    expect(token.startsWith('kb_stripe_r1_')).toBe(true);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(token.length).toBeLessThanOrEqual(512);
    expect(looksLikeRunToken(token)).toBe(true);
    expect(runTokenKeyId(token)).toBe(runKeyId(parent.digest));
  });

  it('grants what was minted', () => {
    expect(verifyRunToken(token, parent)).toEqual(grant);
    const { capMicros: _cap, ...uncapped } = grant;
    expect(verifyRunToken(mintRunToken(parent, uncapped), parent)).toEqual(uncapped);
  });

  it('stays under 512 characters with the longest prefix and run id', () => {
    const long = mintRunToken(
      { ...parent, tokenPrefix: 'a'.repeat(32) },
      { ...grant, runId: 'r'.repeat(128), capMicros: MAX_RUN_CAP_MICROS },
    );
    expect(long.length).toBeLessThanOrEqual(300);
    expect(verifyRunToken(long, { ...parent, tokenPrefix: 'a'.repeat(32) })?.runId).toBe('r'.repeat(128));
  });

  it('differs on every mint (a random nonce), for the same grant', () => {
    expect(mintRunToken(parent, grant)).not.toBe(token);
  });

  it('is refused under another parent (another token, another uid) and with another prefix', () => {
    const other = newToken('stripe');
    expect(verifyRunToken(token, { ...parent, runSecret: runSecretFor(other, 'uid-1') })).toBeUndefined();
    expect(verifyRunToken(token, { ...parent, runSecret: runSecretFor(vault, 'uid-2') })).toBeUndefined();
    expect(verifyRunToken(token, { ...parent, tokenPrefix: 'kb_resend_' })).toBeUndefined();
  });

  it('is refused when any one character is changed, wherever it is', () => {
    const accepted: string[] = [];
    for (let i = 0; i < token.length; i++) {
      for (const c of 'AZaz09-_x') {
        if (token[i] === c) continue;
        const tampered = token.slice(0, i) + c + token.slice(i + 1);
        if (verifyRunToken(tampered, parent) !== undefined) accepted.push(`${i}:${c}`);
      }
    }
    expect(accepted).toEqual([]);
  });

  // A fourth-round probe: the MAC compared as Latin-1 bytes read `c` + 0x100 as `c`.
  it('is refused when any one character is moved out of the ASCII range, wherever it is', () => {
    const accepted: number[] = [];
    for (let i = 0; i < token.length; i++) {
      for (const high of [0x100, 0xff00, 0x10000 - 0x80]) {
        const c = String.fromCharCode(token.charCodeAt(i) + high);
        if (verifyRunToken(token.slice(0, i) + c + token.slice(i + 1), parent) !== undefined)
          accepted.push(i);
      }
    }
    expect(accepted).toEqual([]);
  });

  it('is refused truncated, extended, or with a MAC from another token', () => {
    expect(verifyRunToken(token.slice(0, -1), parent)).toBeUndefined();
    expect(verifyRunToken(`${token}A`, parent)).toBeUndefined();
    const other = mintRunToken(parent, { ...grant, runId: 'other' });
    const spliced = token.slice(0, -RUN_MAC_CHARS) + other.slice(-RUN_MAC_CHARS);
    expect(verifyRunToken(spliced, parent)).toBeUndefined();
  });

  it('cannot be forged by re-encoding a payload with a larger cap', () => {
    const read = readRunToken(token)!;
    const forged = mintRunToken(
      { ...parent, runSecret: runSecretFor('guess', 'uid-1') },
      { ...read, capMicros: 1e12 },
    );
    expect(verifyRunToken(forged, parent)).toBeUndefined();
  });

  it('refuses grants it cannot carry', () => {
    expect(() => mintRunToken(parent, { ...grant, runId: 'has space' })).toThrow(RangeError);
    expect(() => mintRunToken(parent, { ...grant, runId: 'x'.repeat(129) })).toThrow(RangeError);
    expect(() => mintRunToken(parent, { ...grant, capMicros: -1 })).toThrow(RangeError);
    expect(() => mintRunToken(parent, { ...grant, expiresAt: grant.issuedAt - 1 })).toThrow(RangeError);
  });
});

describe('looksLikeRunToken', () => {
  it.each([
    ['a vault token', newToken('stripe')],
    ['a token with a custom prefix', newToken('stripe', { prefix: 'sk_test_' })],
    ['a foreign token', 'user_provided_token_0123456789abcdef'],
    ['an empty string', ''],
  ])('is false for %s', (_, token) => {
    expect(looksLikeRunToken(token)).toBe(false);
  });
});

describe('readRunToken', () => {
  it('reads the grant without the secret (for clients, never for a decision)', () => {
    const token = mintRunToken({ ...parent, tokenPrefix: 'kb_r1_x_' }, grant);
    expect(readRunToken(token)).toMatchObject({ runId: 'session-42', keyId: runKeyId(parent.digest) });
    expect(readRunToken(newToken('stripe'))).toBeUndefined();
  });
});

describe('newRunId', () => {
  it('is a valid run id, random', () => {
    expect(newRunId()).toMatch(/^run-[0-9a-f]{20}$/);
    expect(newRunId()).not.toBe(newRunId());
  });
});

describe('mac', () => {
  it('is HMAC-SHA256 (RFC 2104), truncated to 144 bits, whatever the secret', () => {
    for (const secret of [
      parent.runSecret,
      runSecretFor('x', 'y'),
      Buffer.alloc(100, 7).toString('base64url'),
    ]) {
      for (const head of ['', 'kb_stripe_r1_AAAA_BBBB', 'x'.repeat(300)]) {
        const expected = createHmac('sha256', Buffer.from(secret, 'base64url'))
          .update(head, 'latin1')
          .digest()
          .subarray(0, 18)
          .toString('base64url');
        expect(mac(secret, head)).toBe(expected);
      }
    }
  });
});
