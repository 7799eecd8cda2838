import { z } from 'zod';
import { TOKEN_PREFIX_PATTERN } from '../../tokens/token.ts';
import {
  API_VERSION,
  ConditionSchema,
  fileStatus,
  ObjectMetaSchema,
  ObjectName,
  RootStatus,
  Timestamp,
} from './meta.ts';
import { UsdAmount, VendorSchema } from './spend-policy.ts';

/** The token Secret field when tokenSecretRef names none: where the operator mints a key's token. */
export const DEFAULT_TOKEN_FIELD = 'token';

const SecretKeyName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[-._a-zA-Z0-9]+$/, {
    abort: true,
    error: 'must be a Secret data key: letters, digits, "-", "_" and "."',
  });

export const VaultKeySpecSchema = z
  .strictObject({
    vendor: VendorSchema.describe('stripe | twilio | resend; must match the policy.'),
    policyRef: z.strictObject({ name: ObjectName }).describe('SpendPolicy in the same namespace.'),
    upstreamSecretRef: z
      .strictObject({
        name: ObjectName,
        key: SecretKeyName.optional(),
      })
      .describe(
        'Secret holding the real vendor credential. Stripe/Resend: key names the field. Twilio: omit key; the Secret holds accountSid + authToken, or apiKeySid + apiKeySecret + accountSid.',
      ),
    tokenSecretRef: z
      .strictObject({
        name: ObjectName,
        key: SecretKeyName.default(DEFAULT_TOKEN_FIELD),
      })
      .describe('Secret where the vault token lives; the operator mints it when absent.'),
    tokenPrefix: z
      .string()
      .regex(TOKEN_PREFIX_PATTERN, { abort: true, error: 'must be 2-32 letters, digits or "_"' })
      .optional()
      .describe('Overrides the kb_<vendor>_ token prefix, for clients that check key prefixes.'),
    expiresAt: Timestamp.optional().describe("Earlier of this and the policy's expiry wins."),
    suspended: z
      .boolean({ error: 'must be true or false' })
      .default(false)
      .describe('Pause without deleting.'),
  })
  .superRefine((spec, ctx) => {
    const key = spec.upstreamSecretRef.key;
    if (spec.vendor === 'twilio' && key !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['upstreamSecretRef', 'key'],
        message:
          'must be omitted for twilio: the Secret holds accountSid + authToken (or apiKeySid + apiKeySecret)',
      });
    }
    if (spec.vendor !== 'twilio' && key === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['upstreamSecretRef', 'key'],
        message: `is required for ${spec.vendor}: the Secret field holding the API key`,
      });
    }
  })
  .describe('One credential handed to one agent or MCP server.');
export type VaultKeySpec = z.infer<typeof VaultKeySpecSchema>;

export const VaultKeyStatusSchema = z.object({
  conditions: z.array(ConditionSchema).optional(),
  tokenFingerprint: z.string().optional().describe('kb_stripe_…9f2c; never the token.'),
  spentTodayUsd: UsdAmount.optional(),
  capPerDayUsd: UsdAmount.optional().describe("The policy's perDayUsd, shown beside spentTodayUsd."),
  lastUsedAt: Timestamp.optional(),
  observedGeneration: z.int().nonnegative().optional(),
});
export type VaultKeyStatus = z.infer<typeof VaultKeyStatusSchema>;

/**
 * A VaultKey as the compiler receives it from a source, defaults applied. Closed at the root like
 * its spec: a field one indent short of `spec` (`suspended: true`) was dropped silently, the key
 * left active (ninth round). The API server prunes unknown root fields, so its objects carry only
 * these.
 */
export const VaultKeySchema = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('VaultKey'),
  metadata: ObjectMetaSchema,
  spec: VaultKeySpecSchema,
  status: RootStatus,
});
export type VaultKey = z.infer<typeof VaultKeySchema>;

/** A VaultKey in a manifest file: its `status` closed too (meta.ts `fileStatus`). */
export const VaultKeyFileSchema = VaultKeySchema.extend({ status: fileStatus(VaultKeyStatusSchema) });
