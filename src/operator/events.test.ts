import { describe, expect, it } from 'vitest';
import {
  capReachedEvent,
  invalidEvent,
  leaderOnly,
  type OperatorEvent,
  revokedEvent,
  tokenMintedEvent,
} from './events.ts';

const key = { kind: 'VaultKey' as const, namespace: 'agents', name: 'bot', uid: 'uid-bot' };

describe('operator events', () => {
  it.each([
    [
      'Revoked names the snapshot version from which the token is refused',
      revokedEvent(key, 42),
      'Normal',
      'VaultKey deleted: its token is refused by every proxy from snapshot version 42 on.',
    ],
    [
      'TokenMinted names the Secret and the fingerprint, never the token',
      tokenMintedEvent(key, { name: 'bot-token', key: 'token' }, 'kb_stripe_…abcd'),
      'Normal',
      'Minted a vault token (kb_stripe_…abcd) into Secret bot-token, key token.',
    ],
    [
      'Invalid carries the Ready reason and message',
      invalidEvent(key, { reason: 'PolicyNotFound', message: 'SpendPolicy agents/p does not exist.' }),
      'Warning',
      'PolicyNotFound: SpendPolicy agents/p does not exist.',
    ],
    [
      'CapReached says what was spent, the cap and when it resets',
      capReachedEvent(key, { usedUsd: '10.00', capUsd: '10.00', timezone: 'Europe/Paris' }),
      'Warning',
      'Spent 10.00 USD today, the daily cap of 10.00 USD: money-moving calls are refused until the day ends (Europe/Paris).',
    ],
  ])('%s', (_name, event, type, message) => {
    expect(event).toMatchObject({ object: key, type, message });
  });

  it('records nothing while this replica is not the leader', async () => {
    const recorded: OperatorEvent[] = [];
    let leading = false;
    const sink = leaderOnly(
      async (e) => {
        recorded.push(e);
      },
      () => leading,
    );
    await sink(revokedEvent(key, 1));
    leading = true;
    await sink(revokedEvent(key, 2));
    expect(recorded.map((e) => e.message)).toEqual([revokedEvent(key, 2).message]);
  });
});
