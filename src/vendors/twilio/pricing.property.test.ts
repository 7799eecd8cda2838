import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import {
  TWILIO_EMULATOR_ACCOUNT as ACCOUNT,
  startTwilioEmulator,
  type TwilioEmulator,
} from '../../emulators/twilio.ts';
import type { CompiledKey } from '../../snapshot/types.ts';
import { createTwilioAdapter, DEFAULT_TWILIO_PRICES } from './index.ts';

/**
 * Pricing a message against the upstream: for arbitrary bodies (up to Twilio's 1600 characters, GSM-7
 * with and without extension characters, and UCS-2 with astral characters) to numbers in the
 * countries the Twilio emulator bills, to WhatsApp, and as MMS, what Keybrake reserves (parse → price,
 * the adapter as the pipeline drives it) is at least
 *   - what the Twilio emulator, an independent "Twilio" with its own price list, bills for the same
 *     request (it counts segments with sms-segments-calculator), and what settle reads from its answer;
 *   - the segments counted here by Twilio's published rules, written out below independently of both,
 *     times Keybrake's own rate for the destination.
 */

const twilio = createTwilioAdapter();
const limits = { maxBytes: 1 << 20, maxDepth: 8, maxParams: 1000 };
const RUNS = { numRuns: 300 };
const KEY = {
  uid: 'agents/t',
  namespace: 'agents',
  name: 't',
  vendor: 'twilio',
  tokenFingerprint: 'kb_twilio_…0000',
  upstream: { kind: 'basic', username: ACCOUNT.sid, password: ACCOUNT.authToken },
  suspended: false,
  policy: { ref: 'agents/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: false },
} as CompiledKey;
const PATH = `/2010-04-01/Accounts/${ACCOUNT.sid}/Messages.json`;

// ---- Twilio's segment rules, independently ------------------------------------------------------
// GSM 03.38 basic character set and its extension table (each extension character takes two septets
// and is never split across segments). Twilio: GSM-7 holds 160 septets in one segment, 153 in each
// of several; UCS-2 holds 70 UTF-16 units, 67 in each of several, a surrogate pair never split.
const GSM_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM_EXTENSION = new Set('^{}\\[~]|€\f');

function segmentsByTheRules(body: string): number {
  const chars = [...body];
  if (chars.every((c) => GSM_BASIC.has(c) || GSM_EXTENSION.has(c))) {
    const septets = chars.map((c) => (GSM_EXTENSION.has(c) ? 2 : 1));
    if (septets.reduce((a, b) => a + b, 0) <= 160) return 1;
    return pack(septets, 153);
  }
  const units = chars.map((c) => c.length);
  if (units.reduce((a, b) => a + b, 0) <= 70) return 1;
  return pack(units, 67);
}

/** Segments of `size` holding the items in order, none split. */
function pack(items: readonly number[], size: number): number {
  let segments = 1;
  let used = 0;
  for (const n of items) {
    if (used + n > size) {
      segments += 1;
      used = 0;
    }
    used += n;
  }
  return segments;
}

// ---- generators ---------------------------------------------------------------------------------
const gsmChar = fc.constantFrom(...GSM_BASIC);
const extChar = fc.constantFrom(...GSM_EXTENSION);
const ucsChar = fc.oneof(
  fc.constantFrom('ą', 'ł', 'Ж', '中', '—', '’', '“', 'ç'),
  fc.constantFrom('😀', '👍🏽', '🇫🇷', '𝄞'),
);
/** Bodies up to Twilio's 1600 characters (UTF-16 units, as Twilio and Keybrake count them). */
const body = fc
  .oneof(
    fc.string({ unit: gsmChar, minLength: 1, maxLength: 1600 }),
    fc.string({
      unit: fc.oneof({ weight: 9, arbitrary: gsmChar }, { weight: 1, arbitrary: extChar }),
      minLength: 1,
      maxLength: 900,
    }),
    fc.string({
      unit: fc.oneof({ weight: 20, arbitrary: gsmChar }, { weight: 1, arbitrary: ucsChar }),
      minLength: 1,
      maxLength: 800,
    }),
    fc.string({ unit: ucsChar, minLength: 1, maxLength: 400 }),
    fc.constantFrom(
      'x'.repeat(160),
      'x'.repeat(161),
      'x'.repeat(153 * 2),
      'x'.repeat(153 * 2 + 1),
      '€'.repeat(80),
      '€'.repeat(81),
      'ą'.repeat(70),
      'ą'.repeat(71),
      `${'x'.repeat(152)}€`,
    ),
  )
  .filter((b) => b.length <= 1600);
/** Numbers in the countries the emulator has its own rates for. */
const to = fc.oneof(
  fc.constantFrom('+14155550100', '+16135550123', '+447911123456', '+33612345678', '+4915123456789'),
  fc.integer({ min: 2_000_000, max: 9_999_999 }).map((n) => `+1415${n}`),
);
const channel = fc.constantFrom('sms', 'sms', 'sms', 'whatsapp', 'mms');

let emulator: TwilioEmulator;
beforeAll(async () => {
  emulator = await startTwilioEmulator({ record: false });
});
afterAll(() => emulator?.close());

/** Sends the same form to the emulator, as Twilio would receive it, and returns what it billed and answered. */
async function upstream(form: string): Promise<{ billed: number; answer: unknown }> {
  const before = emulator.charges.length;
  const res = await fetch(`${emulator.url}/api${PATH}`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${ACCOUNT.sid}:${ACCOUNT.authToken}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: form,
  });
  const answer = await res.json();
  expect(res.status, JSON.stringify(answer)).toBe(201);
  return { billed: emulator.charges.slice(before).reduce((sum, c) => sum + c.micros, 0), answer };
}

describe('Twilio message reservations against the upstream', () => {
  it('reserves at least what the Twilio emulator bills, what settle reads, and the segments by the rules', async () => {
    await fc.assert(
      fc.asyncProperty(body, to, channel, async (text, number, how) => {
        const params = new URLSearchParams({
          To: how === 'whatsapp' ? `whatsapp:${number}` : number,
          From: how === 'whatsapp' ? 'whatsapp:+14155550199' : '+14155550199',
          Body: text,
        });
        if (how === 'mms') params.append('MediaUrl', 'https://example.com/cat.png');
        const form = params.toString();
        const req = {
          method: 'POST',
          path: PATH,
          query: '',
          subHost: 'api',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        };
        const parsed = twilio.parse(req, Buffer.from(form), limits);
        if (isDenial(parsed)) throw new Error(`parse: ${parsed.reason} ${parsed.message}`);
        const op = twilio.price(req, parsed, KEY);
        if (isDenial(op)) throw new Error(`price: ${op.reason} ${op.message}`);
        expect(op.class).toBe('money');

        const { billed, answer } = await upstream(form);
        expect(op.costMicros, `billed ${billed}`).toBeGreaterThanOrEqual(billed);
        const settled = twilio.settle(op, 201, answer);
        if (settled !== undefined) expect(op.costMicros).toBeGreaterThanOrEqual(settled);

        if (how === 'sms') {
          const segments = segmentsByTheRules(text);
          const numSegments = Number((answer as { num_segments: string }).num_segments);
          expect(numSegments, 'the emulator and the rules count segments alike').toBe(segments);
          const country = number.startsWith('+1613')
            ? 'CA'
            : number.startsWith('+1')
              ? 'US'
              : number.startsWith('+44')
                ? 'GB'
                : number.startsWith('+33')
                  ? 'FR'
                  : 'DE';
          const rate = DEFAULT_TWILIO_PRICES.countries[country]!.smsPerSegment;
          expect(op.costMicros).toBeGreaterThanOrEqual(segments * rate);
        }
      }),
      RUNS,
    );
  });

  it('refuses a body over 1600 characters before pricing it', () => {
    const req = {
      method: 'POST',
      path: PATH,
      query: '',
      subHost: 'api',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    };
    fc.assert(
      fc.property(fc.integer({ min: 1601, max: 5000 }), fc.constantFrom('x', 'ą', '😀'), (n, c) => {
        const text = c.repeat(Math.ceil(n / c.length)).slice(0, n);
        fc.pre(text.length > 1600);
        const form = new URLSearchParams({ To: '+14155550100', From: '+14155550199', Body: text }).toString();
        const parsed = twilio.parse(req, Buffer.from(form), limits);
        const op = isDenial(parsed) ? parsed : twilio.price(req, parsed, KEY);
        expect(op).toMatchObject({ reason: 'body_invalid' });
      }),
      { numRuns: 100 },
    );
  });
});
