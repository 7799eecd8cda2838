import { describe, expect, it } from 'vitest';
import type { ObjectStatus } from '../compiler/compile.ts';
import type { KubeObject } from '../sources/kubernetes/reflector.ts';
import { silentLogger } from '../telemetry/logger.ts';
import type { OperatorEvent } from './events.ts';
import type { StatusRef } from './status.ts';
import { createStatusWriter } from './write-status.ts';

const T0 = '2026-06-01T00:00:00Z';
const verdict = (reason: string, ok = reason === 'Active', generation = 2): ObjectStatus => ({
  kind: 'VaultKey',
  namespace: 'agents',
  name: 'bot',
  uid: 'uid-bot',
  generation,
  conditions: [
    {
      type: 'Ready',
      status: ok ? 'True' : 'False',
      reason,
      message: `${reason}.`,
      observedGeneration: generation,
      lastTransitionTime: T0,
    },
  ],
  served: ok,
  ...(ok && { tokenFingerprint: 'kb_stripe_…abcd' }),
});

/** One VaultKey in an informer cache the test updates by hand, and an API that records applies. */
function setup() {
  const cache: { object: KubeObject | undefined } = {
    object: {
      kind: 'VaultKey',
      metadata: { name: 'bot', namespace: 'agents', uid: 'uid-bot', resourceVersion: '10' },
    },
  };
  const applied: { ref: StatusRef; status: Record<string, unknown> }[] = [];
  const events: OperatorEvent[] = [];
  let gone = false;
  const writer = createStatusWriter({
    lookup: () => cache.object,
    apply: async (ref, status) => {
      applied.push({ ref, status });
      return !gone;
    },
    recordEvent: async (e) => {
      events.push(e);
    },
    log: silentLogger(),
  });
  const write = (v: ObjectStatus, proceed = () => true) => writer.write([v], () => ({}), proceed);
  /** The informer delivers a new version of the object. */
  const see = (resourceVersion: string, status?: Record<string, unknown>) => {
    cache.object = { ...cache.object, metadata: { ...cache.object!.metadata, resourceVersion }, status };
  };
  return { writer, write, applied, events, see, cache, goAway: () => (gone = true) };
}

describe('status writer', () => {
  it('applies the owned status of an object that has none', async () => {
    const { write, applied } = setup();
    await write(verdict('Active'));
    expect(applied).toEqual([
      {
        ref: { kind: 'VaultKey', namespace: 'agents', name: 'bot' },
        status: {
          conditions: verdict('Active').conditions,
          observedGeneration: 2,
          tokenFingerprint: 'kb_stripe_…abcd',
        },
      },
    ]);
  });

  it('compares with its own write while the cache still shows the version the write was based on', async () => {
    const { write, applied } = setup();
    await write(verdict('Active'));
    await write(verdict('Active'));
    expect(applied).toHaveLength(1);
  });

  it('compares with the cache once it shows another version, and writes again only if that differs', async () => {
    const { write, applied, see } = setup();
    await write(verdict('Active'));
    see('11', applied[0]!.status);
    await write(verdict('Active'));
    expect(applied).toHaveLength(1);
    // Someone else changed the status: the cache is what is there now, and it is not what we want.
    see('12', { ...applied[0]!.status, tokenFingerprint: 'tampered' });
    await write(verdict('Active'));
    expect(applied).toHaveLength(2);
    expect(applied[1]!.status.tokenFingerprint).toBe('kb_stripe_…abcd');
  });

  it('does not trust its memory for an object deleted and created again under the same name', async () => {
    const { write, applied, cache } = setup();
    await write(verdict('Active'));
    cache.object = { ...cache.object, metadata: { ...cache.object!.metadata, uid: 'uid-bot-2' } };
    await write(verdict('Active'));
    expect(applied).toHaveLength(2);
  });

  it('writes again after forget and reset (deletion, lost leadership)', async () => {
    const { writer, write, applied } = setup();
    await write(verdict('Active'));
    writer.forget({ kind: 'VaultKey', namespace: 'agents', name: 'bot' });
    await write(verdict('Active'));
    writer.reset();
    await write(verdict('Active'));
    expect(applied).toHaveLength(3);
  });

  it('forgets an object the API says is gone', async () => {
    const { write, applied, goAway } = setup();
    goAway();
    await write(verdict('Active'));
    await write(verdict('Active'));
    expect(applied).toHaveLength(2);
  });

  it('records Invalid when Ready turns False for a problem, not for a suspended key', async () => {
    const { write, events } = setup();
    await write(verdict('Suspended', false));
    await write(verdict('PolicyNotFound', false));
    expect(events).toEqual([
      {
        object: { kind: 'VaultKey', namespace: 'agents', name: 'bot', uid: 'uid-bot' },
        type: 'Warning',
        reason: 'Invalid',
        message: 'PolicyNotFound: PolicyNotFound.',
      },
    ]);
  });

  it('writes nothing once it is told to stop (leadership lost)', async () => {
    const { write, applied } = setup();
    await write(verdict('Active'), () => false);
    expect(applied).toEqual([]);
  });

  it('writes nothing for an object the cache does not have', async () => {
    const { write, applied, cache } = setup();
    cache.object = undefined;
    await write(verdict('Active'));
    expect(applied).toEqual([]);
  });
});

describe('status writer over a large table', () => {
  it('gives the event loop a turn during a long run of statuses that need no write', async () => {
    const shown = {
      conditions: verdict('Active').conditions,
      observedGeneration: 2,
      tokenFingerprint: 'kb_stripe_…abcd',
    };
    const writer = createStatusWriter({
      lookup: () => ({
        kind: 'VaultKey',
        metadata: { name: 'bot', uid: 'uid-bot', resourceVersion: '1' },
        status: shown,
      }),
      apply: async () => {
        throw new Error('nothing should be written');
      },
      recordEvent: async () => {},
      log: silentLogger(),
      sliceMs: 0,
    });
    const statuses = Array.from({ length: 5_000 }, () => verdict('Active'));
    let timerRan = false;
    setTimeout(() => {
      timerRan = true;
    }, 0);
    let timerRanBeforeTheEnd = false;
    let seen = 0;
    await writer.write(
      statuses,
      () => {
        if (++seen === statuses.length) timerRanBeforeTheEnd = timerRan;
        return {};
      },
      () => true,
    );
    expect(seen).toBe(statuses.length);
    expect(timerRanBeforeTheEnd).toBe(true);
  });
});
