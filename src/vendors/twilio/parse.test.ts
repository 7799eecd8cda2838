import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import { parseTwilio } from './parse.ts';

const limits = { maxBytes: 65_536, maxDepth: 4, maxParams: 50 };

describe('parseTwilio', () => {
  it('reads a form body with PascalCase keys and repeated list keys', () => {
    const body = Buffer.from('To=%2B14155550100&Body=caf%C3%A9+ok&MediaUrl=a&MediaUrl=b');
    expect({ ...parseTwilio(body, limits) }).toEqual({
      To: '+14155550100',
      Body: 'café ok',
      MediaUrl: ['a', 'b'],
    });
  });

  it('refuses what the shared form parser refuses', () => {
    const r = parseTwilio(Buffer.from('To=%ZZ'), limits);
    expect(isDenial(r) && r.reason).toBe('body_invalid');
  });
});
