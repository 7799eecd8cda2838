import { describe, expect, it, vi } from 'vitest';
import { waitFor } from '../../test/env/wait-for.ts';
import type { Log } from '../telemetry/logger.ts';
import { createLeaderLabel, type PodLabelPatcher, resolvePodRef } from './leader-label.ts';

type Value = 'true' | 'false';

/** A Pod label in memory; `hold()` keeps the next patches pending until `release()`. */
function fakePod() {
  const calls: Value[] = [];
  let label: Value | undefined;
  let gate: Promise<void> | undefined;
  let open = () => {};
  let failures = 0;
  const patch: PodLabelPatcher = async (value, signal) => {
    calls.push(value);
    if (gate) {
      const g = gate;
      await new Promise<void>((resolve, reject) => {
        g.then(resolve);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    }
    if (failures > 0) {
      failures--;
      throw new Error('pods "op-0" is forbidden');
    }
    label = value;
  };
  return {
    patch,
    calls,
    label: () => label,
    hold() {
      gate = new Promise((resolve) => {
        open = resolve;
      });
    },
    release() {
      gate = undefined;
      open();
    },
    failNext(n: number) {
      failures = n;
    },
  };
}

function fakeLog() {
  const warn = vi.fn();
  const info = vi.fn();
  return { log: { warn, info } as unknown as Log, warn, info };
}

describe('createLeaderLabel', () => {
  it('writes false at start, true on leading and false when leadership is lost', async () => {
    const pod = fakePod();
    const { log } = fakeLog();
    const label = createLeaderLabel({ patch: pod.patch, log, pod: 'ns/op-0' });
    await label.settled();
    expect(pod.label()).toBe('false');
    label.set(true);
    await label.settled();
    expect(pod.label()).toBe('true');
    label.set(false);
    await label.settled();
    expect(pod.label()).toBe('false');
    expect(pod.calls).toEqual(['false', 'true', 'false']);
    await label.close();
  });

  it('writes one at a time and skips values overtaken while a write was in flight', async () => {
    const pod = fakePod();
    pod.hold();
    const label = createLeaderLabel({ patch: pod.patch, log: fakeLog().log, pod: 'ns/op-0' });
    label.set(true);
    label.set(false);
    label.set(true);
    expect(pod.calls).toEqual(['false']);
    pod.release();
    await label.settled();
    expect(pod.calls).toEqual(['false', 'true']);
    expect(pod.label()).toBe('true');
    await label.close();
  });

  it('retries a failed write with backoff and logs the failure streak once', async () => {
    const pod = fakePod();
    pod.failNext(3);
    const { log, warn } = fakeLog();
    const label = createLeaderLabel({
      patch: pod.patch,
      log,
      pod: 'ns/op-0',
      backoff: { initialMs: 1, maxMs: 4 },
    });
    label.set(true);
    await label.settled();
    expect(pod.label()).toBe('true');
    expect(pod.calls.length).toBeGreaterThanOrEqual(4);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[0]).toMatchObject({ pod: 'ns/op-0', error: 'pods "op-0" is forbidden' });
    await label.close();
  });

  it('sets false on close', async () => {
    const pod = fakePod();
    const label = createLeaderLabel({ patch: pod.patch, log: fakeLog().log, pod: 'ns/op-0' });
    label.set(true);
    await label.settled();
    await label.close();
    expect(pod.label()).toBe('false');
    expect(pod.calls.at(-1)).toBe('false');
  });

  it('gives up on close after its timeout, aborting the hanging request, and writes nothing more', async () => {
    const pod = fakePod();
    pod.hold();
    const label = createLeaderLabel({ patch: pod.patch, log: fakeLog().log, pod: 'ns/op-0' });
    await label.close(20);
    expect(pod.label()).toBeUndefined();
    pod.release();
    label.set(true);
    await label.settled();
    expect(pod.calls).toEqual(['false']);
  });

  it('aborts a request that exceeds the request timeout and retries it', async () => {
    const pod = fakePod();
    pod.hold();
    const label = createLeaderLabel({
      patch: pod.patch,
      log: fakeLog().log,
      pod: 'ns/op-0',
      requestTimeoutMs: 10,
      backoff: { initialMs: 1, maxMs: 10_000 },
    });
    await waitFor(() => expect(pod.calls.length).toBeGreaterThanOrEqual(2));
    pod.release();
    await label.settled();
    expect(pod.label()).toBe('false');
    await label.close();
  });
});

describe('resolvePodRef', () => {
  it.each([
    ['flags win over the environment', { podName: 'a', podNamespace: 'x' }, { POD_NAME: 'b' }, 'x/a'],
    ['POD_NAME and POD_NAMESPACE stand in for the flags', {}, { POD_NAME: 'b', POD_NAMESPACE: 'y' }, 'y/b'],
    ['the namespace falls back to the Lease namespace', { podName: 'a' }, {}, 'lease-ns/a'],
    ['no pod name means no label (local runs)', { podNamespace: 'x' }, { POD_NAMESPACE: 'y' }, undefined],
  ])('%s', (_name, flags, env, expected) => {
    const ref = resolvePodRef(flags, env, 'lease-ns');
    expect(ref && `${ref.namespace}/${ref.name}`).toBe(expected);
  });
});
