import { describe, expect, it } from 'vitest';
import { conversationMessage } from './conversations.ts';

describe('conversationMessage', () => {
  it.each([
    ['absent', undefined, false],
    ['empty', '', false],
    ['ASCII spaces alone', '  ', false],
    ['a media id', 'ME1', true],
    // Fifth round: String.trim read a lone no-break space as no media; Twilio receives a value.
    ['a lone no-break space', '\u00a0', true],
  ])('reads a MediaSid that is %s as media: %s', (_name, sid, media) => {
    const params = sid === undefined ? { Body: 'hi' } : { Body: 'hi', MediaSid: sid };
    expect(conversationMessage(params).media).toBe(media);
  });
});
