import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import { NO_PARTIES, type Params, type Parties } from '../types.ts';
import { TWILIO_REQUEST_BODIES } from './bodies.ts';
import { CONTACTS, contactParties, UNSEEN_RECIPIENT } from './contacts.ts';
import { TWILIO_EXTRA_BODY_NAMES } from './extra-names.ts';
import { TWILIO_OPERATIONS } from './operations.ts';

/** The parties of a call that is not refused. */
function reached(id: string, params: Params): Parties {
  const result = contactParties(id, params);
  if (isDenial(result)) throw new Error(`refused: ${result.message}`);
  return result;
}

describe('contactParties', () => {
  // The table names operations and parameters by hand: a regenerated catalog must still have them.
  it.each(Object.entries(CONTACTS))('%s is an operation that declares the fields read', (id, fields) => {
    expect(TWILIO_OPERATIONS.some((row) => row.id === id)).toBe(true);
    const names = [...(TWILIO_REQUEST_BODIES[id]?.names ?? []), ...(TWILIO_EXTRA_BODY_NAMES[id] ?? [])];
    const read = [
      ...(fields.to ?? []),
      ...(fields.from ?? []),
      ...(fields.fromEmail ?? []),
      ...(fields.unseen ?? []),
    ];
    if (fields.dials) read.push('Instruction', ...Object.values(fields.dials).flat());
    if (fields.json) read.push(fields.json.field);
    if (fields.byKind) read.push(fields.byKind.field, fields.byKind.kind);
    for (const name of read) expect(names).toContain(name);
    // A sender named by the path must be a placeholder of the row's path (else the call throws).
    for (const placeholder of fields.pathFrom ?? []) {
      expect(TWILIO_OPERATIONS.find((row) => row.id === id)?.path).toContain(`/${placeholder}/`);
    }
  });

  it("names a sender added to a Messaging Service's pool, and the service of the path", () => {
    const path = { template: '/v1/Services/{ServiceSid}/AlphaSenders', segments: ['MG01'] };
    expect(contactParties('twilio.messaging.v1.create_alpha_sender', { AlphaSender: 'HSBC' }, path)).toEqual({
      ...NO_PARTIES,
      senders: ['HSBC', 'MG01'],
    });
    // Judged without its path, the service would go unjudged: a table or wiring bug, never a pass.
    expect(() => contactParties('twilio.messaging.v1.create_alpha_sender', { AlphaSender: 'HSBC' })).toThrow(
      /not a placeholder/,
    );
  });

  it("reads each consent item's contact_id as a recipient, and an item without one as unseen", () => {
    expect(
      reached('twilio.accounts.v1.create_bulk_consents', {
        Items: ['{"contact_id":"+14155550100","status":"opt-in"}', '{"status":"opt-in"}'],
      }),
    ).toMatchObject({ recipients: ['+14155550100', UNSEEN_RECIPIENT], countries: ['US', 'ZZ'] });
  });

  it('names a Studio execution recipient with its country, and its sender', () => {
    expect(
      reached('twilio.studio.v2.create_execution', {
        To: 'whatsapp:+33612345678',
        From: '+14155550199',
      }),
    ).toEqual({ ...NO_PARTIES, recipients: ['+33612345678'], countries: ['FR'], senders: ['+14155550199'] });
  });

  it('reads the address of every Notify binding and of every Conversations participant', () => {
    const notify = reached('twilio.notify.v1.create_notification', {
      ToBinding: [
        '{"binding_type":"sms","address":"+14155550100"}',
        '{"binding_type":"sms","address":"+33612345678"}',
      ],
    });
    expect(notify.recipients).toEqual(['+14155550100', '+33612345678']);
    expect(notify.countries).toEqual(['US', 'FR']);
    const conversation = reached('twilio.conversations.v1.create_conversation_with_participants', {
      Participant: '{"messaging_binding":{"address":"+14155550100","proxy_address":"+14155550199"}}',
    });
    expect(conversation.recipients).toEqual(['+14155550100']);
    // Second probe round: a Proxy session created with its participants.
    const session = reached('twilio.proxy.v1.create_session', {
      Participants: ['{"Identifier":"+33612345678","FriendlyName":"x"}'],
    });
    expect(session.recipients).toEqual(['+33612345678']);
  });

  it.each([
    ['a Notify identity', 'twilio.notify.v1.create_notification', { Identity: 'alice' }],
    ['a Notify tag', 'twilio.notify.v1.create_notification', { Tag: 'all' }],
    ['a binding that is not JSON', 'twilio.notify.v1.create_notification', { ToBinding: 'nope' }],
    ['a binding without an address', 'twilio.notify.v1.create_notification', { ToBinding: '{"address":1}' }],
    ['a Flex interaction channel', 'twilio.flex_api.v1.create_interaction', { Channel: '{}' }],
    // Second probe round: a Proxy session's message to one of its participants, named by SID.
    ['a Proxy message interaction', 'twilio.proxy.v1.create_message_interaction', { Body: 'hi' }],
  ])('names the unseen recipient, in an unknown country, for %s', (_name, id, params) => {
    const parties = reached(id, params);
    expect(parties.recipients).toContain(UNSEEN_RECIPIENT);
    expect(parties.countries).toContain('ZZ');
  });

  // Third probe round: without its target a reservation's instruction dials the worker's contact_uri.
  it.each([
    ['dequeue', {}],
    ['call', { CallFrom: '+14155550199' }],
    ['conference', { From: '+14155550199' }],
    ['Dequeue', { DequeueFrom: '+14155550199' }],
  ])('names the unseen recipient for a %s instruction that names no target', (instruction, extra) => {
    for (const id of [
      'twilio.taskrouter.v1.update_task_reservation',
      'twilio.taskrouter.v1.update_worker_reservation',
    ]) {
      const parties = reached(id, { Instruction: instruction, ...extra });
      expect(parties.recipients).toContain(UNSEEN_RECIPIENT);
      expect(parties.countries).toContain('ZZ');
    }
  });

  // Fifth round: String.trim read `redirect` with a no-break space as a redirect, which dials nobody;
  // Twilio receives the raw value, which Keybrake cannot say it does not read as a dialling one.
  it('names the unseen recipient for an instruction with blank or invisible characters around it', () => {
    for (const instruction of ['redirect\u00a0', '\ufeffredirect', 'redirect\u2028']) {
      const parties = reached('twilio.taskrouter.v1.update_worker_reservation', { Instruction: instruction });
      expect(parties.recipients).toEqual([UNSEEN_RECIPIENT]);
    }
    expect(reached('twilio.taskrouter.v1.update_worker_reservation', { Instruction: ' redirect ' })).toBe(
      NO_PARTIES,
    );
  });

  it('refuses a recipient with a no-break space around it (body_invalid)', () => {
    expect(contactParties('twilio.studio.v2.create_execution', { To: '\u00a0+19005550123' })).toMatchObject({
      reason: 'body_invalid',
    });
  });

  it('names only the target of a reservation instruction that names one, and nobody for a redirect', () => {
    const id = 'twilio.taskrouter.v1.update_worker_reservation';
    expect(reached(id, { Instruction: 'dequeue', DequeueTo: '+14155550100' }).recipients).toEqual([
      '+14155550100',
    ]);
    expect(reached(id, { Instruction: 'call', CallTo: 'client:alice' }).recipients).toEqual(['client:alice']);
    expect(reached(id, { Instruction: 'redirect', RedirectCallSid: 'CA1' })).toBe(NO_PARTIES);
    expect(reached(id, { ReservationStatus: 'accepted' })).toBe(NO_PARTIES);
  });

  // Third probe round: a list's raw text matched `+1415555*` while Twilio read two numbers.
  it.each([
    ['a Studio execution', 'twilio.studio.v2.create_execution', { To: '+14155550100,+19005550123' }],
    ['a validation call', 'twilio.api.create_validation_request', { PhoneNumber: '+1415555 or 0100' }],
    [
      'a hosted-number order',
      'twilio.numbers.v2.create_hosted_number_order',
      { PhoneNumber: '+14155550100', ContactPhoneNumber: '+14155550101,+19005550123' },
    ],
    [
      'a Notify binding',
      'twilio.notify.v1.create_notification',
      { ToBinding: '{"address":"whatsapp:+14155550100;+19005550123"}' },
    ],
  ])('refuses %s to a recipient that is not one number', (_name, id, params) => {
    expect(contactParties(id, params)).toMatchObject({ reason: 'body_invalid' });
  });

  // Fourth probe round: hosting a number has Twilio call or text it, or the order's contact.
  it('names the number hosted and the contact of a hosted-number order, and a WhatsApp sender', () => {
    expect(
      reached('twilio.numbers.v2.create_hosted_number_order', {
        PhoneNumber: '+19005550123',
        ContactPhoneNumber: '+33612345678',
      }),
    ).toEqual({ ...NO_PARTIES, recipients: ['+19005550123', '+33612345678'], countries: ['US', 'FR'] });
    expect(
      reached('twilio.preview.create_hosted_numbers_hosted_number_order', {
        PhoneNumber: '+19005550123',
        VerificationType: 'phone-call',
      }).recipients,
    ).toEqual(['+19005550123']);
    expect(
      reached('twilio.numbers.v2.create_authorization_document', { ContactPhoneNumber: '+19005550124' })
        .recipients,
    ).toEqual(['+19005550124']);
    expect(
      reached('twilio.messaging.v2.create_channels_sender', { sender_id: 'whatsapp:+19005550123' })
        .recipients,
    ).toEqual(['+19005550123']);
  });

  it.each([
    ['twilio.numbers.v2.update_hosted_number_order', { Status: 'pending-verification' }],
    ['twilio.preview.update_hosted_numbers_hosted_number_order', { Status: 'pending-verification' }],
    ['twilio.numbers.v2.create_bulk_hosted_number_order', { Orders: [] }],
    ['twilio.messaging.v2.update_channels_sender', { configuration: { verification_method: 'voice' } }],
    ['twilio.messaging.v1.create_brand_registration_otp', {}],
  ])('names the unseen recipient for %s: it reaches a number the request does not name', (id, params) => {
    const parties = reached(id, params as Params);
    expect(parties.recipients).toEqual([UNSEEN_RECIPIENT]);
    expect(parties.countries).toEqual(['ZZ']);
  });

  // Fourth probe round: every voice task routed to a worker dials its contact_uri, outside Keybrake.
  it("names a worker's contact_uri, and nobody for attributes without one", () => {
    for (const id of ['twilio.taskrouter.v1.create_worker', 'twilio.taskrouter.v1.update_worker']) {
      expect(reached(id, { Attributes: '{"contact_uri":"+19005550123","skills":["es"]}' })).toEqual({
        ...NO_PARTIES,
        recipients: ['+19005550123'],
        countries: ['US'],
      });
      expect(reached(id, { Attributes: '{"contact_uri":"client:alice"}' }).recipients).toEqual([
        'client:alice',
      ]);
      expect(reached(id, { Attributes: '{"skills":["es"]}' })).toBe(NO_PARTIES);
      expect(reached(id, { ActivitySid: 'WA1' })).toBe(NO_PARTIES);
    }
  });

  // Fourth probe round: a binding's address receives every later notification to its identity or tags.
  it("names a Notify binding's address when the binding type is a phone's", () => {
    const id = 'twilio.notify.v1.create_binding';
    const sms = { BindingType: 'sms', Address: '+442079460000', Identity: 'customer-42', Tag: ['all'] };
    expect(reached(id, sms)).toEqual({ ...NO_PARTIES, recipients: ['+442079460000'], countries: ['GB'] });
    expect(reached(id, { ...sms, BindingType: ' SMS ' }).recipients).toEqual(['+442079460000']);
    expect(reached(id, { BindingType: 'facebook-messenger', Address: '+14155550100' }).recipients).toEqual([
      '+14155550100',
    ]);
    expect(contactParties(id, { ...sms, Address: '+14155550100,+19005550123' })).toMatchObject({
      reason: 'body_invalid',
    });
  });

  // Fourth probe round: a Flex channel's messages (its flow's, its agents' replies) go to its Target.
  it("names a Flex channel's Target, and nobody for a channel without one", () => {
    const id = 'twilio.flex_api.v1.create_channel';
    const channel = {
      FlexFlowSid: 'FO1',
      Identity: 'customer-42',
      ChatUserFriendlyName: 'c',
      ChatFriendlyName: 'c',
    };
    expect(reached(id, { ...channel, Target: '+19005550123' })).toEqual({
      ...NO_PARTIES,
      recipients: ['+19005550123'],
      countries: ['US'],
    });
    expect(reached(id, { ...channel, Target: 'whatsapp:+447911123456' }).recipients).toEqual([
      '+447911123456',
    ]);
    expect(reached(id, channel)).toBe(NO_PARTIES);
  });

  it.each([
    ['a push binding (a device token)', { BindingType: 'apn', Address: 'a1b2c3d4e5f6' }],
    ['a binding type Keybrake does not know', { BindingType: 'rcs', Address: '+19005550123' }],
    ['no binding type', { Address: '+19005550123' }],
    // Fifth round: String.trim read this as `sms`; only ASCII spaces are trimmed.
    ['a binding type with a no-break space after it', { BindingType: 'sms\u00a0', Address: '+19005550123' }],
  ])('names the unseen recipient for %s', (_name, params) => {
    expect(reached('twilio.notify.v1.create_binding', params).recipients).toEqual([UNSEEN_RECIPIENT]);
  });

  it.each([
    ['a contact_uri that is not a string', '{"contact_uri":["+19005550123"]}'],
    ['attributes that are not JSON', 'contact_uri=+19005550123'],
    ['attributes that are a list', '[{"contact_uri":"+19005550123"}]'],
  ])("names the unseen recipient for a worker's %s", (_name, attributes) => {
    expect(reached('twilio.taskrouter.v1.update_worker', { Attributes: attributes }).recipients).toEqual([
      UNSEEN_RECIPIENT,
    ]);
  });

  it.each([
    ['twice', '{"contact_uri":"+14155550100","contact_uri":"+19005550123"}'],
    ['twice, once in another case', '{"contact_uri":"+14155550100","Contact_URI":"+19005550123"}'],
  ])('refuses worker attributes that give a key %s: Twilio might read the other one', (_name, attributes) => {
    expect(contactParties('twilio.taskrouter.v1.update_worker', { Attributes: attributes })).toMatchObject({
      reason: 'body_invalid',
    });
  });

  // Probe fixes13t finding 2: a Verify service's Email.From is what every later verification email
  // leaves from, read as one bare address (a display name or a list has no one reading).
  it.each(['twilio.verify.v2.update_service', 'twilio.verify.services.create'])(
    "%s names a Verify service's Email.From as a sender, read as one bare address",
    (id) => {
      expect(reached(id, { 'Email.From': 'Security@Bank-Alerts.example', 'Email.FromName': 'Bank' })).toEqual(
        {
          ...NO_PARTIES,
          senders: ['security@bank-alerts.example'],
        },
      );
      for (const from of [
        '"Bank" <otp@ok.example>',
        'otp@ok.example,evil@x.example',
        '',
        'otp@ok.example\u2028',
      ]) {
        const refused = contactParties(id, { 'Email.From': from });
        expect(isDenial(refused) && refused.reason).toBe('body_invalid');
      }
      expect(reached(id, { 'Email.FromName': 'Bank', 'Email.ContentTemplateId': 'd-1' })).toBe(NO_PARTIES);
    },
  );

  // Probe fixtwre14 finding 3: Email.FromName is the name every later verification email shows
  // before its sender, judged as a Resend from_name (mailbox.ts isDisplayName).
  it.each(['twilio.verify.v2.update_service', 'twilio.verify.services.create'])(
    '%s refuses an Email.FromName that is no display name',
    (id) => {
      for (const name of [
        'CEO <ceo@evil.test>',
        'ceo@evil.test',
        '=?utf-8?B?Q0VPIDxjZW9AZXZpbC50ZXN0Pg==?=',
        'ceo＠bank.example',
        'A\r\nBcc: x@evil.test',
      ]) {
        const refused = contactParties(id, { 'Email.From': 'otp@ok.example', 'Email.FromName': name });
        expect(isDenial(refused) && refused.reason).toBe('body_invalid');
      }
      expect(reached(id, { 'Email.FromName': 'OK Shop: Sign-in' })).toBe(NO_PARTIES);
    },
  );

  it('names nobody for an operation that reaches nobody, or a call that names nobody', () => {
    expect(reached('twilio.api.create_message_feedback', { To: '+447700900123' })).toBe(NO_PARTIES);
    expect(reached('twilio.studio.v2.create_execution', {})).toBe(NO_PARTIES);
  });
});
