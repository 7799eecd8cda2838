import { describe, expect, it } from 'vitest';
import {
  callCost,
  callMinutes,
  lookupV1Cost,
  lookupV2Cost,
  MEDIA_LINK_LENGTH,
  messageCost,
  textSegments,
  twimlCost,
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

// Thirteenth round, probe twmoney13: what Twilio bills beyond the destination's plain rate.
describe('what Twilio adds to a message or call (thirteenth round)', () => {
  const us = destination('+14155550100');

  it('prices a Canadian SMS segment with the dearest Canadian carrier fee (finding 3)', () => {
    const ca = destination('+15145550123');
    const text = 'ā'.repeat(1600);
    // 24 UCS-2 segments at $0.0138 ($0.0083 + Vidéotron's $0.0055): $0.3312, over a $0.30 limit.
    expect(messageCost(P, { To: '+15145550123', Body: text }, [ca]).micros).toBe(24 * 13_800);
  });

  it("prices a call to a European number at the dearest origin's rate, not the in-country one (finding 2)", () => {
    // Twilio's own example: a French mobile is $0.125/min from a US number.
    for (const [to, floor] of [
      ['+33612345678', 125_000],
      ['+4915123456789', 125_000],
      ['+447400123456', 125_000],
    ] as const) {
      expect(callCost(P, { TimeLimit: '60' }, destination(to))).toBeGreaterThanOrEqual(floor);
    }
    expect(callCost(P, { TimeLimit: '840' }, destination('+33612345678'))).toBeGreaterThan(1_750_000 - 1);
  });

  it('adds the Engagement Suite fee to a message with ShortenUrls and does not settle it by segment (finding 4)', () => {
    const plain = messageCost(P, { To: '+14155550100', Body: 'Shipped: https://a.co/d/x' }, [us]);
    for (const value of ['true', 'True', '1', ' true', '']) {
      const short = messageCost(
        P,
        { To: '+14155550100', Body: 'Shipped: https://a.co/d/x', ShortenUrls: value },
        [us],
      );
      expect(short.micros).toBe(plain.micros + P.engagementSuitePerMessage);
      expect(short.perSegmentMicros).toBeUndefined();
    }
    const off = messageCost(
      P,
      { To: '+14155550100', Body: 'Shipped: https://a.co/d/x', ShortenUrls: 'false' },
      [us],
    );
    expect(off).toEqual(plain);
  });

  // Sixteenth round (money16 finding 1): Message Scheduling is an Engagement Suite feature, billed the
  // fee once per message as link shortening is; a scheduled message was counted as a plain SMS and
  // settled down to its segments.
  it('adds the Engagement Suite fee to a scheduled message, once with ShortenUrls, and does not settle it by segment', () => {
    const base = { To: '+14155550100', Body: 'Sale starts Friday at owl.example' };
    const plain = messageCost(P, base, [us]);
    for (const scheduling of [
      { ScheduleType: 'fixed', SendAt: '2026-12-04T10:00:00Z' },
      { ScheduleType: 'FIXED' },
      { ScheduleType: '' },
      { ScheduleType: 'recurring' },
      { SendAt: '2026-12-04T10:00:00Z' },
    ]) {
      const scheduled = messageCost(P, { ...base, ...scheduling }, [us]);
      expect(scheduled.micros, JSON.stringify(scheduling)).toBe(plain.micros + P.engagementSuitePerMessage);
      expect(scheduled.perSegmentMicros).toBeUndefined();
    }
    const both = messageCost(P, { ...base, ScheduleType: 'fixed', ShortenUrls: 'true' }, [us]);
    expect(both.micros).toBe(plain.micros + P.engagementSuitePerMessage);
    const whatsapp = destination('whatsapp:+14155550100');
    expect(messageCost(P, { ...base, ScheduleType: 'fixed' }, [whatsapp]).micros).toBe(
      P.whatsappPerMessage + P.engagementSuitePerMessage,
    );
    expect(plain.perSegmentMicros).toBe(P.countries.US!.smsPerSegment);
  });

  it('counts a shortened link at the length it may grow to (finding 4)', () => {
    // 150 characters with a short link: one segment as written, two once the link is rewritten.
    const body = `${'x'.repeat(141)} a.co/x https://a.co/x`.slice(0, 160);
    expect(smsSegments(body).segments).toBe(1);
    const short = messageCost(P, { To: '+14155550100', Body: body, ShortenUrls: 'true' }, [us]);
    expect(short.micros).toBe(2 * P.countries.US!.smsPerSegment + P.engagementSuitePerMessage);
  });

  it('counts AMD on each dialled <Number> or <Sip> leg that asks for it (finding 5)', () => {
    const twiml = {
      dials: [
        { to: us, recorded: false, machineDetection: true as const },
        { to: destination('sip:a@pbx.example'), recorded: false, machineDetection: true as const },
        { to: us, recorded: false },
      ],
      sms: [],
      senders: [],
      remote: [],
      recordings: 0,
      streams: 0,
    };
    const legs = 2 * P.countries.US!.voicePerMinute + P.clientOrSipPerMinute;
    expect(twimlCost(P, twiml, 1, us)).toBe(legs + 2 * P.machineDetectionPerCall);
  });

  it('counts every stream fork and every recording for the call (finding 6)', () => {
    const twiml = { dials: [], sms: [], senders: [], remote: [], recordings: 3, streams: 4 };
    expect(twimlCost(P, twiml, 240, us)).toBe(240 * (3 * P.recordingPerMinute + 4 * P.mediaStreamPerMinute));
  });
});
