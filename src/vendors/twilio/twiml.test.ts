import { describe, expect, it } from 'vitest';
import { type Denial, isDenial } from '../../decision/reasons.ts';
import { MAX_TWIML_LENGTH, readTwiml, type TwimlReading } from './twiml.ts';

function read(xml: string): TwimlReading {
  const r = readTwiml(xml);
  if (isDenial(r)) throw new Error(`unexpected denial ${r.reason}: ${r.message}`);
  return r;
}

function denial(xml: string): Denial {
  const r = readTwiml(xml);
  if (!isDenial(r)) throw new Error('expected a denial');
  return r;
}

const R = (inner: string) => `<Response>${inner}</Response>`;

describe('readTwiml: <Dial> legs are destinations', () => {
  it.each([
    [
      'a <Number>',
      '<Dial><Number>+447911123456</Number></Dial>',
      { channel: 'phone', address: '+447911123456', country: 'GG' },
    ],
    [
      'a bare number',
      '<Dial>+33 6 12 34 56 78</Dial>',
      { channel: 'phone', address: '+33612345678', country: 'FR' },
    ],
    [
      'a <Sip> URI',
      '<Dial><Sip>sip:agent@pbx.example</Sip></Dial>',
      { channel: 'sip', address: 'sip:agent@pbx.example' },
    ],
    // Sixth round follow-up: a sips: URI was refused here, and read as raw text in a To.
    [
      'a <Sip> SIPS URI, without its parameters',
      '<Dial><Sip>SIPS:agent@pbx.example;transport=tls</Sip></Dial>',
      { channel: 'sip', address: 'sips:agent@pbx.example' },
    ],
    [
      'a <Client> name',
      '<Dial><Client>mallory</Client></Dial>',
      { channel: 'client', address: 'client:mallory' },
    ],
    [
      'a <Client> <Identity>',
      '<Dial><Client><Identity>mallory</Identity><Parameter name="a" value="b"/></Client></Dial>',
      { channel: 'client', address: 'client:mallory' },
    ],
    [
      'a <Conference>',
      '<Dial><Conference>room</Conference></Dial>',
      { channel: 'conference', address: 'conference:room' },
    ],
    ['a <Queue>', '<Dial><Queue>support</Queue></Dial>', { channel: 'queue', address: 'queue:support' }],
    [
      'a <Sim>',
      '<Dial><Sim>DE00000000000000000000000000000001</Sim></Dial>',
      { channel: 'sim', address: 'sim:DE00000000000000000000000000000001' },
    ],
    [
      'a <WhatsApp> number',
      '<Dial><WhatsApp>whatsapp:+4915123456789</WhatsApp></Dial>',
      { channel: 'whatsapp', address: '+4915123456789', country: 'DE' },
    ],
    [
      'a number as a character reference',
      '<Dial><Number>&#43;447911123456</Number></Dial>',
      { address: '+447911123456' },
    ],
    ['a number in CDATA', '<Dial><![CDATA[+447911123456]]></Dial>', { address: '+447911123456' }],
    [
      'a number split by a comment',
      '<Dial><Number>+44<!-- x -->7911123456</Number></Dial>',
      { address: '+447911123456' },
    ],
  ])('reads %s', (_name, inner, to) => {
    expect(read(R(inner)).dials).toEqual([expect.objectContaining({ to: expect.objectContaining(to) })]);
  });

  it('reads every noun of one <Dial> and every <Dial> of the document', () => {
    const r = read(
      R(
        '<Dial><Number>+14155550100</Number><Number>+33612345678</Number></Dial><Say>x</Say><Dial>+4915123456789</Dial>',
      ),
    );
    expect(r.dials.map((d) => d.to.address)).toEqual(['+14155550100', '+33612345678', '+4915123456789']);
  });

  it("keeps the Dial's timeLimit and record for its legs", () => {
    const r = read(
      R('<Dial timeLimit="120" record="record-from-answer"><Number>+14155550100</Number></Dial>'),
    );
    expect(r.dials[0]).toMatchObject({ timeLimitSeconds: 120, recorded: true });
    expect(read(R('<Dial timeLimit="soon">+14155550100</Dial>')).dials[0]).toEqual({
      to: expect.anything(),
      recorded: false,
    });
  });

  it('reads a <Refer> to a SIP address as a leg', () => {
    expect(read(R('<Refer><Sip>sip:x@pbx.example</Sip></Refer>')).dials).toEqual([
      { to: { channel: 'sip', address: 'sip:x@pbx.example' }, recorded: false },
    ]);
  });

  it("reads XML's white space (spaces, tabs, CR, LF) around a noun's text as layout", () => {
    expect(read(R('<Dial>\n\t<Number>\r\n +14155550100\n\t</Number>\n</Dial>')).dials).toEqual([
      { to: { channel: 'phone', address: '+14155550100', country: 'US' }, recorded: false },
    ]);
  });

  // Fifth round: String.trim dropped these, so each leg was judged as the party it resembles while
  // Twilio received the raw text. Such a leg is unreadable, which classify refuses.
  it.each([
    ['a <Number> after a no-break space', '<Dial><Number>\u00a0+19005550123</Number></Dial>'],
    ['a bare number before a byte-order mark', '<Dial>+19005550123\ufeff</Dial>'],
    ['a <Sip> before an ideographic space', '<Dial><Sip>sip:x@pbx.example\u3000</Sip></Dial>'],
    ['a <Client> after a zero-width space', '<Dial><Client>\u200balice</Client></Dial>'],
    ['a lone no-break space beside a <Number>', '<Dial>\u00a0<Number>+14155550100</Number></Dial>'],
    // Sixth round: the raw text was the recipient, `sip:*@pbx.ok.com` matching what its header ends with.
    ['a <Sip> with an @ in its headers', '<Dial><Sip>sip:x@evil.example?h=@pbx.ok.com</Sip></Dial>'],
    [
      'a <Refer><Sip> with an @ in its parameters',
      '<Refer><Sip>sip:x@evil.example;h=@pbx.ok.com</Sip></Refer>',
    ],
    ['a <Sip> that is no sip: URI', '<Dial><Sip>x@evil.example?h=sip:y@pbx.ok.com</Sip></Dial>'],
  ])('reads %s as an unreadable leg', (_name, inner) => {
    expect(read(R(inner)).dials.some((d) => d.to.unreadable === true)).toBe(true);
  });

  it('reads a <Message to> with a no-break space as an unreadable destination', () => {
    expect(read(R('<Message to="+19005550123\u00a0">hi</Message>')).sms[0]?.to?.unreadable).toBe(true);
  });

  it('reads no time limit from one with a no-break space (the longest call is priced)', () => {
    expect(
      read(R('<Dial timeLimit="60\u00a0"><Number>+14155550100</Number></Dial>')).dials[0],
    ).not.toHaveProperty('timeLimitSeconds');
  });

  // Twelfth round (probe fixes12d): the value was trimmed before its digits were read, so " 60" cut
  // the leg at a minute in Keybrake's price while a strict integer read at Twilio lets it run.
  it.each([' 60', '60 ', '&#10;60', '&#9;60', '60&#13;'])(
    'reads no time limit from timeLimit="%s" (the longest call is priced)',
    (value) => {
      expect(
        read(R(`<Dial timeLimit="${value}"><Number>+14155550100</Number></Dial>`)).dials[0],
      ).not.toHaveProperty('timeLimitSeconds');
    },
  );

  it('refuses a no-break space where an element takes no text', () => {
    expect(denial(R('\u00a0<Hangup/>')).reason).toBe('body_invalid');
  });

  it('refuses a <Dial> or a noun that names nobody', () => {
    expect(denial(R('<Dial></Dial>')).reason).toBe('body_invalid');
    expect(denial(R('<Dial><Number> </Number></Dial>')).reason).toBe('body_invalid');
  });
});

describe('readTwiml: <Sms> and <Message> are messages', () => {
  it('reads the destination and the body', () => {
    expect(read(R('<Sms to="+447911123456">hello</Sms>')).sms).toEqual([
      { to: { channel: 'phone', address: '+447911123456', country: 'GG' }, body: 'hello' },
    ]);
    expect(read(R('<Message to="+33612345678"><Body>hi</Body></Message>')).sms).toEqual([
      { to: expect.objectContaining({ address: '+33612345678' }), body: 'hi' },
    ]);
  });

  // Thirteenth round (probe fixother, finding 2): <Media> was dropped, so the message was an SMS.
  it('counts the <Media> of a <Message>, empty ones included, and refuses more than ten', () => {
    const media = (n: number, url = 'https://example.com/a.png') =>
      `<Message to="+14155550100"><Body>x</Body>${`<Media>${url}</Media>`.repeat(n)}</Message>`;
    expect(read(R(media(1))).sms).toEqual([expect.objectContaining({ body: 'x', media: 1 })]);
    expect(read(R(media(10))).sms[0]?.media).toBe(10);
    expect(read(R(media(2, ''))).sms[0]?.media).toBe(2);
    expect(read(R('<Message to="+14155550100"><Body>x</Body></Message>')).sms[0]).not.toHaveProperty('media');
    expect(denial(R(media(11))).reason).toBe('body_invalid');
  });

  it('reads an <Sms> without to as one to the other party, and refuses an empty to', () => {
    expect(read(R('<Sms>hi</Sms>')).sms).toEqual([{ body: 'hi' }]);
    expect(denial(R('<Sms to=" ">hi</Sms>')).reason).toBe('body_invalid');
  });
});

// Twelfth round (probe fixes12b, findings 1 and 2): attribute names were compared ignoring case, so
// <Sms To=…> counted as a `to` (the live call's other party, whom Twilio texts, went unread) and
// <Dial TimeLimit="60"> priced a leg Twilio (case-sensitive; an unknown attribute is only warning
// 12200) lets run for the whole call. Another spelling of a name Keybrake reads is refused.
describe('readTwiml: the attributes Keybrake reads are spelt exactly', () => {
  it.each([
    ['<Sms To>', '<Sms To="+14155550100">hi</Sms>'],
    ['<Message TO>', '<Message TO="+14155550100">hi</Message>'],
    ['<Sms From>', '<Sms to="+14155550100" From="+14155550001">hi</Sms>'],
    ['<Message FROM>', '<Message FROM="+14155550001">hi</Message>'],
    ['<Dial TimeLimit>', '<Dial TimeLimit="60"><Number>+14155550100</Number></Dial>'],
    ['<Dial TIMELIMIT>', '<Dial TIMELIMIT="60">+14155550100</Dial>'],
    ['<Dial time-limit>', '<Dial time-limit="60">+14155550100</Dial>'],
    ['<Dial time_limit>', '<Dial time_limit="60">+14155550100</Dial>'],
    ['<Dial CallerId>', '<Dial CallerId="+14155550001">+14155550100</Dial>'],
    ['<Dial callerID>', '<Dial callerID="+14155550001">+14155550100</Dial>'],
    ['<Dial Record>', '<Dial Record="record-from-answer">+14155550100</Dial>'],
    ['<Conference RECORD>', '<Dial><Conference RECORD="record-from-start">r</Conference></Dial>'],
    ['<Gather Input>', '<Gather Input="speech"/>'],
    ['<Enqueue WorkflowSid>', '<Enqueue WorkflowSid="WW1">q</Enqueue>'],
    ['a namespace prefix, <Sms x:to>', '<Sms xmlns:x="urn:x" x:to="+14155550100">hi</Sms>'],
  ])('refuses %s as body_invalid', (_name, inner) => {
    expect(denial(R(inner))).toMatchObject({ reason: 'body_invalid', message: /spell it exactly/ });
  });

  it('reads the exact names as before', () => {
    const r = read(
      R(
        '<Dial callerId="+14155550001" timeLimit="60" record="record-from-answer"><Number>+14155550100</Number></Dial><Sms to="+14155550100" from="+14155550001">hi</Sms>',
      ),
    );
    expect(r.dials).toEqual([expect.objectContaining({ timeLimitSeconds: 60, recorded: true })]);
    expect(r.sms).toEqual([
      expect.objectContaining({ to: expect.objectContaining({ address: '+14155550100' }) }),
    ]);
    expect(r.senders).toHaveLength(2);
  });

  it('leaves attributes it does not read alone, whatever their case', () => {
    expect(
      read(R('<Say Voice="alice" LOOP="2">hi</Say><Dial Timeout="20" ringTone="us">+14155550100</Dial>'))
        .dials,
    ).toHaveLength(1);
  });
});

describe('readTwiml: remote instructions', () => {
  it.each([
    ['<Redirect>', '<Redirect>https://twiml.evil.example/next</Redirect>', 'Twiml <Redirect>'],
    ['<Dial action>', '<Dial action="https://a.example/x">+14155550100</Dial>', 'Twiml <Dial action>'],
    ['<Dial referUrl>', '<Dial referUrl="https://a.example/x">+14155550100</Dial>', 'Twiml <Dial referUrl>'],
    [
      '<Number url>',
      '<Dial><Number url="https://a.example/x">+14155550100</Number></Dial>',
      'Twiml <Number url>',
    ],
    [
      '<Conference waitUrl>',
      '<Dial><Conference waitUrl="https://a.example/x">r</Conference></Dial>',
      'Twiml <Conference waitUrl>',
    ],
    ['<Queue url>', '<Dial><Queue url="https://a.example/x">q</Queue></Dial>', 'Twiml <Queue url>'],
    [
      '<Gather action>',
      '<Gather action="https://a.example/x"><Say>1</Say></Gather>',
      'Twiml <Gather action>',
    ],
    ['<Enqueue waitUrl>', '<Enqueue waitUrl="https://a.example/x">q</Enqueue>', 'Twiml <Enqueue waitUrl>'],
    ['<Record action>', '<Record action="https://a.example/x"/>', 'Twiml <Record action>'],
    ['<Sms action>', '<Sms to="+14155550100" action="https://a.example/x">hi</Sms>', 'Twiml <Sms action>'],
    ['<Connect><Stream url>', '<Connect><Stream url="wss://a.example/s"/></Connect>', 'Twiml <Stream url>'],
    ['<Start><Stream url>', '<Start><Stream url="wss://a.example/s"/></Start>', 'Twiml <Stream url>'],
    [
      '<Connect action>',
      '<Connect action="https://a.example/x"><Stream url="wss://a.example/s"/></Connect>',
      'Twiml <Connect action>',
    ],
    [
      'an attribute in another case',
      '<Dial ACTION="https://a.example/x">+14155550100</Dial>',
      'Twiml <Dial ACTION>',
    ],
  ])('reports %s', (_name, inner, where) => {
    expect(read(R(inner)).remote).toContainEqual(expect.objectContaining({ kind: 'url', where }));
  });

  it('reports a URL with a no-break space around it as written, which no allowed host matches', () => {
    expect(read(R('<Redirect>\u00a0https://a.example/x</Redirect>')).remote).toEqual([
      { kind: 'url', where: 'Twiml <Redirect>', url: '\u00a0https://a.example/x' },
    ]);
    expect(read(R('<Dial action="https://a.example/x\u00a0">+14155550100</Dial>')).remote).toContainEqual(
      expect.objectContaining({ url: 'https://a.example/x\u00a0' }),
    );
  });

  it('reports the URL as written, trimmed', () => {
    expect(read(R('<Redirect>  https://a.example/x  </Redirect>')).remote).toEqual([
      { kind: 'url', where: 'Twiml <Redirect>', url: 'https://a.example/x' },
    ]);
  });

  it('does not count callbacks or media as instructions', () => {
    const r = read(
      R(
        '<Play>https://media.example/a.mp3</Play><Dial statusCallback="https://a.example/s" recordingStatusCallback="https://a.example/r"><Number statusCallback="https://a.example/n">+14155550100</Number><Conference eventCallbackUrl="https://a.example/e">r</Conference></Dial>',
      ),
    );
    expect(r.remote).toEqual([]);
  });

  it('reports an <Application> and a TaskRouter workflow as instructions it cannot see', () => {
    expect(
      read(R('<Dial><Application><ApplicationSid>AP1</ApplicationSid></Application></Dial>')).remote,
    ).toEqual([expect.objectContaining({ kind: 'opaque', what: 'a TwiML application' })]);
    expect(read(R('<Enqueue workflowSid="WW1"><Task>{}</Task></Enqueue>')).remote).toEqual([
      expect.objectContaining({ kind: 'opaque', what: 'a TaskRouter workflow' }),
    ]);
  });

  it('reads nothing into what a <Stop> stops', () => {
    expect(read(R('<Stop><Stream name="s"/><Siprec name="r"/></Stop>'))).toMatchObject({
      remote: [],
      streams: 0,
    });
  });
});

describe('readTwiml: what costs money besides the legs', () => {
  it('notes recording and streaming for the whole call', () => {
    expect(read(R('<Record/>')).recordings).toBe(1);
    expect(read(R('<Start><Recording/></Start>')).recordings).toBe(1);
    expect(read(R('<Dial><Conference record="record-from-start">r</Conference></Dial>')).recordings).toBe(1);
    expect(read(R('<Start><Stream url="wss://a.example/s"/></Start>')).streams).toBe(1);
    expect(read(R('<Say>hi</Say>'))).toMatchObject({ recordings: 0, streams: 0 });
  });

  // Thirteenth round (probe twmoney13, finding 6): each was a boolean, so a second stream fork or
  // recording was free.
  it('counts every stream fork and every recording', () => {
    const streams = '<Start><Stream url="wss://a.example/1"/><Stream url="wss://a.example/2"/></Start>';
    expect(read(R(`${streams}<Start><Stream url="wss://a.example/3"/></Start>`)).streams).toBe(3);
    expect(read(R('<Start><Recording/></Start><Start><Recording/></Start><Record/>')).recordings).toBe(3);
  });

  // Thirteenth round (finding 5): AMD on a dialled number or SIP leg was not counted.
  it('notes answering machine detection asked on a <Number> or <Sip> leg', () => {
    const dials = read(
      R(
        '<Dial><Number machineDetection="Enable">+14155550100</Number><Sip machineDetection="DetectMessageEnd">sip:a@pbx.example</Sip><Number machineDetection="none">+14155550101</Number><Number>+14155550102</Number></Dial>',
      ),
    ).dials;
    expect(dials.map((d) => d.machineDetection === true)).toEqual([true, true, false, false]);
    expect(denial(R('<Dial><Number MachineDetection="Enable">+14155550100</Number></Dial>')).reason).toBe(
      'body_invalid',
    );
  });

  it.each([
    ['<Pay>', '<Pay chargeAmount="10.00"/>'],
    ['<Gather input="speech">', '<Gather input="dtmf speech"/>'],
    ['<Record transcribe="true">', '<Record transcribe="true"/>'],
    ['<Start><Transcription>', '<Start><Transcription/></Start>'],
    ['<Start><Siprec>', '<Start><Siprec connectorName="x"/></Start>'],
    ['<Connect><ConversationRelay>', '<Connect><ConversationRelay url="wss://a.example/r"/></Connect>'],
    ['<Connect><VirtualAgent>', '<Connect><VirtualAgent connectorName="x"/></Connect>'],
    ['<Connect><Room>', '<Connect><Room>r</Room></Connect>'],
    // Fifth round: Twilio's <Record> docs say a transcribeCallback turns transcription on by itself.
    ['<Record transcribeCallback> without transcribe', '<Record transcribeCallback="https://a.example/t"/>'],
    [
      '<Record transcribeCallback> with transcribe="false"',
      '<Record transcribe="false" transcribeCallback="https://a.example/t"/>',
    ],
    ['<Record transcribeCallback> in another case', '<Record TranscribeCallBack="https://a.example/t"/>'],
    ['<Record transcribe="True">', '<Record transcribe="True"/>'],
    ['<Start><Recording> with a transcription attribute', '<Start><Recording transcribe="true"/></Start>'],
  ])('refuses %s as unpriceable', (_name, inner) => {
    expect(denial(R(inner)).reason).toBe('price_unknown');
  });

  it('records without transcribing when transcribe is false and nothing else names transcription', () => {
    expect(
      read(R('<Record transcribe="false" recordingStatusCallback="https://a.example/s"/>')),
    ).toMatchObject({
      recordings: 1,
    });
  });
});

describe('readTwiml: strict reading', () => {
  it(`refuses more than ${MAX_TWIML_LENGTH} characters before parsing`, () => {
    const long = R(`<Say>${'a'.repeat(MAX_TWIML_LENGTH)}</Say>`);
    expect(denial(long)).toMatchObject({ reason: 'body_invalid', message: /4000 characters/ });
    expect(isDenial(readTwiml(R(`<Say>${'a'.repeat(MAX_TWIML_LENGTH - 32)}</Say>`)))).toBe(false);
  });

  it.each([
    ['malformed XML', '<Response><Dial>+447911123456</Response>'],
    ['a DOCTYPE', '<!DOCTYPE Response><Response/>'],
    ['a root other than <Response>', '<Dial>+447911123456</Dial>'],
    ['an unknown verb', R('<Echo/>')],
    ['a verb in another case', R('<dial>+447911123456</dial>')],
    ['a noun outside <Dial>', R('<Number>+447911123456</Number>')],
    ['a verb inside <Dial>', R('<Dial><Redirect>https://a.example</Redirect></Dial>')],
    ['a <Dial> inside <Gather>', R('<Gather><Dial>+447911123456</Dial></Gather>')],
    ['a <Response> inside <Response>', R('<Response/>')],
    ['text directly in <Response>', R('+447911123456')],
    ['a verb hidden in <Say>', R('<Say><Dial>+447911123456</Dial></Say>')],
  ])('refuses %s', (_name, xml) => {
    expect(denial(xml).reason).toBe('body_invalid');
  });

  it('reads SSML inside <Say> and nothing in it as a destination', () => {
    const r = read(
      R(
        '<Say voice="Polly.Joanna">Call <say-as interpret-as="telephone">+447911123456</say-as><break time="1s"/></Say>',
      ),
    );
    expect(r).toMatchObject({ dials: [], sms: [], remote: [] });
  });

  it('reads a realistic document with a declaration', () => {
    const r = read(
      `<?xml version="1.0" encoding="UTF-8"?>\n<Response>\n  <Say>Connecting you.</Say>\n  <Pause length="1"/>\n  <Dial callerId="+14155550199" timeLimit="600">\n    <Number sendDigits="1">+14155550123</Number>\n  </Dial>\n  <Hangup/>\n</Response>\n`,
    );
    expect(r.dials).toEqual([
      {
        to: { channel: 'phone', address: '+14155550123', country: 'US' },
        timeLimitSeconds: 600,
        recorded: false,
      },
    ]);
  });
});
