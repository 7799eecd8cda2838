import type { Log } from '../telemetry/logger.ts';
import { LedgerRefused, namespaceOf, type RevocationEntry, type RevocationStore } from './revocations.ts';

/**
 * The revocations of a namespace's VaultKeys, kept also in that namespace (ConfigMap
 * `keybrake-revocations`, digests only), next to its claim Lease. Each release keeps its own ledger in
 * its own namespace (ADR 0009), so a namespace moving to another release (the first uninstalled, or
 * its scope narrowed) left its revocations behind and a deleted key's token passed again there
 * (tenth round, HIGH). Every release now writes what it revokes into the key's namespace, and reads a
 * namespace's ledger into its own before it serves that namespace's keys.
 */
export const NAMESPACE_LEDGER_NAME = 'keybrake-revocations';
/** The ConfigMaps of a namespace's series the chart's RBAC names: `keybrake-revocations`, `-2` … `-16`. */
export const NAMESPACE_LEDGER_MAX_SHARDS = 16;

export interface NamespaceLedgers {
  /** Queues entries for their namespaces' ledgers (the namespace part of `vaultKey`). */
  note(entries: Iterable<RevocationEntry>): void;
  /** Writes what was queued (the leader only); throws, keeping what failed, when a write fails. */
  flush(): Promise<void>;
  /** Entries queued and not written yet. */
  readonly unsaved: number;
  /**
   * Reads one namespace's ledger: its entries naming a VaultKey of that namespace, and no other
   * (eleventh round: a tenant's lines naming another namespace were copied into that one). Throws
   * when it cannot be read, or is not the operator's to trust (LedgerRefused).
   */
  load(namespace: string): Promise<RevocationEntry[]>;
  /**
   * Reads one namespace's ledger and writes into it those of `held` it lacks (deleted, emptied, or
   * the namespace deleted and created again: eleventh round). Answers what it held (as `load`), how
   * many were written back, and `gone` when the namespace does not exist (nothing of it is served).
   * Throws when it cannot be read or written.
   */
  guard(
    namespace: string,
    held: readonly RevocationEntry[],
  ): Promise<{ entries: RevocationEntry[]; restored: number; gone?: true }>;
}

/**
 * Whether an error of `load`, `guard` or `flush` is a refusal that retrying does not mend: the
 * ledger is not the operator's to trust (LedgerRefused: immutable, full) or the API server refused
 * the request itself (RBAC 403, an immutable ConfigMap's 422). A namespace whose ledger is refused is
 * not served; an API server down (5xx, no answer), a conflict or a throttle is retried.
 */
export function isRefusal(err: unknown): boolean {
  if (err instanceof LedgerRefused) return true;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' && code >= 400 && code < 500 && ![404, 408, 409, 429].includes(code);
}

export interface NamespaceLedgersOptions {
  readonly storeFor: (namespace: string) => RevocationStore;
  /** True for an error saying the namespace does not exist: nothing of it is served, nothing to write. */
  readonly isGone?: (err: unknown) => boolean;
  readonly log: Log;
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
        if (opts.isGone?.(err))
          opts.log.info(
            { namespace: ns, revoked: batch.length },
            'namespace gone: its revocations stay in the release ledger, and are written there again if it is created again',
          );
        // Refused (immutable, full, RBAC): retrying each pass mends nothing. The leader's claim
        // rounds write the release ledger's entries back (guard) and keep the namespace unserved.
        else if (!isRefusal(err)) {
          failures.push(`${ns}: ${(err as Error).message}`);
          continue;
        }
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
        const ns = namespaceOf(e.vaultKey);
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
    load,
    async guard(namespace, held) {
      const entries = await load(namespace);
      const there = new Set(entries.map((e) => e.digest));
      const missing = held.filter((e) => !there.has(e.digest) && namespaceOf(e.vaultKey) === namespace);
      if (missing.length > 0)
        try {
          await storeFor(namespace).append(missing);
        } catch (err) {
          if (opts.isGone?.(err)) return { entries, restored: 0, gone: true };
          throw err;
        }
      return { entries, restored: missing.length };
    },
  };

  async function load(namespace: string): Promise<RevocationEntry[]> {
    return (await storeFor(namespace).load()).filter((e) => namespaceOf(e.vaultKey) === namespace);
  }
}
