// The conversation lease (ADR 0007 §5): a Conversations message is priced from the conversation's
// participants, read with the real key, and a participant added meanwhile would be messaged unpriced.
// Two real `keybrake serve` processes share one redis-server; a conversations.twilio.com stand-in
// holds the participants read until the test lets it go (promises, no sleeps). Twilio takes a
// conversation's unique name in place of its SID, so an add by unique name must not slip past the
// lease the message took by SID (sixth round: three adds by `support-room-1` went through and the
// message reached four participants priced for one).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TWILIO_EMULATOR_ACCOUNT } from '../../src/emulators/twilio.ts';
import { newToken } from '../../src/tokens/token.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { type RedisServer, startRedis } from '../env/redis.ts';
import { type HeldConversations, startHeldConversations } from './fixtures/held-conversations.ts';

const { sid: ACCOUNT, authToken: AUTH_TOKEN } = TWILIO_EMULATOR_ACCOUNT;
const CONVERSATION = 'CH00000000000000000000000000000001';
const tokens = { ta: newToken('twilio'), tb: newToken('twilio') };

/** Two keys of one Twilio account (one upstream Secret): they share leases. */
function manifests(): string {
  const key = (name: string, token: string) => `---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: ${name}, namespace: agents }
spec:
  vendor: twilio
  limits: { perCallUsd: "0.10", perDayUsd: "10" }
  # Adding an SMS participant is destructive (eleventh round): it needs an exact entry.
  allow: { endpoints: ["* /v1/**", "POST /v1/Conversations/{ConversationSid}/Participants"] }
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: ${name}, namespace: agents }
spec:
  vendor: twilio
  policyRef: { name: ${name} }
  upstreamSecretRef: { name: twilio-live }
  tokenSecretRef: { name: ${name}-token, key: token }
---
apiVersion: v1
kind: Secret
metadata: { name: ${name}-token, namespace: agents }
stringData: { token: ${token} }
`;
  return `apiVersion: v1
kind: Secret
metadata: { name: twilio-live, namespace: agents }
stringData: { accountSid: ${ACCOUNT}, authToken: ${AUTH_TOKEN} }
${key('ta', tokens.ta)}${key('tb', tokens.tb)}`;
}

describe('a conversation is leased under its SID alone, across two replicas on Redis', () => {
  let redis: RedisServer | undefined;
  let twilio: HeldConversations | undefined;
  let dir: Awaited<ReturnType<typeof manifestDir>> | undefined;
  let proxies: KeybrakeProcess[] = [];

  beforeAll(async () => {
    [redis, twilio, dir] = await Promise.all([
      startRedis(),
      startHeldConversations(),
      manifestDir({ 'keys.yaml': manifests() }),
    ]);
    const args = [
      ...serveArgs(dir.dir, { twilio: `${twilio.url}/{sub}` }),
      '--redis',
      redis.url,
      '--redis-timeout',
      '500',
    ];
    proxies = await Promise.all([startKeybrake(args), startKeybrake(args)]);
  });

  afterAll(async () => {
    await Promise.allSettled(proxies.map((p) => p.stop()));
    await Promise.allSettled([twilio?.close(), redis?.stop(), dir?.remove()]);
  });

  const post = (replica: number, token: string, path: string, form: Record<string, string>) =>
    fetch(`${proxies[replica]!.urls['twilio']}/conversations/v1/Conversations/${path}`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${ACCOUNT}:${token}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams(form).toString(),
    });

  const decision = (res: Response) => res.headers.get('keybrake-decision');

  it('refuses a participant added by unique name while a message by SID holds the lease, unsent', async () => {
    const held = twilio!;
    const message = post(0, tokens.ta, `${CONVERSATION}/Messages`, { Body: 'hello' });
    await held.readArrived;

    const add = (name: string, address: string) =>
      post(1, tokens.tb, `${name}/Participants`, {
        'MessagingBinding.Address': address,
        'MessagingBinding.ProxyAddress': '+14155550999',
      });
    // Control: by SID, the add meets the message's lease.
    const bySid = await add(CONVERSATION, '+14155550002');
    expect(bySid.status).toBe(409);
    expect(decision(bySid)).toBe('deny; reason=object_busy');
    for (const address of ['+14155550003', '+14155550004']) {
      const byName = await add('support-room-1', address);
      expect(byName.status).toBe(400);
      expect(decision(byName)).toBe('deny; reason=path_invalid');
      expect(((await byName.json()) as { message: string }).message).toMatch(/address it by its SID/);
    }
    expect(held.requests.filter((r) => r.startsWith('POST') && r.endsWith('/Participants'))).toEqual([]);

    held.release();
    const sent = await message;
    expect(decision(sent)).toBe('allow; reason=ok');
    expect(held.requests).toEqual([
      `GET /conversations/v1/Conversations/${CONVERSATION}/Participants`,
      // Fourteenth round: the SMS participant's number is looked up among the account's own.
      `GET /api/2010-04-01/Accounts/${ACCOUNT}/IncomingPhoneNumbers.json`,
      `POST /conversations/v1/Conversations/${CONVERSATION}/Messages`,
    ]);
  });
});
