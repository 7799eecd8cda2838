import type { Counter } from 'prom-client';
import type { VaultKey } from '../api/v1alpha1/index.ts';
import type { ObjectStatus } from '../compiler/compile.ts';
import { SECRET_LABEL_KEY, SECRET_LABEL_VALUE } from '../sources/kubernetes/labels.ts';
import type { Log } from '../telemetry/logger.ts';
import { type EventSink, tokenMintedEvent } from './events.ts';
import { ensureToken, type SecretStore } from './tokens.ts';

/** Wiring of the token reconciler: the Secret API, where it reports, what it counts. */
export interface MintDeps {
  readonly secrets: SecretStore;
  readonly recordEvent: EventSink;
  readonly log: Log;
  readonly minted?: Counter;
  /** Refusals to reuse instead of reading the Secret again on every pass. */
  readonly refusals?: RefusalMemo;
}

/**
 * Why a key's Secret was left alone, per VaultKey object (an unchanged key is the same object), so
 * that not every pass reads its Secret again: a tenant could otherwise have each pass read thousands
 * of Secrets by naming them. Reused while the compiler says the same of the key (a change of the
 * Secret the informer sees changes that) and for at most `recheckMs` (an unlabelled Secret, which
 * the informer does not see, may have been deleted: then the operator mints).
 */
export interface RefusalMemo {
  get(key: VaultKey, compiled: string): string | undefined;
  set(key: VaultKey, compiled: string, refused: string): void;
}

export function createRefusalMemo(now: () => number, recheckMs: number): RefusalMemo {
  const memo = new WeakMap<VaultKey, { compiled: string; refused: string; at: number }>();
  return {
    get(key, compiled) {
      const m = memo.get(key);
      return m && m.compiled === compiled && now() - m.at < recheckMs ? m.refused : undefined;
    },
    set(key, compiled, refused) {
      memo.set(key, { compiled, refused, at: now() });
    },
  };
}

/** Reasons whose token the operator replaces with a fresh one, in a Secret it minted (ADR 0009). */
const REPLACE: ReadonlySet<string> = new Set(['TokenSecretStale', 'TokenRevoked']);

/**
 * Tokens (compiler statuses → token Secrets): every VaultKey whose status says TokenSecretMissing
 * gets a token minted into its tokenSecretRef, when the operator creates that Secret or created it
 * for this key; one whose Secret belongs to a deleted VaultKey (TokenSecretStale) or holds a revoked
 * token (TokenRevoked) gets a fresh token when the operator minted that Secret, never the old one
 * back. Resolves with `waiting`, the `namespace/name` of the keys whose Secret changed or is
 * contended: their status waits for the informer to see the Secret, so it does not flap through
 * TokenSecretMissing; and `refused`, by `namespace/name`, why a key's Secret exists but is not one
 * the operator may write (its status says so: `explainRefusals`). A failure is logged and counted in
 * `failed`; the key is retried on the next pass.
 */
export async function mintMissingTokens(
  statuses: readonly ObjectStatus[],
  keys: readonly VaultKey[],
  deps: MintDeps,
): Promise<{ waiting: Set<string>; refused: Map<string, string>; failed: number }> {
  const waiting = new Set<string>();
  const refused = new Map<string, string>();
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
      deps.refusals?.set(key, compiled, outcome.refused);
    }
  }
  return { waiting, refused, failed };
}

/**
 * The statuses with the Ready message of each refused key replaced by why (the compiler only sees
 * labelled Secrets, so it says "does not exist" of an unlabelled one). The status writer records a
 * Warning Event when that message first appears.
 */
export function explainRefusals(
  statuses: readonly ObjectStatus[],
  refused: ReadonlyMap<string, string>,
): readonly ObjectStatus[] {
  if (refused.size === 0) return statuses;
  return statuses.map((s) => {
    const message = s.kind === 'VaultKey' ? refused.get(`${s.namespace}/${s.name}`) : undefined;
    if (message === undefined) return s;
    return {
      ...s,
      conditions: s.conditions.map((c) =>
        c.type === 'Ready' && c.reason === 'TokenSecretMissing' ? { ...c, message } : c,
      ),
    };
  });
}

/** Why the operator leaves a key's existing token Secret alone (a Ready message). */
function refusal(key: VaultKey, unlabelled: boolean): string {
  const { name, key: field } = key.spec.tokenSecretRef;
  const secret = `${key.metadata.namespace}/${name}`;
  return unlabelled
    ? `Secret ${secret} exists but lacks the label ${SECRET_LABEL_KEY}: "${SECRET_LABEL_VALUE}", and the operator neither labels nor writes into a Secret it did not create for this key: if it holds this key's vault token, label it yourself; otherwise name a new Secret in tokenSecretRef and the operator mints one.`
    : `Secret ${secret} exists but was not created by Keybrake for this key and has no non-empty field "${field}": add the token field yourself (keybrake token new), or name a new Secret in tokenSecretRef and the operator mints one.`;
}

/**
 * What minting did for one key: 'changed', the Secret changed or is contended (wait for the
 * informer); 'settled', nothing to wait for; `refused`, why the Secret is left alone; 'failed', try again.
 */
type Step = 'changed' | 'settled' | 'failed' | { readonly refused: string };

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
    return outcome.kind === 'conflict' ? 'changed' : 'settled';
  } catch (err) {
    deps.log.warn({ vaultKey: ref, error: (err as Error).message }, 'could not mint a token');
    return 'failed';
  }
}
