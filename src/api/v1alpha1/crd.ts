import { stringify } from 'yaml';
import { z } from 'zod';
import { GROUP, VERSION } from './meta.ts';
import { SpendPolicySpecSchema, SpendPolicyStatusSchema } from './spend-policy.ts';
import { VaultKeySpecSchema, VaultKeyStatusSchema } from './vault-key.ts';

/**
 * The CustomResourceDefinitions in `crds/`, generated from the zod schemas (the one source of
 * truth, DESIGN.md §2). `write-crds.ts` writes them; crd.test.ts fails when the committed files drift.
 */

type JsonSchema = Record<string, unknown>;

const SAFE_INT = Number.MAX_SAFE_INTEGER;

/**
 * Rewrites zod's OpenAPI 3.0 output into a Kubernetes structural schema: every node typed, no
 * `$schema`, no `additionalProperties` beside `properties` (the API server rejects the pair), no
 * `const`, no regex Go's RE2 cannot run (the date-time pattern, covered by `format: date-time`).
 *
 * A closed object (a zod `strictObject`, `additionalProperties: false`) keeps its unknown fields
 * (`x-kubernetes-preserve-unknown-fields`): the API server would otherwise prune them, and only
 * kubectl's Strict field validation refuses them first. Helm, `kubectl patch` and API clients stored
 * `perDayUSD` removed, a policy without its cap (ninth round). Kept, the field reaches the operator's
 * strict schema, which refuses the object as `serve` does. CEL cannot refuse it at admission: unknown
 * fields are invisible to a CRD's validation rules. Open objects (status) are pruned as before.
 *
 * A closed object's optional fields are `nullable`. A field left empty in a manifest (`perDayUsd:`,
 * an `endpoints:` whose entries are all commented out, `expiresAt:`) is a YAML null, and the API
 * server prunes a null of a field not marked nullable before it stores the object, without a word to
 * the client: a policy applied with kubectl lost its cap or its endpoint allowlist and was Ready
 * (eleventh round), while `serve` refuses the same file. Nullable, the null is stored and reaches the
 * operator's zod schema, which refuses it as `serve` does. Required fields stay non-nullable: their
 * null is pruned, and the API server's own `required` then refuses the object at `kubectl apply`.
 *
 * No zod `.default()` is copied into the CRD (`default:`). The operator's zod schema applies it to an
 * absent field anyway; a CRD default made the API server fill in the field that client-side `kubectl
 * apply` had left out (a create) or deleted (its merge patch of an edit to empty), so the stored
 * object had a value, applied-nulls.ts (which puts a null back only where the object has none) never
 * did, and `suspended:` left empty turned a suspended key back on, `requireRunId:` left empty dropped
 * the run-id requirement (twelfth round). Without it the field stays absent and the null is put back.
 */
export function toStructural(node: JsonSchema, path = '$'): JsonSchema {
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$schema' || k === 'id' || k === '$id') continue;
    // Applied by the operator's schema, never by the API server (above).
    if (k === 'default') continue;
    if (k === 'additionalProperties' && v === false) {
      out['x-kubernetes-preserve-unknown-fields'] = true;
      continue;
    }
    if (k === 'additionalProperties' && 'properties' in node) continue;
    if ((k === 'maximum' && v === SAFE_INT) || (k === 'minimum' && v === -SAFE_INT)) continue;
    if (k === 'pattern' && node.format === 'date-time') continue;
    if (k === 'const') {
      out.enum = [v];
      continue;
    }
    if (k === 'properties') {
      const closed = node.additionalProperties === false;
      const required = new Set((node.required as string[] | undefined) ?? []);
      out.properties = Object.fromEntries(
        Object.entries(v as Record<string, JsonSchema>).map(([name, s]) => {
          const field = toStructural(s, `${path}.${name}`);
          return [name, closed && !required.has(name) ? { ...field, nullable: true } : field];
        }),
      );
      continue;
    }
    if (k === 'items' || k === 'additionalProperties') {
      out[k] = toStructural(v as JsonSchema, `${path}[]`);
      continue;
    }
    if (
      k === 'anyOf' ||
      k === 'oneOf' ||
      k === 'allOf' ||
      k === 'not' ||
      k === '$ref' ||
      k === 'definitions'
    ) {
      throw new Error(`${path}: ${k} is not supported in a structural schema; simplify the zod schema`);
    }
    out[k] = v;
  }
  if (out.type === undefined) throw new Error(`${path}: a structural schema needs a type on every node`);
  return out;
}

function openApi(schema: z.ZodType): JsonSchema {
  return toStructural(z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input' }) as JsonSchema);
}

interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
}

const READY: PrinterColumn[] = [
  { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
  { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', priority: 1 },
];
const AGE: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

function crd(opts: {
  kind: string;
  plural: string;
  shortName: string;
  spec: z.ZodType;
  status: z.ZodType;
  columns: PrinterColumn[];
  /** CEL rules for what zod checks in a refinement (Kubernetes ≥ 1.25). */
  specRules?: { rule: string; message: string }[];
}): JsonSchema {
  const spec = openApi(opts.spec);
  if (opts.specRules) spec['x-kubernetes-validations'] = opts.specRules;
  const status = openApi(opts.status);
  const conditions = (status.properties as Record<string, JsonSchema>).conditions;
  // Conditions are a map keyed by type, so server-side apply merges them per type.
  if (conditions)
    Object.assign(conditions, { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${opts.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind: opts.kind,
        listKind: `${opts.kind}List`,
        plural: opts.plural,
        singular: opts.kind.toLowerCase(),
        shortNames: [opts.shortName],
        categories: ['keybrake'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: opts.columns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: spec.description,
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec,
                status,
              },
            },
          },
        },
      ],
    },
  };
}

/** The two CRDs as objects, VaultKey first. */
export function crdObjects(): { vaultKeys: JsonSchema; spendPolicies: JsonSchema } {
  return {
    vaultKeys: crd({
      kind: 'VaultKey',
      plural: 'vaultkeys',
      shortName: 'vk',
      spec: VaultKeySpecSchema,
      status: VaultKeyStatusSchema,
      specRules: [
        {
          rule: "self.vendor == 'twilio' ? !has(self.upstreamSecretRef.key) : has(self.upstreamSecretRef.key)",
          message: 'upstreamSecretRef.key is required for stripe and resend and must be omitted for twilio',
        },
      ],
      columns: [
        { name: 'Policy', type: 'string', jsonPath: '.spec.policyRef.name' },
        { name: 'Vendor', type: 'string', jsonPath: '.spec.vendor' },
        { name: 'Spent-Today', type: 'string', jsonPath: '.status.spentTodayUsd' },
        { name: 'Cap', type: 'string', jsonPath: '.status.capPerDayUsd' },
        ...READY,
        { name: 'Fingerprint', type: 'string', jsonPath: '.status.tokenFingerprint', priority: 1 },
        AGE,
      ],
    }),
    spendPolicies: crd({
      kind: 'SpendPolicy',
      plural: 'spendpolicies',
      shortName: 'sp',
      spec: SpendPolicySpecSchema,
      status: SpendPolicyStatusSchema,
      columns: [
        { name: 'Vendor', type: 'string', jsonPath: '.spec.vendor' },
        { name: 'Per-Day', type: 'string', jsonPath: '.spec.limits.perDayUsd' },
        { name: 'Per-Month', type: 'string', jsonPath: '.spec.limits.perMonthUsd' },
        ...READY,
        AGE,
      ],
    }),
  };
}

const HEADER =
  '# Generated from src/api/v1alpha1 (zod schemas) by src/api/v1alpha1/write-crds.ts. Do not edit.\n';

/** The CRD files' contents, keyed by their path under `crds/`. */
export function crdFiles(): Record<string, string> {
  const { vaultKeys, spendPolicies } = crdObjects();
  const render = (o: JsonSchema) => HEADER + stringify(o, { lineWidth: 0 });
  return {
    'keybrake.dev_vaultkeys.yaml': render(vaultKeys),
    'keybrake.dev_spendpolicies.yaml': render(spendPolicies),
  };
}

/** Both CRDs as one multi-document YAML stream. */
export function generateCrds(): string {
  const files = crdFiles();
  return `${files['keybrake.dev_vaultkeys.yaml']}---\n${files['keybrake.dev_spendpolicies.yaml']}`;
}
