import type { Log } from '../telemetry/logger.ts';
import { type EventSink, type InvolvedObject, notServedEvent } from './events.ts';
import { isRefusal, type NamespaceLedgers } from './namespace-ledger.ts';
import type { RevocationEntry, RevocationLedger } from './revocations.ts';

/**
 * Entries of one namespace taken into the release ledger from that namespace's own copy: about what
 * its 16 ConfigMaps hold (ADR 0009). Past it the namespace is not served: a tenant writing lines of
 * its own namespace into its copy (fresh digests at each take of the claim) grew the release ledger
 * without end (eleventh round). A deletion seen by the operator is recorded whatever the count.
 */
export const NAMESPACE_LEDGER_MAX_ENTRIES = 65_536;

/**
 * Namespaces whose copy one leader round reads at most (a round each retry period, 2 s by default).
 * Read all at once, a release serving 1 000 tenant namespaces asked the API server about 500 times a
 * second; bounded, a namespace's copy is kept at least every ceil(N / 32) rounds (64 s at 1 000
 * namespaces), refused ones first, the others in turn. At 32 namespaces or fewer every round reads all.
 */
export const NAMESPACE_LEDGER_READS_PER_ROUND = 32;

export interface NamespaceLedgerGuardOptions {
  readonly ledgers: NamespaceLedgers;
  readonly ledger: RevocationLedger;
  /** Records entries in the release ledger (and queues them for their namespaces). */
  readonly record: (entries: readonly RevocationEntry[]) => boolean;
  /** The VaultKeys of a namespace, told by a Warning Event when it stops being served for its ledger. */
  readonly keysIn: (namespace: string) => readonly InvolvedObject[];
  /** Only the leader's Events are recorded. */
  readonly recordEvent: EventSink;
  readonly log: Log;
}

/**
 * Which namespaces the ledger of their own (namespace-ledger.ts) lets this release serve. The copy
 * lives in a ConfigMap of the namespace, which its tenant may rewrite (`update`, `patch`, `delete`,
 * or an `immutable` one made with `create` before the operator's first write) and which goes with the
 * namespace when it is deleted; a release that took the namespace after that served a revoked token
 * (eleventh round, HIGH: deleted and created again, then moved to another release). So the leader,
 * each claim round, reads the copy of every namespace it holds entries of or serves: what this
 * release revoked there and the copy lacks is written back, what the copy holds of that namespace
 * (another release's write-back) is recorded; a copy it cannot trust or write (LedgerRefused, RBAC)
 * keeps the namespace unserved, as a copy it cannot read at a take of the claim does. Only that
 * namespace: entries read from a namespace's copy are taken only for that namespace, and at most
 * NAMESPACE_LEDGER_MAX_ENTRIES of them.
 */
export interface NamespaceLedgerGuard {
  /** Reads a namespace's copy at a take of its claim; true when its entries are in the release ledger. */
  take(namespace: string): Promise<boolean>;
  /**
   * One leader round over `withKeys` (namespaces holding VaultKeys) and every namespace the release
   * ledger names. `served`: whether the release serves a namespace (its copy is recorded then).
   * Resolves true when what is served may change.
   */
  round(withKeys: Iterable<string>, served: (namespace: string) => boolean): Promise<boolean>;
  /** Why the namespace is not served for its ledger, or undefined. */
  refused(namespace: string): string | undefined;
}

export function createNamespaceLedgerGuard(opts: NamespaceLedgerGuardOptions): NamespaceLedgerGuard {
  const { ledgers, ledger, log } = opts;
  /** Namespace → why its ledger keeps it unserved. */
  const refusals = new Map<string, string>();
  /** Namespace → the transient problem last logged (logged again only when it changes). */
  const reported = new Map<string, string>();

  const refuse = (namespace: string, problem: string) => {
    if (refusals.get(namespace) === problem) return;
    const first = !refusals.has(namespace);
    refusals.set(namespace, problem);
    log.error({ namespace, problem }, `namespace ${namespace} is not served: ${problem}`);
    if (first)
      for (const object of opts.keysIn(namespace)) void opts.recordEvent(notServedEvent(object, problem));
  };
  const clear = (namespace: string) => {
    reported.delete(namespace);
    if (!refusals.delete(namespace)) return false;
    log.info(
      { namespace },
      `the revocation ledger of namespace ${namespace} is in order again: it is served`,
    );
    return true;
  };
  const transient = (namespace: string, problem: string) => {
    if (reported.get(namespace) === problem) return;
    reported.set(namespace, problem);
    log.warn({ namespace, problem }, problem);
  };

  /** Records what a namespace's copy holds; false (and refused) past the per-namespace cap. */
  const accept = (namespace: string, entries: readonly RevocationEntry[]): boolean => {
    const fresh = entries.filter((e) => ledger.revoked(e.digest) === undefined);
    const count = ledger.inNamespace(namespace).length + fresh.length;
    if (count > NAMESPACE_LEDGER_MAX_ENTRIES) {
      refuse(
        namespace,
        `its revocation ledger (ConfigMaps keybrake-revocations…) holds ${count} revocations, more than the ${NAMESPACE_LEDGER_MAX_ENTRIES} a namespace may (edited by hand?)`,
      );
      return false;
    }
    opts.record(fresh);
    return true;
  };

  /**
   * The last namespace a round read in turn, of the others and of the refused ones: the next round
   * goes on after it (names sorted).
   */
  let turn = '';
  let refusedTurn = '';
  /**
   * Refused namespaces first (so a mended copy is served again soon), at most half the round, so
   * that many refused ones never starve the others; then the others in turn. The refused ones are
   * taken in turn as well: taking the first 16 every round, a tenant keeping 16 namespaces' copies
   * refused (immutable, say) kept every other refused namespace from ever being read again, so one
   * refused once for a 403 later mended stayed unserved until a restart (twelfth round). Slots the
   * others leave free go to more refused ones.
   */
  const dueThisRound = (namespaces: string[]): string[] => {
    if (namespaces.length <= NAMESPACE_LEDGER_READS_PER_ROUND) return namespaces;
    const refused = namespaces.filter((ns) => refusals.has(ns)).sort();
    const others = namespaces.filter((ns) => !refusals.has(ns)).sort();
    const refusedSlots = Math.max(
      NAMESPACE_LEDGER_READS_PER_ROUND / 2,
      NAMESPACE_LEDGER_READS_PER_ROUND - others.length,
    );
    const due = inTurn(refused, refusedTurn, refusedSlots);
    if (due.length > 0) refusedTurn = due[due.length - 1]!;
    const rest = inTurn(others, turn, NAMESPACE_LEDGER_READS_PER_ROUND - due.length);
    if (rest.length > 0) turn = rest[rest.length - 1]!;
    return [...due, ...rest];
  };

  const failed = (namespace: string, err: unknown, what: string) => {
    const problem = `${what} the revocation ledger of namespace ${namespace}: ${(err as Error).message}`;
    if (isRefusal(err)) refuse(namespace, problem);
    else transient(namespace, `${problem}; retrying`);
  };

  return {
    async take(namespace) {
      try {
        const entries = await ledgers.load(namespace);
        if (!accept(namespace, entries)) return false;
        clear(namespace);
        return true;
      } catch (err) {
        if (isRefusal(err)) failed(namespace, err, 'cannot trust');
        log.error(
          { namespace, error: (err as Error).message },
          `cannot read the revocation ledger of namespace ${namespace}: its VaultKeys are not served until it can be read`,
        );
        return false;
      }
    },
    async round(withKeys, served) {
      let changed = false;
      const due = dueThisRound([...new Set([...withKeys, ...ledger.namespaces()])]);
      await Promise.all(
        due.map(async (ns) => {
          const wasRefused = refusals.has(ns);
          try {
            const { entries, restored, gone } = await ledgers.guard(ns, ledger.inNamespace(ns));
            if (gone) return;
            if (restored > 0)
              log.warn(
                { namespace: ns, restored },
                `the revocation ledger of namespace ${ns} lacked ${restored} revocations this release holds (its ConfigMap deleted or edited, or the namespace created again): written back`,
              );
            if (served(ns) || wasRefused) {
              const before = ledger.size;
              if (!accept(ns, entries)) return;
              if (ledger.size !== before) changed = true;
            }
            if (clear(ns)) changed = true;
          } catch (err) {
            failed(ns, err, 'cannot keep');
            if (!wasRefused && refusals.has(ns)) changed = true;
          }
        }),
      );
      return changed;
    },
    refused: (namespace) => refusals.get(namespace),
  };
}

/** At most `count` of `sorted`, starting after `after` and wrapping round: one turn's share. */
function inTurn(sorted: readonly string[], after: string, count: number): string[] {
  const from = sorted.findIndex((ns) => ns > after);
  const start = from === -1 ? 0 : from;
  const out: string[] = [];
  for (let i = 0; i < sorted.length && out.length < count; i++)
    out.push(sorted[(start + i) % sorted.length]!);
  return out;
}
