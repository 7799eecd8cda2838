import { describe, expect, it } from 'vitest';
import { tokenDigest } from '../tokens/token.ts';
import {
  type ConfigMapApi,
  configMapRevocationStore,
  createRevocationLedger,
  formatEntry,
  parseEntries,
  type RevocationEntry,
  type RevocationStore,
} from './revocations.ts';

const entry = (n: number): RevocationEntry => ({
  digest: tokenDigest(`token-${n}`),
  vaultKey: `agents/key-${n}`,
  at: 1_780_000_000_000 + n,
});

/** ConfigMaps in memory with the API server's resourceVersion compare-and-swap. */
function memoryConfigMaps() {
  const maps = new Map<string, { rv: number; text: string }>();
  let writes = 0;
  /** Called before each write: lets a test change a ConfigMap under the writer. */
  let before: (() => void) | undefined;
  const api: ConfigMapApi = {
    async read(name) {
      const m = maps.get(name);
      return m && { resourceVersion: String(m.rv), text: m.text };
    },
    async create(name, text) {
      before?.();
      writes++;
      if (maps.has(name)) return false;
      maps.set(name, { rv: 1, text });
      return true;
    },
    async replace(name, resourceVersion, text) {
      before?.();
      writes++;
      const m = maps.get(name);
      if (!m || String(m.rv) !== resourceVersion) return false;
      maps.set(name, { rv: m.rv + 1, text });
      return true;
    },
  };
  return {
    api,
    maps,
    writes: () => writes,
    onWrite(f: (() => void) | undefined) {
      before = f;
    },
  };
}

describe('the ledger ConfigMap series', () => {
  it('writes one line per revocation and reads back exactly what it wrote', async () => {
    const cm = memoryConfigMaps();
    const store = configMapRevocationStore(cm.api, { namespace: 'keybrake-system', name: 'rev' });
    await store.append([entry(1), entry(2)]);
    expect(cm.maps.get('rev')!.text).toBe(`${formatEntry(entry(1))}\n${formatEntry(entry(2))}\n`);
    expect(await store.load()).toEqual([entry(1), entry(2)]);
    expect(store.description).toBe('ConfigMap keybrake-system/rev');
  });

  it('stores a digest once, however often it is appended', async () => {
    const cm = memoryConfigMaps();
    const store = configMapRevocationStore(cm.api, { namespace: 'ns', name: 'rev' });
    await store.append([entry(1)]);
    await store.append([entry(1), { ...entry(1), at: 5 }]);
    expect(await store.load()).toEqual([entry(1)]);
  });

  it('starts the next ConfigMap of the series when one is full, and reads them all in order', async () => {
    const cm = memoryConfigMaps();
    const line = `${formatEntry(entry(1))}\n`.length;
    const store = configMapRevocationStore(cm.api, { namespace: 'ns', name: 'rev', shardBytes: line * 2 });
    const entries = [1, 2, 3, 4, 5].map(entry);
    await store.append(entries.slice(0, 3));
    await store.append(entries.slice(3));
    expect([...cm.maps.keys()]).toEqual(['rev', 'rev-2', 'rev-3']);
    expect(await store.load()).toEqual(entries);
  });

  it('loses nothing when another operator writes in between (compare-and-swap, then read again)', async () => {
    const cm = memoryConfigMaps();
    const store = configMapRevocationStore(cm.api, { namespace: 'ns', name: 'rev' });
    const other = configMapRevocationStore(cm.api, { namespace: 'ns', name: 'rev' });
    await store.append([entry(1)]);
    let raced = false;
    cm.onWrite(() => {
      if (raced) return;
      raced = true;
      const m = cm.maps.get('rev')!;
      cm.maps.set('rev', { rv: m.rv + 1, text: `${m.text}${formatEntry(entry(9))}\n` });
    });
    await store.append([entry(2)]);
    cm.onWrite(undefined);
    expect((await other.load()).map((e) => e.vaultKey).sort()).toEqual([
      'agents/key-1',
      'agents/key-2',
      'agents/key-9',
    ]);
  });

  it('skips lines that do not parse instead of failing (an edited ConfigMap must not stop the operator)', () => {
    const good = formatEntry(entry(1));
    expect(parseEntries(`garbage\n${good}\n\nabc 12 agents/x\n${tokenDigest('x')} notanumber a/b\n`)).toEqual(
      [entry(1)],
    );
  });
});

describe('the revocation ledger', () => {
  function fakeStore(initial: RevocationEntry[] = []) {
    const stored = [...initial];
    let failing = false;
    const store: RevocationStore = {
      description: 'memory',
      async load() {
        if (failing) throw new Error('status 403');
        return [...stored];
      },
      async append(entries) {
        if (failing) throw new Error('status 503');
        for (const e of entries) if (!stored.some((s) => s.digest === e.digest)) stored.push(e);
      },
    };
    return { store, stored, fail: (f: boolean) => (failing = f) };
  }

  it('answers for a recorded token at once, before it is stored', () => {
    const ledger = createRevocationLedger(fakeStore().store);
    expect(ledger.record([entry(1)])).toBe(true);
    expect(ledger.revoked(entry(1).digest)).toEqual(entry(1));
    expect(ledger.revoked(entry(2).digest)).toBeUndefined();
    expect({ size: ledger.size, unsaved: ledger.unsaved }).toEqual({ size: 1, unsaved: 1 });
    expect(ledger.record([entry(1)])).toBe(false);
  });

  it('keeps what it could not store and stores it on the next flush', async () => {
    const f = fakeStore();
    const ledger = createRevocationLedger(f.store);
    ledger.record([entry(1)]);
    f.fail(true);
    await expect(ledger.flush()).rejects.toThrow('503');
    expect(ledger.unsaved).toBe(1);
    f.fail(false);
    await ledger.flush();
    expect(ledger.unsaved).toBe(0);
    expect(f.stored).toEqual([entry(1)]);
  });

  it('learns what other operators stored, and says whether that was news', async () => {
    const ledger = createRevocationLedger(fakeStore([entry(1), entry(2)]).store);
    ledger.record([entry(2)]);
    expect(await ledger.load()).toBe(true);
    expect(ledger.revoked(entry(1).digest)?.vaultKey).toBe('agents/key-1');
    expect(await ledger.load()).toBe(false);
  });

  it('stores one batch at a time; a record made during a write goes with the next flush', async () => {
    const f = fakeStore();
    const ledger = createRevocationLedger(f.store);
    ledger.record([entry(1)]);
    const first = ledger.flush();
    ledger.record([entry(2)]);
    await Promise.all([first, ledger.flush()]);
    expect(f.stored.map((e) => e.vaultKey)).toEqual(['agents/key-1', 'agents/key-2']);
    expect(ledger.unsaved).toBe(0);
  });
});
