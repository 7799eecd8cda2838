// Eleventh round (probe of the tenth round's namespace ledgers): a tenant's lines naming another
// namespace were copied into that namespace and filled its ledger until it was not served; a
// namespace deleted and created again (or its ConfigMap emptied by a tenant with update, or made
// immutable by one with create) lost its revocations, and the next release served a revoked token.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../telemetry/logger.ts';
import { tokenDigest } from '../tokens/token.ts';
import type { OperatorEvent } from './events.ts';
import {
  createNamespaceLedgerGuard,
  NAMESPACE_LEDGER_MAX_ENTRIES,
  NAMESPACE_LEDGER_READS_PER_ROUND,
} from './guard-namespace-ledgers.ts';
import { createNamespaceLedgers } from './namespace-ledger.ts';
import {
  type ConfigMapApi,
  configMapRevocationStore,
  createRevocationLedger,
  formatEntry,
  type RevocationEntry,
} from './revocations.ts';

const entry = (ns: string, n: number, name = `key-${n}`): RevocationEntry => ({
  digest: tokenDigest(`${ns}-token-${n}`),
  vaultKey: `${ns}/${name}`,
  at: 1_780_000_000_000 + n,
});

/** Each namespace's ConfigMaps in memory, with compare-and-swap, `immutable`, and namespaces that exist. */
function cluster(namespaces: string[]) {
  const exists = new Set(namespaces);
  const maps = new Map<string, { rv: number; text: string; immutable?: boolean }>();
  const gone = () => Object.assign(new Error('namespace not found'), { code: 404 });
  const api = (ns: string): ConfigMapApi => ({
    async read(name) {
      const m = maps.get(`${ns}/${name}`);
      return m && { resourceVersion: String(m.rv), text: m.text, ...(m.immutable && { immutable: true }) };
    },
    async create(name, text) {
      if (!exists.has(ns)) throw gone();
      if (maps.has(`${ns}/${name}`)) return false;
      maps.set(`${ns}/${name}`, { rv: 1, text });
      return true;
    },
    async replace(name, resourceVersion, text) {
      const m = maps.get(`${ns}/${name}`);
      if (m?.immutable) throw Object.assign(new Error('field is immutable'), { code: 422 });
      if (!m || String(m.rv) !== resourceVersion) return false;
      maps.set(`${ns}/${name}`, { rv: m.rv + 1, text });
      return true;
    },
  });
  const text = (ns: string) => maps.get(`${ns}/keybrake-revocations`)?.text ?? '';
  return {
    maps,
    text,
    api,
    /** The namespace deleted (with its ConfigMaps) and, with `again`, created again. */
    deleteNamespace(ns: string, again: boolean) {
      for (const k of [...maps.keys()]) if (k.startsWith(`${ns}/`)) maps.delete(k);
      if (again) exists.add(ns);
      else exists.delete(ns);
    },
  };
}

function setup(namespaces: string[], opts: { maxShards?: number; shardBytes?: number } = {}) {
  const c = cluster(namespaces);
  const ledger = createRevocationLedger({
    description: 'release',
    load: async () => [],
    append: async () => {},
  });
  const ledgers = createNamespaceLedgers({
    storeFor: (namespace) =>
      configMapRevocationStore(c.api(namespace), { namespace, name: 'keybrake-revocations', ...opts }),
    isGone: (err) => (err as { code?: number }).code === 404,
    log: silentLogger(),
  });
  const events: OperatorEvent[] = [];
  const guard = createNamespaceLedgerGuard({
    ledgers,
    ledger,
    record: (entries) => {
      const added = ledger.record(entries);
      ledgers.note(entries);
      return added;
    },
    keysIn: (namespace) => [{ kind: 'VaultKey', namespace, name: 'bot' }],
    recordEvent: async (e) => {
      events.push(e);
    },
    log: silentLogger(),
  });
  return { c, ledger, ledgers, guard, events };
}

describe("a namespace's own revocation ledger, kept by the leader", () => {
  it("takes from a namespace's copy only the entries of that namespace, and writes none elsewhere", async () => {
    const { c, ledger, guard } = setup(['evil', 'victim']);
    const own = entry('evil', 1);
    const foreign = entry('victim', 2);
    c.maps.set('evil/keybrake-revocations', {
      rv: 1,
      text: `${formatEntry(own)}\n${formatEntry(foreign)}\n${tokenDigest('x')} 1 victim/${'a'.repeat(300_000)}\n`,
    });
    expect(await guard.take('evil')).toBe(true);
    expect(ledger.revoked(own.digest)).toEqual(own);
    expect(ledger.revoked(foreign.digest)).toBeUndefined();
    expect(ledger.size).toBe(1);
    await guard.round(['evil', 'victim'], () => true);
    expect(c.text('victim')).toBe('');
    expect(guard.refused('victim')).toBeUndefined();
  });

  it('writes its revocations back into a namespace deleted and created again, and into a copy emptied', async () => {
    const { c, ledger, guard } = setup(['agents']);
    const revoked = entry('agents', 1);
    ledger.record([revoked]);
    await guard.round([], () => false);
    expect(c.text('agents')).toContain(revoked.digest);

    c.deleteNamespace('agents', false);
    await guard.round([], () => false);
    expect(guard.refused('agents')).toBeUndefined();
    c.deleteNamespace('agents', true);
    // No key there yet: the namespaces the release ledger names are kept all the same.
    await guard.round([], () => false);
    expect(c.text('agents')).toContain(revoked.digest);

    // A tenant with update (no delete) empties it.
    c.maps.set('agents/keybrake-revocations', { rv: 9, text: '' });
    await guard.round([], () => false);
    expect(c.text('agents')).toContain(revoked.digest);
  });

  it('records what another release wrote back into a namespace it serves', async () => {
    const { c, ledger, guard } = setup(['agents']);
    expect(await guard.take('agents')).toBe(true);
    const later = entry('agents', 3);
    c.maps.set('agents/keybrake-revocations', { rv: 2, text: `${formatEntry(later)}\n` });
    expect(await guard.round(['agents'], () => true)).toBe(true);
    expect(ledger.revoked(later.digest)).toEqual(later);
  });

  it('does not serve a namespace whose copy is immutable (a tenant with create only), and says so', async () => {
    const { c, ledger, guard, events } = setup(['agents']);
    c.maps.set('agents/keybrake-revocations', { rv: 1, text: '', immutable: true });
    // Read at a take of the claim: not served.
    expect(await guard.take('agents')).toBe(false);
    expect(guard.refused('agents')).toMatch(/immutable/);
    // A revocation there cannot be written: still not served, every round.
    ledger.record([entry('agents', 1)]);
    expect(await guard.round(['agents'], () => true)).toBe(false);
    expect(guard.refused('agents')).toMatch(/immutable/);
    expect(events.map((e) => [e.reason, e.object.name])).toEqual([['NotServed', 'bot']]);
    expect(events[0]!.message).toMatch(/^Not served by this release \(key_unknown\): .*immutable/);
    // An administrator deletes it: written back, served again.
    c.maps.delete('agents/keybrake-revocations');
    expect(await guard.round(['agents'], () => true)).toBe(true);
    expect(guard.refused('agents')).toBeUndefined();
    expect(c.text('agents')).toContain(entry('agents', 1).digest);
  });

  it('does not serve a namespace whose copy is full, and only that one', async () => {
    const line = `${formatEntry(entry('full', 1))}\n`.length;
    const { c, ledger, guard } = setup(['full', 'other'], { maxShards: 2, shardBytes: line });
    c.maps.set('full/keybrake-revocations', { rv: 1, text: `${formatEntry(entry('full', 1))}\n` });
    c.maps.set('full/keybrake-revocations-2', { rv: 1, text: `${formatEntry(entry('full', 2))}\n` });
    // The one after the last is never asked for (RBAC names 16).
    c.maps.set('full/keybrake-revocations-3', { rv: 1, text: 'never read' });
    expect(await guard.take('full')).toBe(true);
    ledger.record([entry('full', 3), entry('other', 4)]);
    await guard.round(['full', 'other'], () => true);
    expect(guard.refused('full')).toMatch(/full \(2 ConfigMaps\)/);
    expect(guard.refused('other')).toBeUndefined();
    expect(c.text('other')).toContain(entry('other', 4).digest);
  });

  it('takes at most NAMESPACE_LEDGER_MAX_ENTRIES entries of a namespace from its copy', async () => {
    const { c, ledger, guard } = setup(['big']);
    const lines: string[] = [];
    for (let i = 0; i <= NAMESPACE_LEDGER_MAX_ENTRIES; i++) lines.push(formatEntry(entry('big', i, 'k')));
    c.maps.set('big/keybrake-revocations', { rv: 1, text: `${lines.join('\n')}\n` });
    expect(await guard.take('big')).toBe(false);
    expect(ledger.size).toBe(0);
    expect(guard.refused('big')).toMatch(/more than the 65536/);
  });

  // A round read every namespace's copy at once: 1 000 tenant namespaces, about 500 reads a second of
  // the API server at the default retry period.
  it('reads at most NAMESPACE_LEDGER_READS_PER_ROUND copies a round, and every copy in turn', async () => {
    const names = Array.from({ length: 100 }, (_, i) => `t${String(i).padStart(3, '0')}`);
    const { c, ledger, guard } = setup(names);
    const reads: string[] = [];
    const read = c.api;
    c.api = (ns) => {
      const api = read(ns);
      return {
        ...api,
        read: (name) => {
          reads.push(ns);
          return api.read(name);
        },
      };
    };
    const revoked = entry('t099', 1);
    ledger.record([revoked]);
    const perRound: number[] = [];
    const seen = new Set<string>();
    for (let round = 0; round < 4; round++) {
      reads.length = 0;
      await guard.round(names, () => true);
      perRound.push(new Set(reads).size);
      for (const ns of reads) seen.add(ns);
    }
    expect(perRound.every((n) => n > 0 && n <= NAMESPACE_LEDGER_READS_PER_ROUND)).toBe(true);
    expect(seen.size).toBe(names.length);
    // Four rounds of 32 cover the hundred, the last namespace's write-back included.
    expect(c.text('t099')).toContain(revoked.digest);
  });
  // Twelfth round: the refused ones were the first 16 in input order every round and left out of the
  // turn, so past 16 refused (a hostile tenant's immutable copies) any other refused once was never
  // read again and stayed unserved after its copy was mended.
  it('reads the refused namespaces in turn too: one mended behind 16 refused is served again', async () => {
    const hostile = Array.from({ length: 16 }, (_, i) => `a-${String(i).padStart(2, '0')}`);
    const others = Array.from({ length: 23 }, (_, i) => `m-${String(i).padStart(2, '0')}`);
    const names = [...hostile, ...others, 'z-victim'];
    const { c, guard } = setup(names);
    const forbidden = new Set([...hostile, 'z-victim']);
    const api = c.api;
    c.api = (ns) => {
      const inner = api(ns);
      return {
        ...inner,
        read: (name) =>
          forbidden.has(ns)
            ? Promise.reject(Object.assign(new Error('forbidden'), { code: 403 }))
            : inner.read(name),
      };
    };
    const refused = () => names.filter((ns) => guard.refused(ns) !== undefined);
    for (let round = 0; round < 50 && refused().length < 17; round++) await guard.round(names, () => true);
    expect(refused()).toEqual([...hostile, 'z-victim']);
    forbidden.delete('z-victim'); // RBAC mended
    let servedAfter: number | undefined;
    for (let round = 1; round <= 50 && servedAfter === undefined; round++) {
      await guard.round(names, () => true);
      if (guard.refused('z-victim') === undefined) servedAfter = round;
    }
    // 17 refused, 16 of them read a round: the victim is read again within two rounds.
    expect(servedAfter).toBeLessThanOrEqual(2);
    expect(refused()).toEqual(hostile);
  });
});
