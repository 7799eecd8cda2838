/** kubectl's copy of the manifest it last applied, in client-side `kubectl apply`. */
export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * A VaultKey's or SpendPolicy's spec as the manifest gave it: with a null put back wherever the
 * manifest kubectl last applied left a field empty (`perDayUsd:`, an `endpoints:` whose entries are
 * all commented out, `expiresAt:`) and the stored object has no such field. Read by `slim`, so the
 * compiler judges what the file said, as `serve` does on the same file, and refuses it.
 *
 * Why: client-side `kubectl apply` never sends an empty field's null to the API server. On a create
 * it drops it; on an edit of an existing value to empty its merge patch sends `null`, which deletes
 * the field. Either way the stored policy had no cap or no endpoint allowlist and was Ready (eleventh
 * round), and only the annotation, which kubectl writes from the file, still shows the empty field.
 * (Nullable CRD fields keep the null for server-side apply, `kubectl create`/`replace` and API clients:
 * crd.ts.) A field the stored object has a value for is left alone: a later `kubectl patch` that
 * filled it in is what is in force. Returns `spec` itself when there is nothing to put back.
 */
export function withAppliedNulls(
  spec: unknown,
  annotations: Readonly<Record<string, string>> | undefined,
): unknown {
  const applied = annotations?.[LAST_APPLIED];
  // Most objects left nothing empty: no parse of every key's annotation on every list.
  if (applied === undefined || !applied.includes('null')) return spec;
  let parsed: unknown;
  try {
    parsed = JSON.parse(applied);
  } catch {
    return spec; // Not kubectl's; the stored spec is all there is to judge.
  }
  const given = isObject(parsed) ? parsed.spec : undefined;
  if (!isObject(given)) return spec;
  if (spec !== undefined && !isObject(spec)) return spec;
  return restore(given, spec ?? {});
}

/** `stored` with `given`'s nulls where it has nothing; the same object when none is put back. */
function restore(given: Record<string, unknown>, stored: Record<string, unknown>): Record<string, unknown> {
  let out = stored;
  for (const [name, value] of Object.entries(given)) {
    const has = Object.hasOwn(stored, name);
    let next: unknown;
    if (value === null) {
      if (has) continue;
      next = null;
    } else if (isObject(value)) {
      const inner = has ? stored[name] : {};
      if (!isObject(inner)) continue;
      next = restore(value, inner);
      if (next === inner) continue;
    } else continue;
    if (out === stored) out = { ...stored };
    out[name] = next;
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
