import { describe, expect, it } from 'vitest';
import { MEDIA_LINK_LENGTH, textSegments } from './costs.ts';
import { smsSegments } from './segments.ts';

describe('textSegments', () => {
  const link = ` ${'x'.repeat(MEDIA_LINK_LENGTH - 1)}`;

  it.each([
    ['a short body and one link', 'hello', 1],
    ['a long body and ten links', 'x'.repeat(900), 10],
    ['an emoji body and three links', '😀'.repeat(300), 3],
  ])('counts %s as the text MMS Converter may send', (_name, body, media) => {
    expect(textSegments(body, false, media)).toEqual({
      sms: smsSegments(body).segments,
      converted: smsSegments(`${body}${link.repeat(media)}`).segments,
    });
  });

  // Fifth round: 998 MediaUrl were priced as a 64 000-character text, 15.6 s of one replica's event
  // loop. Ten million links are more characters than a string can hold: written out, they would throw.
  it('counts the links without writing them out', () => {
    const appended = 10_000_000 * MEDIA_LINK_LENGTH;
    // Past one 160-septet segment: 151 link characters share the first 153-septet part with 'hi'.
    expect(textSegments('hi', false, 10_000_000).converted).toBe(1 + Math.ceil((appended - 151) / 153));
  });
});
