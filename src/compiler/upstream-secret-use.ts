import { ByNamespace } from '../api/by-namespace.ts';
import type { VaultKey } from '../api/v1alpha1/index.ts';

/** One Secret some key names as its upstreamSecretRef. */
interface Use {
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
   * in any field when the upstream is read from several (Twilio's: `field` undefined).
   */
  tokenKeptBy(namespace: string, name: string, field: string | undefined): string | undefined {
    const tokens = this.#uses.get(namespace, name)?.tokens;
    if (tokens === undefined) return undefined;
    return field === undefined ? tokens.values().next().value : tokens.get(field);
  }

  /**
   * Follows a set whose keys `removed` were replaced by `added` (`keys`: the whole new set). False
   * when a changed key names an upstream Secret as its token Secret, or did: the keys reading that
   * upstream may change too, which only a whole compile finds (the use is then half followed).
   */
  patch(removed: readonly VaultKey[], added: readonly VaultKey[], keys: readonly VaultKey[]): boolean {
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
    for (const k of added) this.#add(k, tokensIn);
    for (const k of [...removed, ...added])
      if (this.#uses.get(k.metadata.namespace!, k.spec.tokenSecretRef.name) !== undefined) return false;
    for (const k of removed) {
      const ns = k.metadata.namespace!;
      const name = k.spec.upstreamSecretRef.name;
      const u = this.#uses.get(ns, name)!;
      if (--u.keys === 0) this.#uses.delete(ns, name);
    }
    return true;
  }

  #add(k: VaultKey, tokensIn: (ns: string, name: string) => Map<string, string>): void {
    const ns = k.metadata.namespace!;
    const name = k.spec.upstreamSecretRef.name;
    const u = this.#uses.get(ns, name);
    if (u !== undefined) u.keys++;
    else this.#uses.set(ns, name, { keys: 1, tokens: tokensIn(ns, name) });
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
