import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Revocation } from '../compiler/compile.ts';

/** One token revoked by `kubectl delete vaultkey`: its SHA-256 digest, never the token. */
export interface RevocationEntry extends Revocation {
  /** tokenDigest(token): lower-case hex SHA-256. */
  readonly digest: string;
}

/**
 * Where the ledger is kept between operator runs and leaders (ConfigMaps in the operator's
 * namespace, or an in-memory fake in tests). Entries are only ever added.
 */
export interface RevocationStore {
  /** Every entry stored so far. Throws when the store cannot be read. */
  load(): Promise<RevocationEntry[]>;
  /** Stores entries not stored yet (idempotent by digest); throws when they could not be stored. */
  append(entries: readonly RevocationEntry[]): Promise<void>;
  /** Where it lives, for logs and readiness messages. */
  readonly description: string;
}

/**
 * The operator's memory of revoked tokens (ADR 0009): fed by VaultKey deletions and by token Secrets
 * whose owning VaultKey is gone, read by the compiler (TokenGuard.revoked) so a revoked token is never
 * served again, whatever is re-applied later. Every replica records what it sees at once (its own
 * compiles refuse the token from then on); only the leader writes the store, and a replica must load
 * the store before it serves as leader.
 */
export interface RevocationLedger {
  revoked(digest: string): Revocation | undefined;
  /** Adds entries in memory at once; true when any was new. They wait for `flush` to be stored. */
  record(entries: readonly RevocationEntry[]): boolean;
  /** Merges the stored entries into memory; true when that added any. Throws when the store cannot be read. */
  load(): Promise<boolean>;
  /** Stores what was recorded and not stored yet; throws (and keeps it) when that fails. */
  flush(): Promise<void>;
  /** Entries known (stored or not) and entries not stored yet. */
  readonly size: number;
  readonly unsaved: number;
  readonly description: string;
  /** Every entry known (stored or not). */
  all(): Iterable<RevocationEntry>;
  /** The entries known of VaultKeys of `namespace` (the namespace part of `vaultKey`). */
  inNamespace(namespace: string): readonly RevocationEntry[];
  /** Every namespace some known entry names. */
  namespaces(): Iterable<string>;
}

export function createRevocationLedger(store: RevocationStore): RevocationLedger {
  const known = new Map<string, RevocationEntry>();
  const unsaved = new Map<string, RevocationEntry>();
  /** Namespace → its entries: what the leader keeps in each namespace's own copy (namespace-ledger.ts). */
  const byNamespace = new Map<string, RevocationEntry[]>();
  const add = (e: RevocationEntry) => {
    known.set(e.digest, e);
    const ns = namespaceOf(e.vaultKey);
    if (ns === undefined) return;
    const list = byNamespace.get(ns);
    if (list) list.push(e);
    else byNamespace.set(ns, [e]);
  };
  let flushing: Promise<void> | undefined;

  const flushOnce = async () => {
    const batch = [...unsaved.values()];
    if (batch.length === 0) return;
    await store.append(batch);
    for (const e of batch) unsaved.delete(e.digest);
  };

  return {
    revoked(digest) {
      return known.get(digest);
    },
    record(entries) {
      let added = false;
      for (const e of entries) {
        if (known.has(e.digest)) continue;
        add(e);
        unsaved.set(e.digest, e);
        added = true;
      }
      return added;
    },
    async load() {
      let added = false;
      for (const e of await store.load()) {
        if (known.has(e.digest)) continue;
        add(e);
        added = true;
      }
      return added;
    },
    async flush() {
      // One write at a time; a record made during a write is stored by the next flush.
      while (flushing) await flushing.catch(() => {});
      flushing = flushOnce();
      try {
        await flushing;
      } finally {
        flushing = undefined;
      }
    },
    get size() {
      return known.size;
    },
    get unsaved() {
      return unsaved.size;
    },
    description: store.description,
    all: () => known.values(),
    inNamespace: (namespace) => byNamespace.get(namespace) ?? [],
    namespaces: () => byNamespace.keys(),
  };
}

/** The data key holding the entries, one per line: `<sha256 hex> <epoch ms> <namespace>/<name>`. */
export const LEDGER_DATA_KEY = 'revoked';
/** Label on every ledger ConfigMap. */
export const LEDGER_LABEL = 'keybrake.dev/revocations';
/**
 * Bytes of entries per ConfigMap (an object is limited to 1 MiB): about 4,000 revocations each; the
 * next ConfigMap of the series (`<name>-2`, `<name>-3`, …) is started when one is full.
 */
export const LEDGER_SHARD_BYTES = 512 * 1024;

const DIGEST = /^[0-9a-f]{64}$/;
/** A namespace (DNS label) and a VaultKey name (DNS subdomain, 253 characters at most). */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** The namespace part of a ledger entry's `<namespace>/<name>`, or undefined when it has none. */
export function namespaceOf(vaultKey: string): string | undefined {
  const slash = vaultKey.indexOf('/');
  return slash > 0 ? vaultKey.slice(0, slash) : undefined;
}

/**
 * Whether `vaultKey` is `<namespace>/<name>` as Kubernetes names them. The operator writes nothing
 * else; a line naming anything else was written by hand (eleventh round: a tenant's 300 KB names
 * filled another namespace's ledger a whole ConfigMap a line), and is skipped.
 */
function isVaultKeyName(vaultKey: string): boolean {
  const ns = namespaceOf(vaultKey);
  if (ns === undefined) return false;
  const name = vaultKey.slice(ns.length + 1);
  return NAMESPACE.test(ns) && name.length <= 253 && NAME.test(name);
}

export function formatEntry(e: RevocationEntry): string {
  return `${e.digest} ${e.at} ${e.vaultKey}`;
}

/** Lines that do not parse are skipped: an edited ConfigMap must not stop the operator. */
export function parseEntries(text: string | undefined): RevocationEntry[] {
  const out: RevocationEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const [digest, at, vaultKey, extra] = line.trim().split(/\s+/);
    if (!digest || !DIGEST.test(digest) || !vaultKey || !Number.isSafeInteger(Number(at))) continue;
    if (extra !== undefined || !isVaultKeyName(vaultKey)) continue;
    out.push({ digest, at: Number(at), vaultKey });
  }
  return out;
}

/**
 * A ledger this operator must not rely on, or cannot add to: a ConfigMap of the series made
 * `immutable` (the operator never makes one; a tenant with only `create` on ConfigMaps can, before
 * the operator writes there: eleventh round), or a series at its last allowed ConfigMap. Unlike an
 * API error it does not pass by retrying (namespace-ledger.ts: the namespace is not served).
 */
export class LedgerRefused extends Error {
  override readonly name = 'LedgerRefused';
}

/** The part of the ConfigMap API the store uses (CoreV1Api, or a fake in unit tests). */
export interface ConfigMapApi {
  /** undefined on 404. `immutable`: the ConfigMap's `immutable` is true. */
  read(name: string): Promise<{ resourceVersion: string; text: string; immutable?: boolean } | undefined>;
  /** false on 409 (exists). */
  create(name: string, text: string): Promise<boolean>;
  /** false on 409 (resourceVersion changed). */
  replace(name: string, resourceVersion: string, text: string): Promise<boolean>;
}

/**
 * The ledger as a series of ConfigMaps `<name>`, `<name>-2`, … in the operator's namespace. Digests
 * of 192-bit random tokens reveal nothing, so a ConfigMap (not a Secret) holds them. Every write is
 * a compare-and-swap on resourceVersion, so two operators writing at once lose nothing.
 */
export function configMapRevocationStore(
  api: ConfigMapApi,
  opts: {
    namespace: string;
    name: string;
    shardBytes?: number;
    /**
     * The ConfigMaps the series may have (a namespace's: the names the chart's RBAC grants): the
     * last is read without asking for the one after, and a series needing one more is refused
     * (LedgerRefused). Absent: no end (the release ledger).
     */
    maxShards?: number;
  },
): RevocationStore {
  const shardBytes = opts.shardBytes ?? LEDGER_SHARD_BYTES;
  const maxShards = opts.maxShards ?? Number.POSITIVE_INFINITY;
  const shardName = (i: number) => (i === 1 ? opts.name : `${opts.name}-${i}`);

  /** Every shard that exists, in order, read now; refused when one is immutable (not the operator's). */
  const readAll = async () => {
    const shards: { name: string; resourceVersion: string; text: string }[] = [];
    for (let i = 1; i <= maxShards; i++) {
      const name = shardName(i);
      const shard = await api.read(name);
      if (!shard) return shards;
      if (shard.immutable)
        throw new LedgerRefused(
          `ConfigMap ${opts.namespace}/${name} is immutable: the operator never makes its ledger so, and cannot add to it`,
        );
      shards.push({ name, resourceVersion: shard.resourceVersion, text: shard.text });
    }
    return shards;
  };

  return {
    description: `ConfigMap ${opts.namespace}/${opts.name}`,
    async load() {
      return (await readAll()).flatMap((s) => parseEntries(s.text));
    },
    async append(entries) {
      // Each round re-reads the series and writes one ConfigMap (the last one, or a new one when it is
      // full); a conflict (another writer) or a full shard just means another round.
      for (let round = 1; ; round++) {
        const shards = await readAll();
        const stored = new Set(shards.flatMap((s) => parseEntries(s.text)).map((e) => e.digest));
        const lines = entries.filter((e) => !stored.has(e.digest)).map((e) => `${formatEntry(e)}\n`);
        if (lines.length === 0) return;
        if (round > 100) throw new Error(`${opts.name}: could not store ${lines.length} revocations`);
        const last = shards.at(-1);
        const fill = (text: string) => {
          for (const line of lines) {
            if (text.length > 0 && text.length + line.length > shardBytes) break;
            text += line;
          }
          return text;
        };
        if (last && last.text.length + lines[0]!.length <= shardBytes)
          await api.replace(last.name, last.resourceVersion, fill(last.text));
        else if (shards.length < maxShards) await api.create(shardName(shards.length + 1), fill(''));
        else
          throw new LedgerRefused(
            `${opts.namespace}/${opts.name}: full (${maxShards} ConfigMaps): ${lines.length} revocations cannot be stored there`,
          );
      }
    },
  };
}

/** ConfigMapApi over CoreV1Api; errors are rethrown with their status code and what was attempted. */
export function kubernetesConfigMapApi(kc: KubeConfig, namespace: string): ConfigMapApi {
  const api = kc.makeApiClient(CoreV1Api);
  const code = (err: unknown) => (err as { code?: number }).code;
  const fail = (what: string, err: unknown): never => {
    const status = code(err);
    const hint =
      status === 404
        ? ` (namespace "${namespace}" does not exist)`
        : status === 403
          ? ` (the operator's Role in "${namespace}" must allow configmaps get, create, update)`
          : '';
    // The status stays on the error: a namespace's own ledger in a deleted namespace is let go (404).
    throw Object.assign(new Error(`${what} failed with status ${status ?? 'unknown'}${hint}`), {
      code: status,
    });
  };
  const body = (name: string, text: string, resourceVersion?: string) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace,
      labels: { [LEDGER_LABEL]: 'true', 'app.kubernetes.io/managed-by': 'keybrake-operator' },
      annotations: {
        'keybrake.dev/description':
          'SHA-256 digests of vault tokens revoked by deleting their VaultKey: never served again (ADR 0009). Do not edit.',
      },
      ...(resourceVersion !== undefined && { resourceVersion }),
    },
    data: { [LEDGER_DATA_KEY]: text },
  });
  return {
    async read(name) {
      try {
        const cm = await api.readNamespacedConfigMap({ namespace, name });
        return {
          resourceVersion: cm.metadata?.resourceVersion ?? '',
          text: cm.data?.[LEDGER_DATA_KEY] ?? '',
          ...(cm.immutable === true && { immutable: true }),
        };
      } catch (err) {
        if (code(err) === 404) return undefined;
        return fail(`reading ConfigMap ${namespace}/${name}`, err);
      }
    },
    async create(name, text) {
      try {
        await api.createNamespacedConfigMap({ namespace, body: body(name, text) });
        return true;
      } catch (err) {
        if (code(err) === 409) return false;
        return fail(`creating ConfigMap ${namespace}/${name}`, err);
      }
    },
    async replace(name, resourceVersion, text) {
      try {
        await api.replaceNamespacedConfigMap({ namespace, name, body: body(name, text, resourceVersion) });
        return true;
      } catch (err) {
        if (code(err) === 409) return false;
        return fail(`writing ConfigMap ${namespace}/${name}`, err);
      }
    },
  };
}
