import { describe, expect, it, vi } from 'vitest';

// Fifth round: sms-segments-calculator splits graphemes in quadratic time (3 to 11 ms for a
// 1600-character body, every tenant of a replica waiting). The Twilio adapter computes its count
// without it: loading either package from the adapter's modules fails this file.
vi.mock('sms-segments-calculator', () => {
  throw new Error('sms-segments-calculator is on the request path');
});
vi.mock('grapheme-splitter', () => {
  throw new Error('grapheme-splitter is on the request path');
});

describe('segment counting', () => {
  it('counts without sms-segments-calculator or grapheme-splitter', async () => {
    const { createTwilioAdapter } = await import('./index.ts');
    const { smsSegments, smsSegmentsAppended } = await import('./segments.ts');
    expect(createTwilioAdapter().name).toBe('twilio');
    expect(smsSegments(`a${'\u0301'.repeat(1599)}`).segments).toBe(24);
    expect(smsSegmentsAppended('é'.repeat(1600), 640).alone).toBe(11);
  });
});
