import { describe, expect, it } from 'vitest';
import { isDenial } from '../decision/reasons.ts';
import { withholdUrlUserinfo } from './url-userinfo.ts';

const PASSWORD = 'WebhookPw123';
const withheld = (text: string) => {
  const out = withholdUrlUserinfo(Buffer.from(text));
  if (isDenial(out)) throw new Error(`denied: ${out.message}`);
  return out.toString('utf8');
};

describe('withholdUrlUserinfo', () => {
  it.each([
    [
      "an incoming number's webhooks",
      {
        sid: 'PN1',
        voice_url: `https://app:${PASSWORD}@app.example.com/voice?x=1`,
        sms_url: `https://app:${PASSWORD}@app.example.com/sms`,
        status_callback: 'https://app.example.com/status',
      },
      {
        sid: 'PN1',
        voice_url: 'https://withheld_by_keybrake@app.example.com/voice?x=1',
        sms_url: 'https://withheld_by_keybrake@app.example.com/sms',
        status_callback: 'https://app.example.com/status',
      },
    ],
    [
      'a page of Messaging Services, at any depth',
      { services: [{ inbound_request_url: `http://u:${PASSWORD}@hooks.example.com:8443` }], meta: {} },
      { services: [{ inbound_request_url: 'http://withheld_by_keybrake@hooks.example.com:8443' }], meta: {} },
    ],
    // The round's last probe: spellings a URL parser reads as a userinfo too.
    [
      "a SIP URI's password, and a WHATWG parser's extra slashes or backslashes",
      {
        sip: `sip:alice:${PASSWORD}@pbx.example.com`,
        a: `https:///mo:${PASSWORD}@h`,
        b: `https:\\\\nat:${PASSWORD}@h`,
      },
      {
        sip: 'sip:withheld_by_keybrake@pbx.example.com',
        a: 'https:///withheld_by_keybrake@h',
        b: 'https:\\\\withheld_by_keybrake@h',
      },
    ],
    // Sixth round: a password may hold a sub-delim (`,`), and a dotted user name is followed by `:`.
    [
      'a password holding a comma, and a dotted user name',
      { a: `https://app:${PASSWORD},x@example.com/x`, b: `https://first.last:${PASSWORD}@example.com` },
      { a: 'https://withheld_by_keybrake@example.com/x', b: 'https://withheld_by_keybrake@example.com' },
    ],
    [
      'a user name without a password',
      { url: 'https://token-abc@example.com/x' },
      { url: 'https://withheld_by_keybrake@example.com/x' },
    ],
    [
      'a password holding an @, up to the last one of the authority',
      { url: `https://app:p@ss@${PASSWORD}@example.com/x` },
      { url: 'https://withheld_by_keybrake@example.com/x' },
    ],
    [
      'an upper-case scheme and a URL inside a longer text',
      { description: `posts to HTTPS://app:${PASSWORD}@example.com/in, then stops` },
      { description: 'posts to HTTPS://withheld_by_keybrake@example.com/in, then stops' },
    ],
    [
      "a percent-encoded URL in an alert's text",
      {
        alert_text: `Msg=timeout&url=https%3A%2F%2Fapp%3A${PASSWORD}%40app.example.com%2Fsms&LogLevel=ERROR`,
      },
      {
        alert_text:
          'Msg=timeout&url=https%3A%2F%2Fwithheld_by_keybrake%40app.example.com%2Fsms&LogLevel=ERROR',
      },
    ],
  ])('withholds the userinfo of the URLs of %s, keeping the rest', (_what, sent, expected) => {
    const got = withheld(JSON.stringify(sent, null, 2));
    expect(got).not.toContain(PASSWORD);
    expect(JSON.parse(got)).toEqual(expected);
  });

  it('finds a URL spelt with JSON escapes, and keeps every other byte as the vendor sent it', () => {
    const sent = `{"sid":"AP1", "price":-0.00750000000000000001,\n "sms_url":"https:\\/\\/app:${PASSWORD}\\u0040app.example.com\\/sms","uri":"\\/2010-04-01\\/x"}`;
    const got = withheld(sent);
    expect(got).toBe(
      '{"sid":"AP1", "price":-0.00750000000000000001,\n "sms_url":"https://withheld_by_keybrake@app.example.com/sms","uri":"\\/2010-04-01\\/x"}',
    );
  });

  it('rewrites the URLs of an XML answer in place', () => {
    const sent = `<?xml version='1.0' encoding='UTF-8'?>\n<TwilioResponse><IncomingPhoneNumber><VoiceUrl>https://app:${PASSWORD}@app.example.com/voice</VoiceUrl><SmsUrl a="http://u:${PASSWORD}@h.example.com">x</SmsUrl></IncomingPhoneNumber></TwilioResponse>`;
    expect(withheld(sent)).toBe(
      `<?xml version='1.0' encoding='UTF-8'?>\n<TwilioResponse><IncomingPhoneNumber><VoiceUrl>https://withheld_by_keybrake@app.example.com/voice</VoiceUrl><SmsUrl a="http://withheld_by_keybrake@h.example.com">x</SmsUrl></IncomingPhoneNumber></TwilioResponse>`,
    );
  });

  it.each([
    ['an address in a path', { url: 'https://example.com/Identities/bob@example.com' }],
    ['an address in a query', { url: 'https://example.com/cb?email=bob@example.com#x@y' }],
    ['an address beside a URL', { note: 'see https://example.com or write to bob@example.com' }],
    ['an e-mail address', { identity: 'bob@example.com', to: 'mailto:bob@example.com' }],
    ['a SIP address without a password', { to: 'sip:alice@pbx.example.com;transport=tls' }],
    // Sixth round: the userinfo ran across the comma to the address's @, and the host was lost.
    ['a URL, a comma and an address', { description: 'see https://shop.example.com,orders@example.com' }],
    ['a URL, a semicolon and an address', { note: 'https://shop.example.com;orders@example.com' }],
    ['a URL in parentheses before an address', { note: '(https://shop.example.com)orders@example.com' }],
    [
      'a link before an address in HTML',
      { html: '<a href="https://shop.example.com">orders@example.com</a>' },
    ],
  ])('leaves alone %s, which is no userinfo', (_what, sent) => {
    const body = Buffer.from(JSON.stringify(sent));
    expect(withholdUrlUserinfo(body)).toBe(body);
  });

  it('hands back the same Buffer when nothing is withheld', () => {
    const plain = Buffer.from('{"sid":"SM1","url":"https://api.twilio.com/x"}');
    expect(withholdUrlUserinfo(plain)).toBe(plain);
  });

  // Sixth round: one byte that is not UTF-8 anywhere in an answer turned the withholding off for all of it.
  it.each([
    [
      'a JSON answer with one stray byte',
      Buffer.from(`{"voice_url":"https://app:${PASSWORD}@h/v","x":"\xff"}`, 'latin1'),
    ],
    [
      'text after bytes that are not UTF-8',
      Buffer.concat([Buffer.from([0xff, 0xfb, 0x90]), Buffer.from(`https://a:${PASSWORD}@c/`)]),
    ],
    [
      'a URL spelt with JSON escapes',
      Buffer.from(`{"u":"https:\\/\\/a:${PASSWORD}\\u0040h","x":"\xc3"}`, 'latin1'),
    ],
  ])('withholds whole %s that holds a URL with a userinfo (fail closed)', (_what, body) => {
    const out = withholdUrlUserinfo(body);
    expect(out).toMatchObject({ reason: 'credential_in_response' });
    expect(isDenial(out) && out.message).not.toContain(PASSWORD);
  });

  it('passes whole a body that is not UTF-8 whose only `x://…@` spans bytes that are no character (audio)', () => {
    const audio = Buffer.concat([
      Buffer.from('ID3\xff\xfbx://', 'latin1'),
      Buffer.from([0x90, 0xc3]),
      Buffer.from('@'),
    ]);
    expect(withholdUrlUserinfo(audio)).toBe(audio);
  });

  // A scheme starts only at the start of a word: without that, each start of a 100 000-letter run
  // scanned to its end (about 10 s here, past the test's timeout). No clock is read: the answer is
  // checked, and a quadratic scan fails the test by its timeout.
  it('reads a long run of letters once (no quadratic scan), leaving text with no URL alone', () => {
    const body = Buffer.from(
      JSON.stringify({
        a: `${'x'.repeat(100_000)}@`,
        b: `${'%41'.repeat(100_000)}%40`,
        c: `${'sip:a:'.repeat(20_000)} @`,
      }),
    );
    expect(withholdUrlUserinfo(body)).toBe(body);
  });
});
