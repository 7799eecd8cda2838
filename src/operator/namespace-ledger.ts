import type { Log } from '../telemetry/logger.ts';
import type { RevocationEntry, RevocationStore } from './revocations.ts';

/**
 * The revocations of a namespace's VaultKeys, kept also in that namespace (ConfigMap
 * `keybrake-revocations`, digests only), next to its claim Lease. Each release keeps its own ledger in
 * its own namespace (ADR 0009), so a namespace moving to another release (the first uninstalled, or
 * its scope narrowed) left its revocations behind and a deleted key's token passed again there
 * (tenth round, HIGH). Every release now writes what it revokes into the key's namespace, and reads a
 * namespace's ledger into its own before it serves that namespace's keys.
 */
export const NAMESPACE_LEDGER_NAME = 'keybrake-revocations';

export interface NamespaceLedgers {
  /** Queues entries for their namespaces' ledgers (the namespace part of `vaultKey`). */
  note(entries: Iterable<RevocationEntry>): void;
  /** Writes what was queued (the leader only); throws, keeping what failed, when a write fails. */
  flush(): Promise<void>;
  /** Entries queued and not written yet. */
  readonly unsaved: number;
  /** Reads one namespace's ledger; throws when it cannot be read. */
  load(namespace: string): Promise<RevocationEntry[]>;
}

export interface NamespaceLedgersOptions {
  readonly storeFor: (namespace: string) => RevocationStore;
  /** True for an error saying the namespace does not exist: nothing of it is served, nothing to write. */
  readonly isGone?: (err: unknown) => boolean;
  readonly log: Log;
}

export function namespaceOf(entry: RevocationEntry): string | undefined {
  const slash = entry.vaultKey.indexOf('/');
  return slash > 0 ? entry.vaultKey.slice(0, slash) : undefined;
}

export function createNamespaceLedgers(opts: NamespaceLedgersOptions): NamespaceLedgers {
  const stores = new Map<string, RevocationStore>();
  const storeFor = (ns: string) => {
    const store = stores.get(ns) ?? opts.storeFor(ns);
    stores.set(ns, store);
    return store;
  };
  const pending = new Map<string, Map<string, RevocationEntry>>();
  let flushing: Promise<void> | undefined;

  const flushOnce = async () => {
    const failures: string[] = [];
    for (const [ns, entries] of [...pending]) {
      const batch = [...entries.values()];
      try {
        await storeFor(ns).append(batch);
      } catch (err) {
        if (!opts.isGone?.(err)) {
          failures.push(`${ns}: ${(err as Error).message}`);
          continue;
        }
        opts.log.info(
          { namespace: ns, revoked: batch.length },
          'namespace gone: its revocations stay in the release ledger only',
        );
      }
      for (const e of batch) entries.delete(e.digest);
      if (entries.size === 0) pending.delete(ns);
    }
    if (failures.length > 0)
      throw new Error(`could not store revocations in their namespaces (${failures.join('; ')})`);
  };

  return {
    note(entries) {
      for (const e of entries) {
        const ns = namespaceOf(e);
        if (ns === undefined) continue;
        const m = pending.get(ns) ?? new Map<string, RevocationEntry>();
        pending.set(ns, m);
        m.set(e.digest, e);
      }
    },
    async flush() {
      while (flushing) await flushing.catch(() => {});
      flushing = flushOnce();
      try {
        await flushing;
      } finally {
        flushing = undefined;
      }
    },
    get unsaved() {
      let n = 0;
      for (const m of pending.values()) n += m.size;
      return n;
    },
    load: (namespace) => storeFor(namespace).load(),
  };
}
