import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runKeyId } from './run-keys.ts';

describe('runKeyId', () => {
  const bufferWay = (digest: string) => Buffer.from(digest.slice(0, 24), 'hex').toString('base64url');

  it('is the first 12 bytes of the digest in base64url, as Buffer writes them', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9a-f]{64}$/), (digest) => {
        expect(runKeyId(digest)).toBe(bufferWay(digest));
        expect(runKeyId(digest)).toHaveLength(16);
      }),
      { numRuns: 5000 },
    );
  });

  it("reads anything that is not lowercase hex Buffer's way", () => {
    for (const digest of ['A'.repeat(64), `${'0'.repeat(23)}g${'0'.repeat(40)}`, 'short', ''])
      expect(runKeyId(digest)).toBe(bufferWay(digest));
  });
});
