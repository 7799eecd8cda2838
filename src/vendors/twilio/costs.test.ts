import { describe, expect, it } from 'vitest';
import {
  callCost,
  callMinutes,
  lookupV1Cost,
  lookupV2Cost,
  MEDIA_LINK_LENGTH,
  messageCost,
  textSegments,
} from './costs.ts';
import { destination } from './destinations.ts';
import { DEFAULT_TWILIO_PRICES as P } from './prices.ts';
import { smsSegments } from './segments.ts';

// Ninth round: a Content template send was settled at num_segments × the SMS rate, while a media
// template is sent and billed as MMS. Only a text Keybrake counted from the request settles by segment.
describe('messageCost: what settle may read a message’s answer with', () => {
  const us = destination('+14155550100');
  const sms = P.countries.US!.smsPerSegment;
  const mms = P.countries.US!.mmsPerMessage;

  it('gives an SMS whose Body it counted the per-segment rate and the MMS floor', () => {
    expect(messageCost(P, { To: '+14155550100', Body: 'hi' }, [us])).toEqual({
      micros: sms,
      perSegmentMicros: sms,
      mmsMicros: mms,
    });
  });

  it.each([
    ['a Content template', { ContentSid: 'HX0123456789abcdef0123456789abcdef' }],
    ['an empty ContentSid', { ContentSid: '' }],
    ['template variables', { ContentVariables: '{"1":"x"}' }],
    ['a rich action', { PersistentAction: 'geo:37.78,-122.39' }],
    ['media', { MediaUrl: 'https://example.com/a.png' }],
    ['SendAsMms', { SendAsMms: 'true' }],
  ])('gives a Body sent with %s no per-segment rate, only the MMS floor', (_name, extra) => {
    const cost = messageCost(P, { To: '+14155550100', Body: 'hi', ...extra }, [us]);
    expect(cost.perSegmentMicros).toBeUndefined();
    expect(cost.mmsMicros).toBe(mms);
  });

  it('gives a message without Body no per-segment rate', () => {
    expect(messageCost(P, { To: '+14155550100' }, [us]).perSegmentMicros).toBeUndefined();
  });

  it('gives a WhatsApp message neither: it keeps its per-message reservation', () => {
    const cost = messageCost(P, { To: 'whatsapp:+14155550100', Body: 'hi' }, [
      destination('whatsapp:+14155550100'),
    ]);
    expect(cost).toEqual({ micros: P.whatsappPerMessage });
  });
});

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

// Fifth round: String.trim read each of these as the cheaper value it resembles, while Twilio
// received the raw one. Only ASCII spaces are trimmed; anything else is read at the dearer price.
describe('cost parameters with blank or invisible characters around them', () => {
  it('reads no TimeLimit from one with a no-break space: the default duration', () => {
    expect(callMinutes(P, { TimeLimit: ' 60 ' })).toBe(1);
    expect(callMinutes(P, { TimeLimit: '60\u00a0' })).toBe(P.defaultCallMinutes);
    expect(callMinutes(P, { TimeLimit: '\ufeff60' })).toBe(P.defaultCallMinutes);
  });

  it('counts a conference recording whose off value carries a no-break space', () => {
    const to = destination('+14155550100');
    const plain = callCost(P, { TimeLimit: '60', ConferenceRecord: ' false ' }, to);
    expect(callCost(P, { TimeLimit: '60', ConferenceRecord: 'false\u00a0' }, to)).toBe(
      plain + P.recordingPerMinute,
    );
    expect(callCost(P, { TimeLimit: '60', ConferenceRecord: '\u00a0do-not-record' }, to)).toBe(
      plain + P.recordingPerMinute,
    );
  });

  it('prices a lookup field or type with a no-break space as an unknown one', () => {
    expect(lookupV2Cost(P, new URLSearchParams('Fields=+line_type_intelligence+'))).toBe(
      P.lookupFields['line_type_intelligence'],
    );
    expect(lookupV2Cost(P, new URLSearchParams('Fields=line_type_intelligence%C2%A0'))).toBe(P.lookupUnknown);
    expect(lookupV2Cost(P, new URLSearchParams('Fields=%C2%A0'))).toBe(P.lookupUnknown);
    expect(lookupV1Cost(P, new URLSearchParams('Type=carrier%C2%A0'))).toBe(P.lookupUnknown);
  });
});
