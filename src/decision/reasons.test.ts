import { describe, expect, it } from 'vitest';
import { decisionHeader, deny, isDenial, REASONS } from './reasons.ts';

describe('reasons', () => {
  it('tells a denial from a parsed body that happens to carry a reason field', () => {
    expect(isDenial(deny('key_unknown'))).toBe(true);
    expect(isDenial({ reason: 'requested_by_customer', charge: 'ch_1' })).toBe(false);
    expect(isDenial({ reason: 'key_unknown' })).toBe(false);
  });

  it('puts the same code in the decision header as in the registry', () => {
    for (const reason of Object.keys(REASONS) as (keyof typeof REASONS)[]) {
      expect(decisionHeader(reason)).toBe(reason === 'ok' ? 'allow; reason=ok' : `deny; reason=${reason}`);
    }
  });

  it('gives every denial an HTTP error status and a message', () => {
    for (const [reason, info] of Object.entries(REASONS)) {
      if (reason === 'ok') continue;
      expect(info.status, reason).toBeGreaterThanOrEqual(400);
      expect(info.message.length, reason).toBeGreaterThan(10);
    }
  });
});

describe('docs/reasons.md', () => {
  it('lists every reason code of the registry, and no other', async () => {
    const { readFile } = await import('node:fs/promises');
    const doc = await readFile(new URL('../../docs/reasons.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented).toEqual(Object.keys(REASONS));
  });
});
