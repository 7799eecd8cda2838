import { ByNamespace } from '../api/by-namespace.ts';
import type { ManifestOrigin, ResourceSet, ResourceSetUpdate } from '../api/resource-set.ts';
import { type Secret, type SpendPolicy, secretValue, type VaultKey } from '../api/v1alpha1/index.ts';
import { readUpstreamCredential } from './upstream.ts';

/** What a refused change revokes anyway: the set in force with only that applied, and what it was. */
export interface Revocations {
  readonly set: ResourceSet;
  /** One line per change, e.g. `VaultKey agents/bot deleted`, `token of VaultKey agents/bot replaced`. */
  readonly revoked: readonly string[];
  /**
   * What the change would revoke but a file read with an error holds back at its version in force,
   * one line each, e.g. `VaultKey agents/bot (team-b.yaml)`, `token of VaultKey agents/bot`: the log
   * says so, or an operator sees a deletion or rotation silently not applied (tenth round).
   */
  readonly held: readonly string[];
}

/**
 * The revocations of a change refused for its errors (runner, ADR 0015): the set in force, less
 * every VaultKey, SpendPolicy and Secret the change no longer holds, with every VaultKey it holds
 * suspended suspended, every VaultKey and SpendPolicy it gives an earlier expiry (or a first one)
 * that expiry, and
 * without every VaultKey whose token or upstream credential it replaces. Each can only refuse more,
 * so an error in one tenant's file must not keep another's deleted key, or leaked token, served. A
 * resource gone from a file the change read with an error keeps its version in force (the error
 * may be what hides it): a typo must not take a file's keys down; but a VaultKey whose own document
 * the change holds invalid is taken out (what it now says cannot be read: fail closed), and what a
 * valid document says counts wherever its file has an error. Every other difference (new keys, edited
 * limits, a later expiry, a key no longer suspended, the replacing credential itself) waits for a
 * change without errors.
 * Undefined when there is nothing to revoke, or when either update does not say where its
 * resources came from (only the file source does).
 */
export function revocationsOf(inForce: ResourceSetUpdate, next: ResourceSetUpdate): Revocations | undefined {
  const was = inForce.origin;
  const now = next.origin;
  if (!was || !now) return undefined;
  const revoked: string[] = [];
  const held: string[] = [];
  // VaultKeys whose own document the change holds, invalid (fifteenth round, probe newuser finding
  // 1): what the document now says cannot be read (`suspended: "true"`, a suspension written with a
  // date-only expiry or a misspelt field beside it), so the key is not served until it is fixed
  // (fail closed; `kubectl apply` is refused at once instead). Kept at its version in force, an emergency
  // suspension written with a mistake left the key spending. An invalid SpendPolicy still keeps its
  // version in force: it serves many keys, and a typo in it must not take them all down; but an
  // earlier expiry it writes validly is applied.
  const invalidKeys = new ByNamespace<true>();
  // An invalid SpendPolicy's own expiry, when that field is valid (RejectedObject.expiresAt): applied
  // as a valid definition's would be, since it can only refuse more.
  const invalidPolicyExpiry = new ByNamespace<{ spec: { expiresAt: string } }>();
  for (const r of next.set.rejected) {
    if (r.kind === 'VaultKey') invalidKeys.set(r.namespace, r.name, true);
    else if (r.expiresAt !== undefined)
      invalidPolicyExpiry.set(r.namespace, r.name, { spec: { expiresAt: r.expiresAt } });
  }
  /**
   * The resources in force the change still holds, and those it no longer holds of files it read
   * with an error; never a VaultKey of which it holds an invalid document.
   */
  const kept = <T extends { metadata: { namespace?: string; name: string } }>(
    kind: 'VaultKey' | 'SpendPolicy' | 'Secret',
    before: readonly T[],
    after: readonly T[],
  ): T[] => {
    const still = new ByNamespace<T>();
    for (const r of after) still.set(r.metadata.namespace!, r.metadata.name, r);
    const out: T[] = [];
    for (const r of before) {
      const { namespace, name } = r.metadata;
      // Before a valid definition: an invalid one beside a backup copy still takes the key out, as
      // what any definition of a name defined twice revokes applies (fifteenth round, probe fixes15
      // finding 2: the copy kept the key forwarding, and nothing was logged as held or revoked).
      if (kind === 'VaultKey' && invalidKeys.get(namespace!, name))
        revoked.push(`${kind} ${namespace}/${name} invalid: not served until its document is fixed`);
      else if (still.get(namespace!, name) !== undefined) out.push(r);
      else {
        const file = was.fileOf(kind, namespace!, name);
        const failed = file !== undefined && now.failed(file);
        const names = failed ? now.namespacesIn(kind, file, name) : [];
        // Its file now names it in another namespace only (a rotation regenerated without `-n`,
        // which defaults to `default`; a misspelt namespace): not hidden by the error but moved,
        // and its namespace's object deleted (sixteenth round, probe fixes16 finding 1: a broken
        // rotation or suspension written so was held back, and the old token kept forwarding).
        const elsewhere = names.filter((n) => n !== namespace);
        // Held where its own document there has the error (an invalid SpendPolicy keeps its version
        // in force; an unreadable Secret's keys are taken out below), or where an error of its file
        // may be hiding it (a document there names nothing for sure). Else the file read with an
        // error still says it is gone: deleted (sixteenth round: a key or leaked token deleted from
        // a file with a typo elsewhere in it stayed served).
        if (failed && (names.includes(namespace!) || (elsewhere.length === 0 && !now.hidesNothing(file)))) {
          out.push(r);
          held.push(`${kind} ${namespace}/${name} (${file})`);
        } else
          revoked.push(
            elsewhere.length > 0
              ? `${kind} ${namespace}/${name} deleted (its file names ${elsewhere.map((n) => `${n}/${name}`).join(', ')} instead)`
              : `${kind} ${namespace}/${name} deleted`,
          );
      }
    }
    return out;
  };
  const nextPolicies = new ByNamespace<SpendPolicy>();
  for (const p of next.set.policies) nextPolicies.set(p.metadata.namespace!, p.metadata.name, p);
  // A policy's expiry ends every key using it (a probe's earlier policy expiry waited behind a typo
  // in another file while its keys were still served).
  const policies = kept('SpendPolicy', inForce.set.policies, next.set.policies).map((p) => {
    const { namespace, name } = p.metadata;
    const n = nextPolicies.get(namespace!, name);
    const invalid = invalidPolicyExpiry.get(namespace!, name);
    const earliest = earliestExpiry([
      ...(n ? [n, ...now.duplicatesOf('SpendPolicy', namespace!, name)] : []),
      ...(invalid ? [invalid] : []),
    ]);
    if (earliest === undefined || Date.parse(earliest) >= expiry(p.spec.expiresAt)) return p;
    revoked.push(`SpendPolicy ${namespace}/${name} expires earlier`);
    return { ...p, spec: { ...p.spec, expiresAt: earliest } };
  });
  const secrets = kept('Secret', inForce.set.secrets, next.set.secrets);
  const changed = new ByNamespace<VaultKey>();
  for (const k of next.set.keys) changed.set(k.metadata.namespace!, k.metadata.name, k);
  const credentials = credentialsOf(inForce.set, next.set, now);
  const keys: VaultKey[] = [];
  for (const k of kept('VaultKey', inForce.set.keys, next.set.keys)) {
    const { namespace, name } = k.metadata;
    const id = `VaultKey ${namespace}/${name}`;
    const n = changed.get(namespace!, name);
    // A name defined twice (a backup copy of its file) is an error, and what either definition
    // revokes applies: which one the set holds is only the order of the files' names (a copy
    // sorting first kept the original's suspension from applying, and forwarded with the key).
    const others = n ? now.duplicatesOf('VaultKey', namespace!, name) : [];
    // Its old token or upstream key is what a rotation means to stop, and the new one is a grant
    // a refused change never makes: the key is taken out until the change is accepted. That holds
    // when the key's own file has an error too (its Secret may be in a file that read well).
    const replaced = credentials.replaced(k, n ?? k);
    for (const other of others)
      for (const what of credentials.replaced(k, other)) if (!replaced.includes(what)) replaced.push(what);
    if (replaced.length > 0) {
      for (const what of replaced) revoked.push(`${what} of ${id} replaced`);
      continue;
    }
    if (n === undefined) {
      keys.push(k);
      continue;
    }
    let spec = k.spec;
    if (!spec.suspended && (n.spec.suspended || others.some((o) => o.spec.suspended))) {
      spec = { ...spec, suspended: true };
      revoked.push(`${id} suspended`);
    }
    const earliest = earliestExpiry([n, ...others]);
    if (earliest !== undefined && Date.parse(earliest) < expiry(spec.expiresAt)) {
      spec = { ...spec, expiresAt: earliest };
      revoked.push(`${id} expires earlier`);
    }
    keys.push(spec === k.spec ? k : { ...k, spec });
  }
  if (revoked.length === 0 && held.length === 0) return undefined;
  return { set: { policies, keys, secrets, rejected: inForce.set.rejected }, revoked, held };
}

/** A VaultKey's or SpendPolicy's expiry in ms; none is never. */
const expiry = (at: string | undefined) => (at === undefined ? Number.POSITIVE_INFINITY : Date.parse(at));

/** The earliest `expiresAt` of a resource's definitions (a name defined twice has several); none: undefined. */
function earliestExpiry(defs: readonly { spec: { expiresAt?: string } }[] | undefined): string | undefined {
  let earliest: string | undefined;
  for (const { spec } of defs ?? [])
    if (spec.expiresAt !== undefined && Date.parse(spec.expiresAt) < expiry(earliest))
      earliest = spec.expiresAt;
  return earliest;
}

/**
 * Which credentials of a key in force a refused change replaces: `token` when the token it names
 * differs from the one in force (a new value in its Secret, or a tokenSecretRef to another Secret
 * or field), `upstream key` likewise for the real credential, and either when a Secret holding it
 * has a document the change cannot read. What every valid document says counts, in a file with an
 * error elsewhere too (sixteenth round: a leaked token rotated beside a typo in its file stayed
 * served, the rotation held back); a deleted Secret is a deletion, not a replacement.
 */
function credentialsOf(inForce: ResourceSet, next: ResourceSet, now: ManifestOrigin) {
  const before = new ByNamespace<Secret>();
  for (const s of inForce.secrets) before.set(s.metadata.namespace!, s.metadata.name, s);
  const after = new ByNamespace<Secret>();
  for (const s of next.secrets) after.set(s.metadata.namespace!, s.metadata.name, s);
  /** A Secret as the change would have it; one it no longer holds, as in force. */
  const secretAfter = (namespace: string, name: string) =>
    after.get(namespace, name) ?? before.get(namespace, name);
  /**
   * Every version of a Secret the change holds: secretAfter's, and each further definition of a
   * name defined twice.
   */
  const secretsAfter = (namespace: string, name: string) => [
    secretAfter(namespace, name),
    ...now.duplicatesOf('Secret', namespace, name),
  ];
  const token = (s: Secret | undefined, ref: VaultKey['spec']['tokenSecretRef']) =>
    s && secretValue(s, ref.key)?.trim();
  const upstream = (vendor: VaultKey['spec']['vendor'], s: Secret | undefined, key: string | undefined) => {
    const read = s && readUpstreamCredential(vendor, s, key);
    return read?.ok ? JSON.stringify(read.credential) : undefined;
  };
  return {
    /**
     * `n`: the key's definition in the change, or a further definition of a name defined twice
     * (what any definition replaces counts: fail closed).
     */
    replaced(k: VaultKey, n: VaultKey): string[] {
      const ns = k.metadata.namespace!;
      const refs = n.spec;
      const out: string[] = [];
      const { tokenSecretRef: t, upstreamSecretRef: u, vendor } = k.spec;
      // A Secret holding the key's token or upstream credential whose document the change holds
      // unreadable (invalid, broken as YAML, in a file refused whole): what it now holds is not
      // known, and a rotation of a leaked token or key written there with a mistake kept the old
      // one served (fifteenth round, probe fixes15b finding 3). Counted as replaced: the key is out.
      const unreadable = (name: string) => now.unreadableSecret(ns, name);
      if (unreadable(t.name) || unreadable(refs.tokenSecretRef.name)) out.push('token');
      if (unreadable(u.name) || unreadable(refs.upstreamSecretRef.name)) out.push('upstream key');
      if (out.length > 0) return out;
      // The same reference to the same Secret object (most keys of a large table): nothing to read.
      const tokenWas = before.get(ns, t.name);
      const tokensNow = secretsAfter(ns, refs.tokenSecretRef.name);
      if (refs.tokenSecretRef !== t || tokensNow.some((s) => s !== tokenWas)) {
        const served = token(tokenWas, t);
        if (served && tokensNow.some((s) => served !== token(s, refs.tokenSecretRef))) out.push('token');
      }
      const upstreamWas = before.get(ns, u.name);
      const upstreamsNow = secretsAfter(ns, refs.upstreamSecretRef.name);
      if (refs.upstreamSecretRef !== u || upstreamsNow.some((s) => s !== upstreamWas)) {
        const real = upstream(vendor, upstreamWas, u.key);
        if (
          real !== undefined &&
          upstreamsNow.some((s) => real !== upstream(vendor, s, refs.upstreamSecretRef.key))
        )
          out.push('upstream key');
      }
      return out;
    },
  };
}
