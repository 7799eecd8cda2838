import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/env/wait-for.ts';
import { fakeCollections, obj } from '../../../test/fixtures/kubernetes-api.ts';
import { silentLogger } from '../../telemetry/logger.ts';
import {
  createReflector,
  type Reflector,
  type ReflectorChange,
  WATCH_SILENCE_MARGIN_MS,
  WATCH_TIMEOUT_SECONDS,
} from './reflector.ts';

const PATH = '/apis/keybrake.dev/v1alpha1/vaultkeys';
const stops: Reflector[] = [];
afterEach(async () => {
  while (stops.length > 0) await stops.pop()!.stop();
});

function setup(opts: { watchdogMs?: number; now?: () => number } = {}) {
  const api = fakeCollections();
  const changes: ReflectorChange[] = [];
  const r = createReflector({
    name: 'test',
    path: PATH,
    list: () => api.list(PATH),
    watch: api.watch,
    onChange: (c) => changes.push(c),
    log: silentLogger(),
    backoff: { initialMs: 1, maxMs: 2 },
    ...(opts.watchdogMs !== undefined && { watchdogMs: opts.watchdogMs }),
    ...(opts.now !== undefined && { now: opts.now }),
  });
  stops.push(r);
  const names = () =>
    r
      .items()
      .map((o) => o.metadata?.name)
      .sort();
  const watchCount = (n: number) => waitFor(() => expect(api.watches.length).toBeGreaterThanOrEqual(n));
  return { api, r, changes, names, watchCount };
}

describe('reflector', () => {
  it('lists, then watches from the list resourceVersion and applies events', async () => {
    const { api, r, names, watchCount } = setup();
    api.setItems(PATH, [obj('VaultKey', 'a', 'one', '5')]);
    r.start();
    await r.synced;
    await watchCount(1);
    const w = api.watches[0]!;
    expect(w.query.resourceVersion).toBe('1');
    expect(w.query.allowWatchBookmarks).toBe(true);
    w.send('ADDED', obj('VaultKey', 'a', 'two', '6'));
    w.send('DELETED', obj('VaultKey', 'a', 'one', '7'));
    expect(names()).toEqual(['two']);
    expect(r.get('a', 'two')?.metadata?.resourceVersion).toBe('6');
  });

  // Found by an adversarial probe: a VaultKey held by a finalizer (or by kubectl's own
  // --cascade=foreground) was served until the finalizer went, Ready=True all along.
  it('drops an object the moment it is marked for deletion, whatever finalizers hold it', async () => {
    const { api, r, changes, names, watchCount } = setup();
    const held = (name: string, rv: string) => {
      const o = obj('VaultKey', 'a', name, rv);
      return {
        ...o,
        metadata: { ...o.metadata, deletionTimestamp: '2026-11-30T12:00:00Z', finalizers: ['x/hold'] },
      };
    };
    api.setItems(PATH, [
      obj('VaultKey', 'a', 'one', '5'),
      obj('VaultKey', 'a', 'two', '5'),
      held('three', '5'),
    ]);
    r.start();
    await r.synced;
    expect(names()).toEqual(['one', 'two']);
    await watchCount(1);
    api.watches[0]!.send('MODIFIED', held('one', '6'));
    expect(names()).toEqual(['two']);
    expect(changes.filter((c) => c.type === 'delete').map((c) => c.object.metadata?.name)).toEqual(['one']);
    // The DELETED that follows once the finalizer is gone changes nothing more.
    api.watches[0]!.send('DELETED', obj('VaultKey', 'a', 'one', '7'));
    expect(changes.filter((c) => c.type === 'delete')).toHaveLength(1);
  });

  // Sixteenth round: kept apart, so the operator can write their status (Ready=False, Deleting).
  it('keeps the objects a finalizer holds apart, as last seen, until they are deleted', async () => {
    const { api, r, watchCount } = setup();
    const held = (name: string, rv: string) => {
      const o = obj('VaultKey', 'a', name, rv);
      return { ...o, metadata: { ...o.metadata, deletionTimestamp: '2026-11-30T12:00:00Z' } };
    };
    api.setItems(PATH, [obj('VaultKey', 'a', 'one', '5'), held('three', '5')]);
    r.start();
    await r.synced;
    const marked = () => r.terminating().map((o) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`);
    expect(marked()).toEqual(['three@5']);
    await watchCount(1);
    const w = api.watches[0]!;
    w.send('MODIFIED', held('one', '6'));
    w.send('MODIFIED', held('one', '7'));
    expect(marked().sort()).toEqual(['one@7', 'three@5']);
    expect(r.getTerminating('a', 'one')?.metadata?.resourceVersion).toBe('7');
    expect(r.get('a', 'one')).toBeUndefined();
    w.send('DELETED', held('three', '8'));
    expect(marked()).toEqual(['one@7']);
    // A new object of that name: the held one is gone.
    w.send('ADDED', obj('VaultKey', 'a', 'one', '9'));
    expect(marked()).toEqual([]);
    expect(r.get('a', 'one')?.metadata?.resourceVersion).toBe('9');
  });

  it('relists at once after 410 Gone and reports what vanished meanwhile as deleted', async () => {
    const { api, r, changes, names, watchCount } = setup();
    api.setItems(PATH, [obj('VaultKey', 'a', 'one', '5'), obj('VaultKey', 'a', 'two', '5')]);
    r.start();
    await watchCount(1);
    api.setItems(PATH, [obj('VaultKey', 'a', 'two', '5')]);
    api.watches[0]!.send('ERROR', { kind: 'Status', code: 410 } as never);
    api.watches[0]!.end();
    await watchCount(2);
    expect(api.lists).toHaveLength(2);
    expect(names()).toEqual(['two']);
    expect(changes.filter((c) => c.type === 'delete').map((c) => c.object.metadata?.name)).toEqual(['one']);
  });

  it.each([
    ['a network error', Object.assign(new Error('socket hang up'), {})],
    ['a 500 from the server', Object.assign(new Error('Internal Server Error'), { statusCode: 500 })],
  ])('restarts (with a fresh list) after %s, where the client-node informer would stop', async (_n, err) => {
    const { api, r, watchCount } = setup();
    r.start();
    await watchCount(1);
    api.watches[0]!.end(err);
    await watchCount(2);
    expect(api.lists).toHaveLength(2);
  });

  it('keeps retrying while the list itself fails', async () => {
    const { api, r } = setup();
    api.failNextLists(3);
    r.start();
    await r.synced;
    expect(api.lists).toHaveLength(4);
  });

  it('resumes from the last resourceVersion after an idle timeout, without relisting', async () => {
    const { api, r, watchCount } = setup();
    r.start();
    await watchCount(1);
    api.watches[0]!.send('BOOKMARK', { kind: 'VaultKey', metadata: { resourceVersion: '42' } });
    api.watches[0]!.end(Object.assign(new Error('timeout'), { name: 'TimeoutError' }));
    await watchCount(2);
    expect(api.lists).toHaveLength(1);
    expect(api.watches[1]!.query.resourceVersion).toBe('42');
  });

  it('tears down a watch that went silent (watchdog) and starts over', async () => {
    const { api, r, watchCount } = setup({ watchdogMs: 20 });
    r.start();
    await watchCount(2);
    expect(api.watches[0]!.aborted).toBe(true);
  });

  it('ignores an event whose resourceVersion it already has', async () => {
    const { api, r, changes, watchCount } = setup();
    r.start();
    await watchCount(1);
    api.watches[0]!.send('ADDED', obj('VaultKey', 'a', 'one', '9'));
    api.watches[0]!.send('MODIFIED', obj('VaultKey', 'a', 'one', '9'));
    expect(changes).toHaveLength(1);
  });

  // Eighth round: with the operator's ClusterRole narrowed, the VaultKey watch that ended was refused
  // (403) on every restart, and the operator went on vouching for its table: a deleted key stayed in
  // force on every proxy. How current the cache is decides what the operator may vouch for.
  describe('health', () => {
    const FORBIDDEN = Object.assign(new Error('Forbidden'), { statusCode: 403 });

    it('is current once listed and watching, and known current only up to the end of a watch whose restarts are refused', async () => {
      let now = 1_000;
      const { api, r, watchCount } = setup({ now: () => now });
      expect(r.health()).toEqual({ current: false, since: undefined });
      r.start();
      await watchCount(1);
      expect(r.health()).toEqual({ current: true });
      now = 2_000;
      api.refuseWatches(FORBIDDEN);
      // The server ends it (its timeoutSeconds): current up to then.
      api.watches[0]!.end();
      await watchCount(3);
      now = 60_000;
      await watchCount(5);
      expect(r.health()).toEqual({ current: false, since: 2_000, error: '403: Forbidden' });
    });

    it('is current again once a relist and a watch succeed after the failures', async () => {
      let now = 1_000;
      const { api, r, watchCount } = setup({ now: () => now });
      r.start();
      await watchCount(1);
      api.refuseWatches(FORBIDDEN);
      api.watches[0]!.end();
      await watchCount(3);
      now = 9_000;
      const lists = api.lists.length;
      api.refuseWatches(undefined);
      await waitFor(() => expect(r.health()).toEqual({ current: true }));
      expect(api.lists.length).toBeGreaterThan(lists);
    });

    // Eighth round: an established watch whose connection went silent (no RST) counted as current
    // until a 120 s watchdog; the proxies' tables stayed fresh for that long.
    it('asks for a watch timeout well under the proxies’ 30 s staleness, with bookmarks', async () => {
      const { api, r, watchCount } = setup();
      r.start();
      await watchCount(1);
      const { timeoutSeconds, allowWatchBookmarks } = api.watches[0]!.query;
      expect(allowWatchBookmarks).toBe(true);
      expect(timeoutSeconds).toBeGreaterThanOrEqual(WATCH_TIMEOUT_SECONDS);
      expect(Number(timeoutSeconds) * 1000 + WATCH_SILENCE_MARGIN_MS).toBeLessThan(30_000);
    });

    it('is known current only up to the last event of a watch that went silent past its timeout', async () => {
      let now = 1_000;
      const { api, r, watchCount } = setup({ now: () => now, watchdogMs: 50 });
      r.start();
      await watchCount(1);
      now = 5_000;
      api.watches[0]!.send('BOOKMARK', { kind: 'VaultKey', metadata: { resourceVersion: '7' } });
      expect(r.health()).toEqual({ current: true });
      // Nothing more arrives; the relist after the teardown fails too (the API server is away).
      now = 60_000;
      api.failNextLists(1_000_000);
      await waitFor(() => expect(api.watches[0]!.aborted).toBe(true));
      await waitFor(() => expect(api.lists.length).toBeGreaterThan(1));
      expect(r.health()).toMatchObject({ current: false, since: 5_000 });
    });

    it('is known current only up to the last event when client-node’s inactivity timeout ends the watch', async () => {
      let now = 1_000;
      const { api, r, watchCount } = setup({ now: () => now });
      r.start();
      await watchCount(1);
      // The API server is away: the restarts and relists after it fail.
      api.refuseWatches(FORBIDDEN);
      api.failNextLists(1_000_000);
      now = 31_000;
      api.watches[0]!.end(Object.assign(new Error('timeout'), { name: 'TimeoutError' }));
      await waitFor(() => expect(api.lists.length).toBeGreaterThan(1));
      expect(r.health()).toMatchObject({ current: false, since: 1_000 });
    });

    // Ninth round: a watch reset (or cut short, "terminated") after its connection had gone silent
    // was dated to the reset, so the lapse and the informer lag metric lost the silent 14 s.
    it.each([
      ['a reset', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
      ['a body cut short', new TypeError('terminated')],
    ])(
      'is known current only up to the last event when %s ends the watch after a silence',
      async (_n, err) => {
        let now = 1_000;
        const { api, r, watchCount } = setup({ now: () => now });
        r.start();
        await watchCount(1);
        now = 4_000;
        api.watches[0]!.send('BOOKMARK', { kind: 'VaultKey', metadata: { resourceVersion: '7' } });
        // The API server is away: the restarts and relists after it fail.
        api.refuseWatches(FORBIDDEN);
        api.failNextLists(1_000_000);
        now = 18_000;
        api.watches[0]!.end(err);
        await waitFor(() => expect(api.lists.length).toBeGreaterThan(1));
        expect(r.health()).toMatchObject({ current: false, since: 4_000 });
      },
    );

    it('counts a failing first list as never current', async () => {
      const { api, r } = setup({ now: () => 5_000 });
      api.failNextLists(1_000_000);
      r.start();
      await waitFor(() => expect(api.lists.length).toBeGreaterThan(2));
      expect(r.health()).toMatchObject({
        current: false,
        since: undefined,
        error: expect.stringContaining('503'),
      });
    });
  });
});
