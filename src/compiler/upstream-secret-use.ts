import { ByNamespace } from '../api/by-namespace.ts';
import { type Secret, secretValue, type VaultKey } from '../api/v1alpha1/index.ts';

/** One Secret some key names as its upstreamSecretRef. */
interface Use {
  readonly name: string;
  /** How many keys of the set name it as their upstream. */
  keys: number;
  /** Token field → the first key of the set keeping its token there. */
  readonly tokens: Map<string, string>;
}

/**
 * Which Secrets the keys of a set name as their upstream, and which fields of those another key
 * keeps its vault token in (seventh round): a key reading its upstream credential from such a field
 * would send that key's token to the vendor as the real credential. Kept per upstream Secret (a
 * handful in a table of 100 000 keys), not per token Secret (one a key).
 *
 * A key whose tokenSecretRef names its own upstream Secret keeps no token there: it is refused for
 * that (TokenInvalid), and counting it would take every other key of that upstream down with it.
 */
export class UpstreamSecretUse {
  readonly #uses = new ByNamespace<Use>();
  /** Namespace → every value of its upstream Secrets, made when a brought token is first checked. */
  readonly #values = new Map<string, Set<string>>();

  static of(keys: readonly VaultKey[]): UpstreamSecretUse {
    const use = new UpstreamSecretUse();
    for (const k of keys) use.#add(k, () => new Map());
    for (const k of keys) {
      if (ownUpstream(k)) continue;
      const u = use.#uses.get(k.metadata.namespace!, k.spec.tokenSecretRef.name);
      if (u !== undefined && !u.tokens.has(k.spec.tokenSecretRef.key))
        u.tokens.set(k.spec.tokenSecretRef.key, k.metadata.name);
    }
    return use;
  }

  /**
   * The key (of the same namespace) keeping its token in the upstream Secret ns/name, in `field`, or
   * in any field when the upstream is read from several (Twilio's: `field` undefined). `counts`
   * leaves out token fields that keep nothing (eleventh round: a key refused for keeping its token
   * there, whose token is never minted nor served).
   */
  tokenKeptBy(
    namespace: string,
    name: string,
    field: string | undefined,
    counts: (field: string) => boolean = () => true,
  ): string | undefined {
    const tokens = this.#uses.get(namespace, name)?.tokens;
    if (tokens === undefined) return undefined;
    if (field !== undefined) {
      const keeper = tokens.get(field);
      return keeper !== undefined && counts(field) ? keeper : undefined;
    }
    for (const [f, keeper] of tokens) if (counts(f)) return keeper;
    return undefined;
  }

  /**
   * Whether a key of the set names Secret ns/name as its upstream (tenth round): a key keeping its
   * token there hands the agent mounting that Secret a real key, whichever key reads it.
   */
  isUpstream(namespace: string, name: string): boolean {
    return this.#uses.get(namespace, name) !== undefined;
  }

  /**
   * Whether `value` is a value of any field of an upstream Secret of `namespace` (`secrets`: the set's,
   * by namespace): a brought token equal to one is a real credential (a Twilio authToken is 32 hex
   * characters, a shape a token may have). Every field, not only the one a key reads (whatever sits
   * beside a real key is not handed to an agent either), but a field a key keeps its token in: a
   * neighbour naming a token Secret as its upstream must not take that key down.
   */
  holdsValue(namespace: string, value: string, secrets: ByNamespace<Secret>): boolean {
    let values = this.#values.get(namespace);
    if (values === undefined) {
      values = new Set();
      for (const use of this.#uses.in(namespace)) {
        const secret = secrets.get(namespace, use.name);
        for (const field of Object.keys({ ...secret?.data, ...secret?.stringData })) {
          // A field a key keeps its token in holds a token, no real key (and that key's own).
          if (use.tokens.has(field)) continue;
          const v = secret && secretValue(secret, field)?.trim();
          if (v) values.add(v);
        }
      }
      this.#values.set(namespace, values);
    }
    return values.has(value);
  }

  /** Forgets what holdsValue made for `namespace`: one of its upstream Secrets changed. */
  forgetValues(namespace: string): void {
    this.#values.delete(namespace);
  }

  /**
   * Follows a set whose keys `removed` were replaced by `added` (`keys`: the whole new set). False
   * when a changed key names an upstream Secret as its token Secret, or did: the keys reading that
   * upstream may change too, which only a whole compile finds (the use is then half followed); and
   * when a Secret some key keeps its token in becomes an upstream Secret or stops being one (that
   * key is refused for it, or no longer). `changed` gets the namespaces whose upstream Secrets
   * changed (holdsValue answers differently there).
   */
  patch(
    removed: readonly VaultKey[],
    added: readonly VaultKey[],
    keys: readonly VaultKey[],
    changed: Set<string>,
  ): boolean {
    // A Secret no key named as its upstream before: which keys keep a token in it is not known yet.
    // The set's keys are indexed by token Secret once, on the first such Secret, not scanned for each
    // (a patch may add thousands of keys, each with an upstream Secret of its own).
    let byTokenSecret: ByNamespace<VaultKey[]> | undefined;
    const tokensIn = (ns: string, name: string) => {
      byTokenSecret ??= keysByTokenSecret(keys);
      const tokens = new Map<string, string>();
      for (const k of byTokenSecret.get(ns, name) ?? []) {
        const ref = k.spec.tokenSecretRef;
        if (!ownUpstream(k) && !tokens.has(ref.key)) tokens.set(ref.key, k.metadata.name);
      }
      return tokens;
    };
    for (const k of added) {
      const made = this.#add(k, tokensIn);
      if (made === undefined) continue;
      this.forgetValues(k.metadata.namespace!);
      changed.add(k.metadata.namespace!);
      if (made.tokens.size > 0) return false;
    }
    for (const k of [...removed, ...added])
      if (this.#uses.get(k.metadata.namespace!, k.spec.tokenSecretRef.name) !== undefined) return false;
    for (const k of removed) {
      const ns = k.metadata.namespace!;
      const name = k.spec.upstreamSecretRef.name;
      const u = this.#uses.get(ns, name)!;
      if (--u.keys > 0) continue;
      this.#uses.delete(ns, name);
      this.forgetValues(ns);
      changed.add(ns);
      if (u.tokens.size > 0) return false;
    }
    return true;
  }

  /** Counts `k` as a user of its upstream Secret; answers the use when `k` is its first. */
  #add(k: VaultKey, tokensIn: (ns: string, name: string) => Map<string, string>): Use | undefined {
    const ns = k.metadata.namespace!;
    const name = k.spec.upstreamSecretRef.name;
    const u = this.#uses.get(ns, name);
    if (u !== undefined) {
      u.keys++;
      return undefined;
    }
    const made = { name, keys: 1, tokens: tokensIn(ns, name) };
    this.#uses.set(ns, name, made);
    return made;
  }
}

/** The keys of `keys` by the Secret they keep their token in, each list in the set's order. */
function keysByTokenSecret(keys: readonly VaultKey[]): ByNamespace<VaultKey[]> {
  const index = new ByNamespace<VaultKey[]>();
  for (const k of keys) {
    const ns = k.metadata.namespace!;
    const name = k.spec.tokenSecretRef.name;
    const named = index.get(ns, name);
    if (named === undefined) index.set(ns, name, [k]);
    else named.push(k);
  }
  return index;
}

function ownUpstream(k: VaultKey): boolean {
  return k.spec.tokenSecretRef.name === k.spec.upstreamSecretRef.name;
}
