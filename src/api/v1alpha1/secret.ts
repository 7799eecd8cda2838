import { z } from 'zod';
import { OpenObjectMetaSchema } from './meta.ts';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The subset of a core v1 Secret the compiler reads: upstream credentials and vault tokens.
 * `data` is base64 as in the API; `stringData` (manifest convenience) wins on a clash, as the API
 * server writes it over `data` (clashingSecretFields says when that hides a value).
 */
export const SecretSchema = z.object({
  apiVersion: z.literal('v1'),
  kind: z.literal('Secret'),
  metadata: OpenObjectMetaSchema,
  type: z.string().optional(),
  data: z
    .record(
      z.string(),
      z.string().regex(BASE64, { abort: true, error: 'must be base64 (use stringData for plain text)' }),
    )
    .optional(),
  stringData: z.record(z.string(), z.string({ error: 'must be a string' })).optional(),
});
export type Secret = z.infer<typeof SecretSchema>;

/** The decoded value of one Secret field, or undefined when absent. */
export function secretValue(secret: Secret, key: string): string | undefined {
  const plain = secret.stringData?.[key];
  if (plain !== undefined) return plain;
  const encoded = secret.data?.[key];
  return encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8');
}

/**
 * The fields a Secret gives in both `data` and `stringData` with different values (blanks around
 * them aside: every reader trims). secretValue takes `stringData`'s, as a cluster does, and that
 * stays the rule; but a user who rotates a token by adding `data:` (what `kubectl create secret
 * --dry-run=client -o yaml` prints) beside the old `stringData` keeps the old token served and the
 * new one refused, without a word (twelfth round). policy-check and serve warn of these.
 */
export function clashingSecretFields(secret: Secret): string[] {
  const { data, stringData } = secret;
  if (data === undefined || stringData === undefined) return [];
  const fields: string[] = [];
  for (const [field, plain] of Object.entries(stringData)) {
    const encoded = Object.hasOwn(data, field) ? data[field] : undefined;
    if (encoded === undefined) continue;
    if (Buffer.from(encoded, 'base64').toString('utf8').trim() !== plain.trim()) fields.push(field);
  }
  return fields;
}
