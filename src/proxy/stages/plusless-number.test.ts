import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fixedClock } from '../../clock.ts';
import { MemoryCounterStore } from '../../counters/memory-store.ts';
import { compileValuePattern } from '../../patterns/glob.ts';
import { SnapshotHolder } from '../../snapshot/holder.ts';
import type { CompiledPolicy } from '../../snapshot/types.ts';
import { memoryAuditSink } from '../../telemetry/audit.ts';
import { silentLogger } from '../../telemetry/logger.ts';
import { createProxyMetrics } from '../../telemetry/metrics.ts';
import { createTwilioAdapter } from '../../vendors/twilio/index.ts';
import { createPipeline } from '../pipeline.ts';
import type { Upstreams } from '../upstreams.ts';
import { plusless } from './plusless-number.ts';
import { unknownCountryHint } from './unknown-country.ts';

const TOKEN = 'kb_twilio_plusless_test_token';
const SID = 'AC00000000000000000000000000000001';

/** The real Twilio adapter behind the pipeline, with an upstream that records what reaches it. */
function twilioProxy(policy: Partial<CompiledPolicy>) {
  const clock = fixedClock('2026-12-01T12:00:00Z');
  const snapshots = new SnapshotHolder(clock);
  snapshots.apply({
    version: 1,
    compiledAt: clock.now(),
    keys: new Map([
      [
        createHash('sha256').update(TOKEN).digest('hex'),
        {
          uid: 'agents/k',
          namespace: 'agents',
          name: 'k',
          vendor: 'twilio',
          tokenFingerprint: 'kb_twilio_…oken',
          upstream: { kind: 'basic', username: SID, password: 'real' },
          suspended: false,
          policy: { ref: 'agents/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: true, ...policy },
        },
      ],
    ]),
  });
  const sent: string[] = [];
  const upstreams: Upstreams = {
    forward: async (req) => {
      sent.push(`${req.method} ${req.pathAndQuery}`);
      return { status: 201, headers: {}, body: Buffer.from('{"sid":"SM1"}') };
    },
    close: async () => {},
  };
  const handle = createPipeline({
    snapshots,
    vendors: { twilio: createTwilioAdapter() },
    upstreams,
    counters: new MemoryCounterStore({ clock, sweepIntervalMs: 0 }),
    clock,
    audit: memoryAuditSink(),
    metrics: createProxyMetrics({ snapshotAgeSeconds: () => 0 }),
    log: silentLogger(),
    parseLimits: { maxBytes: 4096, maxDepth: 4, maxParams: 20 },
  });
  const send = async (body: string) => {
    const res = await handle({
      method: 'POST',
      url: `/twilio/2010-04-01/Accounts/${SID}/Messages.json`,
      headers: {
        authorization: `Basic ${Buffer.from(`${SID}:${TOKEN}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: Buffer.from(body),
    });
    return {
      status: res.status,
      decision: res.headers['keybrake-decision'],
      body: JSON.parse(String(res.body)),
    };
  };
  return { send, sent };
}

const hint = (number: string, field: string) =>
  `${number} is not a phone number in E.164 form (a + and the country code), so its country is unknown; a + in a form body reads as a space unless sent as %2B (e.g. curl --data-urlencode '${field}=+${number}').`;

// Eighth round: `curl -d To=+14155550100` (README's curl style) sends a space for the +, and the
// refusal said only "Destination country ZZ is not allowed by this key's policy."
describe('a phone number whose + a form body turned into a space', () => {
  it('is refused by a country list, nothing forwarded, with why and how to send the +', async () => {
    const proxy = twilioProxy({ countries: new Set(['US']) });
    const res = await proxy.send('To=+14155550100&From=%2B14155550199&Body=hi');
    expect(res.status).toBe(403);
    expect(res.decision).toBe('deny; reason=country_not_allowed');
    expect(res.body.message).toContain(
      `Destination country ZZ is not allowed by this key's policy. ${hint('14155550100', 'To')}`,
    );
    expect(proxy.sent).toEqual([]);
  });

  it('is refused by a recipient list with the same hint', async () => {
    const proxy = twilioProxy({ recipients: [compileValuePattern('+1415555*', { caseInsensitive: true })] });
    const res = await proxy.send('To=+14155550100&From=%2B14155550199&Body=hi');
    expect(res.decision).toBe('deny; reason=recipient_not_allowed');
    expect(res.body.message).toContain(hint('14155550100', 'To'));
    expect(proxy.sent).toEqual([]);
  });

  it('as the From number, is refused by a sender list with the hint naming From', async () => {
    const proxy = twilioProxy({ senders: [compileValuePattern('+1415555*', { caseInsensitive: true })] });
    const res = await proxy.send('To=%2B14155550100&From=+14155550199&Body=hi');
    expect(res.decision).toBe('deny; reason=sender_not_allowed');
    expect(res.body.message).toContain(hint('14155550199', 'From'));
    expect(proxy.sent).toEqual([]);
  });

  it('adds nothing to the refusal of a number in E.164 form', async () => {
    const proxy = twilioProxy({ countries: new Set(['CA']) });
    const res = await proxy.send('To=%2B14155550100&From=%2B14155550199&Body=hi');
    expect(res.body.message).toContain("Destination country US is not allowed by this key's policy.");
    expect(res.body.message).not.toContain('E.164');
  });
});

// Ninth round: a number in no country's numbering plan was refused as "Destination country ZZ is not
// allowed by this key's policy." alone.
describe('a number valid in no numbering plan', () => {
  it.each(['%2B15555550100', '%2B447700900123'])(
    'is refused by a country list, nothing forwarded, saying its country cannot be known (%s)',
    async (to) => {
      const proxy = twilioProxy({ countries: new Set(['US']) });
      const res = await proxy.send(`To=${to}&From=%2B14155550199&Body=hi`);
      expect(res.status).toBe(403);
      expect(res.decision).toBe('deny; reason=country_not_allowed');
      expect(res.body.message).toBe(
        "Destination country ZZ is not allowed by this key's policy. A destination is not a valid phone number in any country's numbering plan (such as the fictional +1 555-01xx numbers or the UK's drama ranges), so its country cannot be known (ZZ); a countries list admits it only when it names ZZ.",
      );
      expect(proxy.sent).toEqual([]);
    },
  );
});

describe('unknownCountryHint', () => {
  it('says a destination that is not a phone number has no country', () => {
    expect(unknownCountryHint(['sip:alice@pbx.example.com'])).toMatch(
      /^ A destination that is not a phone number/,
    );
  });

  it('quotes no number of the numbering-plan case', () => {
    expect(unknownCountryHint(['+15555550100'])).not.toMatch(/5555550100/);
  });
});

describe('plusless', () => {
  it.each<[string, string[], string | undefined]>([
    ['finds digits alone', ['+14155550100', '14155550100'], '14155550100'],
    [
      'passes E.164 numbers, addresses and SIP URIs',
      ['+14155550100', 'a@example.com', 'sip:1@x.com'],
      undefined,
    ],
    ['passes an empty list', [], undefined],
  ])('%s', (_, values, expected) => {
    expect(plusless(values)).toBe(expected);
  });
});
