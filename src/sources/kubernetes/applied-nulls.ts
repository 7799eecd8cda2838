import { z } from 'zod';
import { SpendPolicySpecSchema, VaultKeySpecSchema } from '../../api/v1alpha1/index.ts';

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
 *
 * Except a field holding its schema default (`suspended` false, `requireRunId` false,
 * `readsWhenCountersDown` allow, `timezone` UTC, `tokenSecretRef.key` token): CRDs before the twelfth
 * round declared those defaults, so the API server filled in the very field kubectl had dropped or
 * deleted, and a key edited from `suspended: true` to `suspended:` was served again (4 payouts at
 * Stripe in the probe). The CRDs no longer declare them (crd.ts), but Helm never upgrades a chart's
 * CRDs, and objects stored under the old ones keep the filled-in value. The default next to an empty
 * field in the applied file is taken for the server's, and the null is put back: a value patched in
 * afterwards that equals the default is refused too, the safe side (the object is Invalid, named).
 *
 * The annotation is the tenant's to write (any `kubectl patch`), so it is read only where the spec's
 * schema has a field: a null is put back at a field the schema knows, and only an object field of the
 * schema is gone into (eleventh round, fixes probe: an annotation nested 8 000 levels deep made the
 * walk overflow the stack inside the watch callback, which client-node swallows, so the key's delete
 * was never seen). Nothing else of it is looked at: not `__proto__` (which, assigned, set the restored
 * spec's prototype), not a field the schema lacks. The walk is as deep as the schema, two levels.
 */
export function withAppliedNulls(
  kind: 'VaultKey' | 'SpendPolicy',
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
  return restore(given, spec ?? {}, SHAPES[kind]);
}

/**
 * The fields of a spec, and for each object field its own fields: what `restore` may follow. Made
 * from the zod schema the compiler validates with (DESIGN.md §2), so it cannot drift from it.
 */
interface Shape {
  readonly fields: ReadonlyMap<string, Shape | undefined>;
  /** The schema's `.default()` of a field, where it has one (all scalars). */
  readonly defaults: ReadonlyMap<string, unknown>;
}

function shapeOf(schema: z.ZodType): Shape {
  const walk = (node: Record<string, unknown>): Shape => {
    const fields = new Map<string, Shape | undefined>();
    const defaults = new Map<string, unknown>();
    for (const [name, field] of Object.entries(
      (node.properties ?? {}) as Record<string, Record<string, unknown>>,
    )) {
      // An object field with named fields is gone into; a list, a scalar or a map is not.
      fields.set(name, field.type === 'object' && field.properties !== undefined ? walk(field) : undefined);
      if ('default' in field) defaults.set(name, field.default);
    }
    return { fields, defaults };
  };
  return walk(z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>);
}

const SHAPES: Readonly<Record<'VaultKey' | 'SpendPolicy', Shape>> = {
  VaultKey: shapeOf(VaultKeySpecSchema),
  SpendPolicy: shapeOf(SpendPolicySpecSchema),
};

/**
 * `stored` with `given`'s nulls where it has nothing, at `shape`'s fields only; the same object when
 * none is put back. Recurses once per object level of the schema (not of `given`), so its depth is
 * the schema's whatever the annotation holds.
 */
function restore(
  given: Record<string, unknown>,
  stored: Record<string, unknown>,
  shape: Shape,
): Record<string, unknown> {
  let out = stored;
  for (const [name, inner] of shape.fields) {
    if (!Object.hasOwn(given, name)) continue;
    const value = given[name];
    const has = Object.hasOwn(stored, name);
    let next: unknown;
    if (value === null) {
      if (has && !(shape.defaults.has(name) && stored[name] === shape.defaults.get(name))) continue;
      next = null;
    } else if (isObject(value) && inner !== undefined) {
      const held = has ? stored[name] : {};
      if (!isObject(held)) continue;
      next = restore(value, held, inner);
      if (next === held) continue;
    } else continue;
    if (out === stored) out = { ...stored };
    // Only the schema's field names reach here; defineProperty all the same, never a prototype.
    Object.defineProperty(out, name, { value: next, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
