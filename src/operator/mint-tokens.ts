import type { Counter } from 'prom-client';
import type { VaultKey } from '../api/v1alpha1/index.ts';
import type { ObjectStatus } from '../compiler/compile.ts';
import type { KeyReason } from '../compiler/conditions.ts';
import { SECRET_LABEL_KEY, SECRET_LABEL_VALUE } from '../sources/kubernetes/labels.ts';
import type { Log } from '../telemetry/logger.ts';
import { type EventSink, tokenMintedEvent } from './events.ts';
import { ownerLabel } from './revoke-on-delete.ts';
import { ensureToken, type OwnerReference, SecretApiError, type SecretStore } from './tokens.ts';

/** Wiring of the token reconciler: the Secret API, where it reports, what it counts. */
export interface MintDeps {
  readonly secrets: SecretStore;
  readonly recordEvent: EventSink;
  readonly log: Log;
  readonly minted?: Counter;
  /** Refusals to reuse instead of reading the Secret again on every pass. */
  readonly refusals?: RefusalMemo;
  /**
   * Why no token is minted into a key's Secret because the key waited on it while another VaultKey
   * owned it (WaitingKeys.barred): checked before anything is read or written.
   */
  readonly barred?: (key: VaultKey) => string | undefined;
}

/**
 * Why the operator leaves a key's token Secret alone: the Ready message, and the reason when the
 * compiler's does not say it (an immutable Secret).
 */
export interface Refusal {
  readonly message: string;
  readonly reason?: KeyReason;
}

/**
 * Why a key's Secret was left alone, per VaultKey object (an unchanged key is the same object), so
 * that not every pass reads its Secret again: a tenant could otherwise have each pass read thousands
 * of Secrets by naming them, and a write the API server refuses for good would be retried, and
 * logged, on every pass. Reused while the compiler says the same of the key (the informer seeing the
 * Secret deleted or labelled changes that) and for at most `recheckMs` (an unlabelled Secret, which
 * the informer does not see, may have been deleted: then the operator mints).
 */
export interface RefusalMemo {
  get(key: VaultKey, compiled: string): Refusal | undefined;
  /** Remembers a refusal; true when the key was not already refused so (a first time, worth a warning). */
  set(key: VaultKey, compiled: string, refused: Refusal): boolean;
}

export function createRefusalMemo(now: () => number, recheckMs: number): RefusalMemo {
  const memo = new WeakMap<VaultKey, { compiled: string; refused: Refusal; at: number }>();
  return {
    get(key, compiled) {
      const m = memo.get(key);
      return m && m.compiled === compiled && now() - m.at < recheckMs ? m.refused : undefined;
    },
    set(key, compiled, refused) {
      const before = memo.get(key)?.refused;
      memo.set(key, { compiled, refused, at: now() });
      return before?.message !== refused.message || before.reason !== refused.reason;
    },
  };
}

/** Reasons whose token the operator replaces with a fresh one, in a Secret it minted (ADR 0009). */
const REPLACE: ReadonlySet<string> = new Set(['TokenSecretStale', 'TokenRevoked']);

/**
 * Answers of the API server that the same write gets again until someone changes RBAC, an admission
 * policy or the Secret: retried on every pass, they would only fill the log (a 422 also answers a
 * Secret made immutable between the read and the write). Anything else (no answer, 5xx, 429, a 404
 * of a Secret deleted meanwhile) is retried on the next pass.
 */
const REFUSED_FOR_GOOD: ReadonlySet<number> = new Set([400, 403, 422]);

/**
 * Tokens (compiler statuses → token Secrets): every VaultKey whose status says TokenSecretMissing
 * gets a token minted into its tokenSecretRef, when the operator creates that Secret or created it
 * for this key; one whose Secret belongs to a deleted VaultKey (TokenSecretStale) or holds a revoked
 * token (TokenRevoked) gets a fresh token when the operator minted that Secret, never the old one
 * back, when that VaultKey had this key's name (the same key applied again); never for a key that
 * waited on the Secret while another key owned it (`barred`, sixteenth round). Resolves with `waiting`, the `namespace/name` of the keys whose Secret changed or is
 * contended: their status waits for the informer to see the Secret, so it does not flap through
 * TokenSecretMissing; and `refused`, by `namespace/name`, why a key's Secret exists but is not one
 * the operator may write, or whose write the API server refuses for good (its status says so:
 * `explainRefusals`; logged at warn the first time). Any other failure is logged and counted in
 * `failed`; the key is retried on the next pass.
 */
export async function mintMissingTokens(
  statuses: readonly ObjectStatus[],
  keys: readonly VaultKey[],
  deps: MintDeps,
): Promise<{ waiting: Set<string>; refused: Map<string, Refusal>; failed: number }> {
  const waiting = new Set<string>();
  const refused = new Map<string, Refusal>();
  let failed = 0;
  // Built on the first key that needs a token: a search of `keys` per key would be quadratic when
  // thousands of VaultKeys are applied without their Secrets.
  let byRef: Map<string, VaultKey> | undefined;
  for (const s of statuses) {
    const reason = s.conditions[0]?.reason ?? '';
    if (s.kind !== 'VaultKey' || (reason !== 'TokenSecretMissing' && !REPLACE.has(reason))) continue;
    byRef ??= new Map(keys.map((k) => [`${k.metadata.namespace}/${k.metadata.name}`, k]));
    const id = `${s.namespace}/${s.name}`;
    const key = byRef.get(id);
    if (!key) continue;
    const compiled = `${reason}: ${s.conditions[0]?.message ?? ''}`;
    const bar = deps.barred?.(key);
    if (bar !== undefined) {
      const why = { message: bar };
      refused.set(id, why);
      if (deps.refusals?.set(key, compiled, why) ?? true)
        deps.log.warn(
          { vaultKey: id, secret: key.spec.tokenSecretRef.name },
          "minting no token: this key waited on another VaultKey's token Secret",
        );
      continue;
    }
    const known = deps.refusals?.get(key, compiled);
    if (known !== undefined) {
      refused.set(id, known);
      continue;
    }
    const outcome = await mintOne(key, deps, REPLACE.has(reason));
    if (outcome === 'failed') failed++;
    else if (outcome === 'changed') waiting.add(id);
    else if (outcome !== 'settled') {
      refused.set(id, outcome.refused);
      const first = deps.refusals?.set(key, compiled, outcome.refused) ?? true;
      if (outcome.error !== undefined)
        deps.log[first ? 'warn' : 'debug'](
          { vaultKey: id, error: outcome.error },
          'could not mint a token; trying again when the key or its Secret changes',
        );
    }
  }
  return { waiting, refused, failed };
}

/**
 * The statuses with the Ready message (and, where the refusal names one, the reason) of each refused
 * key replaced by why (the compiler only sees labelled Secrets, so it says "does not exist" of an
 * unlabelled one, and "the operator mints a fresh token into it" of an immutable one). The status
 * writer records a Warning Event when that message first appears.
 */
export function explainRefusals(
  statuses: readonly ObjectStatus[],
  refused: ReadonlyMap<string, Refusal>,
): readonly ObjectStatus[] {
  if (refused.size === 0) return statuses;
  return statuses.map((s) => {
    const why = s.kind === 'VaultKey' ? refused.get(`${s.namespace}/${s.name}`) : undefined;
    if (why === undefined) return s;
    return {
      ...s,
      conditions: s.conditions.map((c) =>
        c.type === 'Ready' && (c.reason === 'TokenSecretMissing' || REPLACE.has(c.reason))
          ? { ...c, reason: why.reason ?? c.reason, message: why.message }
          : c,
      ),
    };
  });
}

/** Why the operator leaves a key's existing token Secret alone (a Ready message). */
function refusal(key: VaultKey, unlabelled: boolean): Refusal {
  const { name, key: field } = key.spec.tokenSecretRef;
  const secret = `${key.metadata.namespace}/${name}`;
  const message = unlabelled
    ? `Secret ${secret} exists but lacks the label ${SECRET_LABEL_KEY}: "${SECRET_LABEL_VALUE}", and the operator neither labels nor writes into a Secret it did not create for this key: if it holds this key's vault token, label it yourself; otherwise name a new Secret in tokenSecretRef and the operator mints one.`
    : `Secret ${secret} exists but was not created by Keybrake for this key and has no non-empty field "${field}": name a new Secret in tokenSecretRef and the operator mints one, or, if this Secret is a token Secret of your own, put a token from keybrake token new in it (never into a Secret holding a vendor key, which an agent mounting it would hold).`;
  return { message };
}

/**
 * Why a key is not handed the Secret of a deleted VaultKey of another name (sixteenth round): the
 * deleted key's agent may still read that Secret (a Deployment names it), so a fresh token there
 * would re-arm a revoked credential under this key's policy.
 */
function inherited(key: VaultKey, owner: OwnerReference & { readonly uid: string }): Refusal {
  const ns = key.metadata.namespace;
  const secret = `${ns}/${key.spec.tokenSecretRef.name}`;
  return {
    message: `Secret ${secret} belongs to VaultKey ${ns}/${ownerLabel(owner)}, which was deleted: its token was revoked with that key, and the operator hands a deleted key's token Secret only to a VaultKey of the same name applied again, never to another key (whatever reads that Secret, the deleted key's agent, would hold a working token under this key's policy). Point tokenSecretRef at a Secret of this key's own, or delete this Secret and the operator mints a fresh one for this key.`,
  };
}

/** The Ready condition of a key whose token Secret is immutable: Kubernetes never lets that be unset. */
function immutable(key: VaultKey): Refusal {
  const secret = `${key.metadata.namespace}/${key.spec.tokenSecretRef.name}`;
  return {
    reason: 'TokenSecretImmutable',
    message: `Secret ${secret} is immutable, so the operator cannot write a fresh token into it, and Kubernetes never lets a Secret become mutable again: delete the Secret and the operator mints a fresh token into a new one. Until then the key is not served.`,
  };
}

/** The Ready condition of a key whose token write the API server refuses for good (`error` names only the call and status). */
function refusedWrite(error: string): Refusal {
  return {
    message: `The operator could not mint a token: ${error}. It tries again when the key or its token Secret changes, and at the status resync (every few minutes); check the operator's RBAC and admission policies for Secrets in this namespace.`,
  };
}

/**
 * What minting did for one key: 'changed', the Secret changed or is contended (wait for the
 * informer); 'settled', nothing to wait for; `refused`, why the Secret is left alone (with `error`
 * when the API server refused the write); 'failed', try again.
 */
type Step = 'changed' | 'settled' | 'failed' | { readonly refused: Refusal; readonly error?: string };

async function mintOne(key: VaultKey, deps: MintDeps, replace: boolean): Promise<Step> {
  const ref = `${key.metadata.namespace}/${key.metadata.name}`;
  const secret = key.spec.tokenSecretRef;
  try {
    const outcome = await ensureToken(deps.secrets, key, { replace });
    if (outcome.kind === 'minted') {
      deps.minted?.inc();
      deps.log.info(
        { vaultKey: ref, secret: secret.name, tokenFingerprint: outcome.fingerprint, replaced: replace },
        replace ? 'revoked token replaced' : 'token minted',
      );
      const object = {
        kind: 'VaultKey' as const,
        namespace: key.metadata.namespace!,
        name: key.metadata.name,
        ...(key.metadata.uid !== undefined && { uid: key.metadata.uid }),
      };
      await deps.recordEvent(tokenMintedEvent(object, secret, outcome.fingerprint));
      return 'changed';
    }
    if (outcome.kind === 'labelled') {
      deps.log.info(
        { vaultKey: ref, secret: secret.name },
        'labelled the token Secret minted for this key again',
      );
      return 'changed';
    }
    if (outcome.kind === 'not-ours') return { refused: refusal(key, outcome.unlabelled) };
    if (outcome.kind === 'immutable') return { refused: immutable(key) };
    if (outcome.kind === 'inherited') return { refused: inherited(key, outcome.owner) };
    return outcome.kind === 'conflict' ? 'changed' : 'settled';
  } catch (err) {
    const error = (err as Error).message;
    if (err instanceof SecretApiError && err.status !== undefined && REFUSED_FOR_GOOD.has(err.status))
      return { refused: refusedWrite(error), error };
    deps.log.warn({ vaultKey: ref, error }, 'could not mint a token');
    return 'failed';
  }
}
