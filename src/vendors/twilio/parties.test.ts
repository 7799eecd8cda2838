import { describe, expect, it } from 'vitest';
import { messagingParties } from './parties.ts';

describe('messagingParties', () => {
  it('names the Messaging Service as the sender when no From is given, ASCII spaces trimmed', () => {
    expect(messagingParties({ MessagingServiceSid: ' MG1 ' }, []).senders).toEqual(['MG1']);
  });

  // Fifth round: String.trim judged `MG1` with a no-break space as MG1, the value Twilio never received.
  it.each([
    ['From', { From: '+14155550199\u00a0' }],
    ['MessagingServiceSid', { MessagingServiceSid: 'MG1\u00a0' }],
  ])('judges a %s with a no-break space around it as it is written', (_name, params) => {
    const written = Object.values(params)[0];
    expect(messagingParties(params, []).senders).toEqual([written]);
  });
});
