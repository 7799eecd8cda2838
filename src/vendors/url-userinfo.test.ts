import { describe, expect, it } from 'vitest';
import { isDenial } from '../decision/reasons.ts';
import { WITHHELD } from './types.ts';
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
    // Seventh round: a dotted user name followed by a sub-delim was taken for prose, its password kept.
    [
      'a dotted user name followed by a sub-delim, then a password',
      {
        voice_url: 'https://first.last+twilio:Hunter2Secret@hooks.example.com/voice',
        status_callback: 'https://ops.team=1:Hunter2Secret@hooks.example.com/s',
        a: `https://api.corp.com=:${PASSWORD}@h`,
        b: `https://api.corp.com;pw=${PASSWORD}:x@h`,
        c: `https://api.corp.com:!${PASSWORD}@h`,
        d: `https://api.corp.com$:${PASSWORD}@h`,
        e: `https://shop.example.com,orders%3A${PASSWORD}@h`,
      },
      {
        voice_url: 'https://withheld_by_keybrake@hooks.example.com/voice',
        status_callback: 'https://withheld_by_keybrake@hooks.example.com/s',
        a: 'https://withheld_by_keybrake@h',
        b: 'https://withheld_by_keybrake@h',
        c: 'https://withheld_by_keybrake@h',
        d: 'https://withheld_by_keybrake@h',
        e: 'https://withheld_by_keybrake@h',
      },
    ],
    // Seventh round: spellings a WHATWG parser reads a password out of, as a webhook client would.
    [
      'no slash, one slash, backslashes, and a TAB or newline the parser strips',
      {
        a: `https:/user:${PASSWORD}@host`,
        b: `https:\\user:${PASSWORD}@host`,
        c: `https:/\\user:${PASSWORD}@host`,
        d: `https:user:${PASSWORD}@host`,
        e: `https://user:${PASSWORD}\t@host`,
        f: `https://us\ner:${PASSWORD}@host`,
        g: `https://user%40corp.com:${PASSWORD}@host`,
      },
      {
        a: 'https:/withheld_by_keybrake@host',
        b: 'https:\\withheld_by_keybrake@host',
        c: 'https:/\\withheld_by_keybrake@host',
        d: 'https:withheld_by_keybrake@host',
        e: 'https://withheld_by_keybrake@host',
        f: 'https://withheld_by_keybrake@host',
        g: 'https://withheld_by_keybrake@host',
      },
    ],
    // Seventh round: a WHATWG parser strips TAB, LF and CR from anywhere, the scheme included, and a
    // Stripe webhook endpoint's `url` of `ht\ttps:ops:…@…` reached the agent whole.
    [
      'a TAB, LF or CR inside the scheme or before its colon',
      {
        url: 'ht\ttps:ops:Hunter2Secret@hooks.example.com/stripe',
        description: 'https\t://ops:Hunter2Secret@hooks.example.com/a',
        a: `http\r:u:${PASSWORD}@h`,
        b: `ftp\t://u:${PASSWORD}@h`,
        c: `https\t:u:${PASSWORD}@h`,
        d: `see\nf\too:/\t/u:${PASSWORD}@h`,
      },
      {
        url: 'ht\ttps:withheld_by_keybrake@hooks.example.com/stripe',
        description: 'https\t://withheld_by_keybrake@hooks.example.com/a',
        a: 'http\r:withheld_by_keybrake@h',
        b: 'ftp\t://withheld_by_keybrake@h',
        c: 'https\t:withheld_by_keybrake@h',
        d: 'see\nf\too:/\t/withheld_by_keybrake@h',
      },
    ],
    // Seventh round: a space inside a userinfo is percent-encoded by the parser, which reads the password.
    [
      "a space inside a userinfo with a password, and a backslash in another scheme's",
      {
        a: `https://u:${PASSWORD} @h/x`,
        b: `https://u:pw\u00a0${PASSWORD}@h`,
        c: `wss://u:${PASSWORD}\u3000@h`,
        d: `foo://u:p\\${PASSWORD}@h/x`,
      },
      {
        a: 'https://withheld_by_keybrake@h/x',
        b: 'https://withheld_by_keybrake@h',
        c: 'wss://withheld_by_keybrake@h',
        d: 'foo://withheld_by_keybrake@h/x',
      },
    ],
    // Seventh round: a percent-encoded URL after a form's `+` (a space) or another escape was not found.
    [
      'a percent-encoded URL after a space or an escape, with a TAB in its scheme or userinfo',
      {
        a: `Msg=see+https%3A%2F%2Fu%3A${PASSWORD}%40h%2Fx`,
        b: `Msg=%22foo%3A%2F%2Fu%3A${PASSWORD}%40h`,
        c: `url=h%09ttps%3Au%3A${PASSWORD}%40h`,
        d: `url=https%3A%2F%2Fu%3A${PASSWORD}\t%40h`,
      },
      {
        a: 'Msg=see+https%3A%2F%2Fwithheld_by_keybrake%40h%2Fx',
        b: 'Msg=%22foo%3A%2F%2Fwithheld_by_keybrake%40h',
        c: 'url=h%09ttps%3Awithheld_by_keybrake%40h',
        d: 'url=https%3A%2F%2Fwithheld_by_keybrake%40h',
      },
    ],
    // Eighth round: a URL percent-encoded in part, as a quoting tool leaves it, read whole in a Stripe
    // webhook endpoint's answer; one decode of each gives a URL a parser reads a password out of.
    [
      'a URL percent-encoded in part, any of its `:`, slashes and `@` spelt either way',
      {
        url: 'https://hooks.example.com/relay?to=https%3A//ops%3AHunter2Secret%40inner.example.com/stripe',
        a: 'https%3A//ops%3AHunter2Secret@inner.example.com/x',
        b: 'https%3A%2F%2Fops%3AHunter2Secret@inner.example.com/x',
        c: 'HTTPS%3A//ops%3AHunter2Secret%40inner.example.com/x',
        d: 'see wss%3A//ops%3AHunter2Secret%40h and ftp%3A//ops%3AHunter2Secret%40h',
        e: `https://ops:${PASSWORD}%40inner.example.com/x`,
        f: `foo%3A%5C/ops%3A${PASSWORD}@h`,
      },
      {
        url: 'https://hooks.example.com/relay?to=https%3A//withheld_by_keybrake%40inner.example.com/stripe',
        a: 'https%3A//withheld_by_keybrake@inner.example.com/x',
        b: 'https%3A%2F%2Fwithheld_by_keybrake@inner.example.com/x',
        c: 'HTTPS%3A//withheld_by_keybrake%40inner.example.com/x',
        d: 'see wss%3A//withheld_by_keybrake%40h and ftp%3A//withheld_by_keybrake%40h',
        e: 'https://withheld_by_keybrake%40inner.example.com/x',
        f: 'foo%3A%5C/withheld_by_keybrake@h',
      },
    ],
    [
      "a SIP URI's password percent-encoded, wholly or in part",
      {
        a: 'To=sip%3Aalice%3AHunter2Secret%40pbx.example.com&From=x',
        b: 'To=sips%3Aalice%3AHunter2Secret%40pbx.example.com&From=x',
        c: `sip%3Aalice:${PASSWORD}@pbx`,
        d: `sip:alice%3A${PASSWORD}@pbx`,
      },
      {
        a: 'To=sip%3Awithheld_by_keybrake%40pbx.example.com&From=x',
        b: 'To=sips%3Awithheld_by_keybrake%40pbx.example.com&From=x',
        c: 'sip%3Awithheld_by_keybrake@pbx',
        d: 'sip:withheld_by_keybrake@pbx',
      },
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

  // Seventh round: the same in the 2010 API's XML.
  it('withholds a dotted user name followed by a sub-delim, then a password, in XML', () => {
    const sent = `<TwilioResponse><VoiceUrl>https://first.last+twilio:${PASSWORD}@hooks.example.com/voice</VoiceUrl><SmsUrl>https:/api.corp.com;pw=${PASSWORD}@h</SmsUrl></TwilioResponse>`;
    expect(withheld(sent)).toBe(
      '<TwilioResponse><VoiceUrl>https://withheld_by_keybrake@hooks.example.com/voice</VoiceUrl><SmsUrl>https:/withheld_by_keybrake@h</SmsUrl></TwilioResponse>',
    );
  });

  // Seventh round: the same spelt with JSON's escapes, and in XML.
  it('finds a TAB, LF or CR in a scheme spelt as a JSON escape, and in XML', () => {
    const sent = `{"url":"ht\\u0009tps:ops:${PASSWORD}@h/s","b":"http\\u000d:u:${PASSWORD}@h","c":"https\\n://u:${PASSWORD}@h"}`;
    expect(JSON.parse(withheld(sent))).toEqual({
      url: 'ht\ttps:withheld_by_keybrake@h/s',
      b: 'http\r:withheld_by_keybrake@h',
      c: 'https\n://withheld_by_keybrake@h',
    });
    const xml = `<TwilioResponse><VoiceUrl>ht\ttps:ops:${PASSWORD}@h/v</VoiceUrl><SmsUrl>https\r\n://u:${PASSWORD} @h</SmsUrl></TwilioResponse>`;
    expect(withheld(xml)).toBe(
      '<TwilioResponse><VoiceUrl>ht\ttps:withheld_by_keybrake@h/v</VoiceUrl><SmsUrl>https\r\n://withheld_by_keybrake@h</SmsUrl></TwilioResponse>',
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
    ['SIP addresses in a list', { to: '<sip:alice@pbx.example.com>, <sip:bob@pbx.example.com>' }],
    // A space ends a userinfo without a `:`: the URL in prose ends there, and no password is read.
    ['a URL, words and an address', { note: 'see https://example.com or write to\tbob@example.com' }],
    // Sixth round: the userinfo ran across the comma to the address's @, and the host was lost.
    ['a URL, a comma and an address', { description: 'see https://shop.example.com,orders@example.com' }],
    ['a URL, a semicolon and an address', { note: 'https://shop.example.com;orders@example.com' }],
    ['a URL in parentheses before an address', { note: '(https://shop.example.com)orders@example.com' }],
    // A text holding an escape is scanned again for URLs encoded in part: prose stays prose there too.
    [
      'a URL, a comma and an address, in a text with escapes',
      {
        description:
          'see https://shop.example.com,orders@example.com (50%2F50) or https%3A//a.example.com,b%40c.io',
      },
    ],
    ['an address in a query encoded in part', { url: 'https%3A//example.com/cb?email=bob%40example.com' }],
    ['a SIP address encoded without a password', { to: 'To=sip%3Aalice%40pbx.example.com&From=sip%3Abob' }],
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

  // Sixth round: an agent wrote `a://@` 100 times into each of 50 metadata values of 100 customers
  // (free writes); a read of the list cost 276 ms of event loop and reached it 4.9 times its size.
  it('leaves an empty userinfo alone: it holds nothing, and the answer does not grow', () => {
    const body = Buffer.from(
      JSON.stringify({
        metadata: { k0: 'a://@'.repeat(100), k1: 'https:\\\\@h' },
        url: 'https://@example.com/x',
        alert_text: 'url=https%3A%2F%2F%40example.com%2Fsms',
      }),
    );
    expect(withholdUrlUserinfo(body)).toBe(body);
  });

  /** A customer list of agent-shaped metadata: 100 customers with 50 values of `piece` × 100. */
  const agentShaped = (piece: string) =>
    Buffer.from(
      JSON.stringify({
        object: 'list',
        data: Array.from({ length: 100 }, (_, i) => ({
          id: `cus_${i}`,
          email: 'bob@example.com',
          metadata: Object.fromEntries(Array.from({ length: 50 }, (_, k) => [`k${k}`, piece.repeat(100)])),
        })),
      }),
    );

  it('refuses whole an answer with more userinfos than one per 64 bytes, and at least 256 (fail closed)', () => {
    const urls = (n: number) =>
      Buffer.from(JSON.stringify({ urls: Array(n).fill(`https://u:${PASSWORD}@h/`) }));
    expect(withheld(urls(256).toString())).not.toContain(PASSWORD);
    for (const body of [urls(257), agentShaped('a://x@'), agentShaped(`https://u:${PASSWORD}@h/`)]) {
      const out = withholdUrlUserinfo(body);
      expect(out).toMatchObject({ reason: 'credential_in_response' });
      expect(isDenial(out) && out.message).not.toContain(PASSWORD);
    }
  });

  // The densest answer of real webhooks: an application holds seven, here short ones (about 120 bytes a
  // URL). A cap of a few hundred refused Twilio's default page of 50.
  it('withholds every URL of a page of 1000 Twilio applications, seven protected webhooks each', () => {
    const hook = `https://tw:${PASSWORD}@h.io/x`;
    const app = (i: number) => ({
      account_sid: `AC${'0'.repeat(32)}`,
      api_version: '2010-04-01',
      date_created: 'Mon, 22 Aug 2011 20:59:45 +0000',
      date_updated: 'Mon, 22 Aug 2011 20:59:45 +0000',
      friendly_name: `app ${i}`,
      message_status_callback: hook,
      sid: `AP${String(i).padStart(32, '0')}`,
      sms_fallback_method: 'POST',
      sms_fallback_url: hook,
      sms_method: 'POST',
      sms_status_callback: hook,
      sms_url: hook,
      status_callback: hook,
      status_callback_method: 'POST',
      uri: `/2010-04-01/Accounts/AC${'0'.repeat(32)}/Applications/AP${String(i).padStart(32, '0')}.json`,
      voice_caller_id_lookup: false,
      voice_fallback_method: 'POST',
      voice_fallback_url: hook,
      voice_method: 'POST',
      voice_url: hook,
      public_application_connect_enabled: false,
    });
    const got = withheld(JSON.stringify({ applications: Array.from({ length: 1000 }, (_, i) => app(i)) }));
    expect(got).not.toContain(PASSWORD);
    expect(got.split(WITHHELD).length - 1).toBe(7000);
  });

  it('grows an answer by at most 19 bytes a userinfo withheld, however many empty ones it holds', () => {
    const body = Buffer.from(
      JSON.stringify({ empty: Array(10_000).fill('a://@'), real: Array(256).fill('a://x@h') }),
    );
    const out = withholdUrlUserinfo(body);
    if (isDenial(out)) throw new Error(`denied: ${out.message}`);
    expect(out.length).toBeLessThanOrEqual(body.length + 256 * 19);
    expect(out.toString()).toContain('"a://withheld_by_keybrake@h"');
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
        // Seventh round: a special scheme opens a userinfo without slashes, each `http:` here one.
        d: `@${'http:'.repeat(50_000)}/@`,
        e: `%40${'https%3A'.repeat(20_000)}%2F%40`,
        // Seventh round: a TAB, LF or CR may stand inside a scheme, so each word here may start one.
        f: `@${'a\t'.repeat(50_000)}:/x`,
        g: `%40${'a%09'.repeat(30_000)}%3A%2Fx`,
        h: `@${'h\tt\n'.repeat(30_000)}:/x`,
        i: `${'sip:x:'.repeat(20_000)}/@`,
        // Eighth round: an opening's `:` and slashes may be spelt either way, and an `@` too.
        j: `%40${'https%3A'.repeat(20_000)}/%40`,
        k: `${'a://@'.repeat(200_000)}/%40`,
        l: `${'sip%3Ax%3A'.repeat(20_000)}%2F%40`,
      }),
    );
    expect(withholdUrlUserinfo(body)).toBe(body);
  });
});
