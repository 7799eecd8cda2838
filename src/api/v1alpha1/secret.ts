import { z } from 'zod';
import { OpenObjectMetaSchema } from './meta.ts';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The subset of a core v1 Secret the compiler reads: upstream credentials and vault tokens.
 * `data` is base64 as in the API; `stringData` (manifest convenience) wins on a clash, as in kubectl.
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
