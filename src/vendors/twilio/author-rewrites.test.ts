import { describe, expect, it } from 'vitest';
import { authorRewrite } from './author-rewrites.ts';
import { TWILIO_REQUEST_BODIES } from './bodies.ts';

describe('authorRewrite', () => {
  it.each([
    ['twilio.conversations.v1.update_conversation_message', 'Author'],
    ['twilio.conversations.v1.update_service_conversation_message', 'Author'],
    ['twilio.chat.v2.update_message', 'From'],
    ['twilio.ip_messaging.v2.update_message', 'From'],
  ])('%s with %s (any value, empty too) rewrites the author', (id, field) => {
    // The table names operations and fields by hand: a regenerated catalog must still declare them.
    expect(TWILIO_REQUEST_BODIES[id]?.names).toContain(field);
    for (const value of ['agent', '', 'system']) {
      expect(authorRewrite(id, { [field]: value })).toMatch(new RegExp(`^${field} rewrites who`));
    }
    expect(authorRewrite(id, { [field]: ['a', 'b'] })).toBeDefined();
    expect(authorRewrite(id, { Body: 'edited', Attributes: '{}' })).toBeUndefined();
  });

  it('leaves every other operation alone', () => {
    expect(
      authorRewrite('twilio.conversations.v1.create_conversation_message', { Author: 'x' }),
    ).toBeUndefined();
    expect(authorRewrite('twilio.api.create_message', { From: '+14155550000' })).toBeUndefined();
  });
});
