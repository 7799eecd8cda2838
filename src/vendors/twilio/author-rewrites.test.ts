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

  // Thirteenth round (fixes13x finding 1): the participant side of the author match.
  it.each([
    'twilio.chat.v1.create_member',
    'twilio.chat.v2.create_member',
    'twilio.ip_messaging.v1.create_member',
    'twilio.ip_messaging.v2.create_member',
    'twilio.conversations.v1.update_conversation_participant',
    'twilio.conversations.v1.update_service_conversation_participant',
  ])('%s with Identity (any value, empty too) sets who a message author matches', (id) => {
    expect(TWILIO_REQUEST_BODIES[id]?.names).toContain('Identity');
    for (const value of ['acme-notify-bot', '', 'system']) {
      expect(authorRewrite(id, { Identity: value })).toMatch(
        /^Identity sets who the conversation's participant is/,
      );
    }
    expect(
      authorRewrite(id, { Attributes: '{}', RoleSid: 'RL00000000000000000000000000000001' }),
    ).toBeUndefined();
  });

  it('leaves a member update and an invite alone (neither sets who a member is)', () => {
    expect(TWILIO_REQUEST_BODIES['twilio.chat.v2.update_member']?.names).not.toContain('Identity');
    expect(authorRewrite('twilio.chat.v2.update_member', { Attributes: '{}' })).toBeUndefined();
    expect(authorRewrite('twilio.chat.v2.create_invite', { Identity: 'acme-notify-bot' })).toBeUndefined();
  });

  it('leaves every other operation alone', () => {
    expect(
      authorRewrite('twilio.conversations.v1.create_conversation_message', { Author: 'x' }),
    ).toBeUndefined();
    expect(authorRewrite('twilio.api.create_message', { From: '+14155550000' })).toBeUndefined();
  });
});
