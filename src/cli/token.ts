import { stringify } from 'yaml';
import { VENDORS, type VendorName } from '../snapshot/types.ts';
import { fingerprint, newToken, TOKEN_PREFIX_PATTERN } from '../tokens/token.ts';
import { type Flags, parseFlags, UsageError } from './args.ts';

export const TOKEN_SUMMARY =
  'token new: prints a fresh vault token (≥192 random bits, vendor prefix, checksum). With --secret,\n' +
  'prints a ready Secret manifest holding it, for a VaultKey tokenSecretRef.';

export const TOKEN_FLAGS = {
  vendor: { type: 'string', help: 'stripe | twilio | resend', placeholder: 'vendor' },
  prefix: {
    type: 'string',
    help: 'override the kb_<vendor>_ prefix (for clients that check prefixes)',
    placeholder: 'prefix',
  },
  secret: {
    type: 'string',
    help: 'print a Secret manifest with this name instead of the bare token',
    placeholder: 'name',
  },
  namespace: {
    type: 'string',
    default: 'default',
    help: 'namespace of the Secret manifest',
    placeholder: 'ns',
  },
  key: { type: 'string', default: 'token', help: 'data key of the Secret manifest', placeholder: 'key' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Flags;

/** `keybrake token new …`: the text to print on stdout. */
export function tokenCommand(argv: readonly string[]): string {
  const { values, positionals } = parseFlags(argv, TOKEN_FLAGS, process.env, { positionals: true });
  if (positionals[0] !== 'new' || positionals.length > 1)
    throw new UsageError('expected: keybrake token new --vendor <vendor>');
  const vendor = values.vendor as VendorName | undefined;
  if (!vendor || !VENDORS.includes(vendor))
    throw new UsageError('--vendor must be one of stripe, twilio, resend');
  const prefix = values.prefix as string | undefined;
  if (prefix !== undefined && !TOKEN_PREFIX_PATTERN.test(prefix)) {
    throw new UsageError('--prefix must be 2-32 letters, digits or underscores');
  }
  const token = newToken(vendor, prefix !== undefined ? { prefix } : {});
  const name = values.secret as string | undefined;
  if (!name) return token;
  checkSecretNames(name, values.namespace as string, values.key as string);
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace: values.namespace as string,
      // The operator sees only Secrets with keybrake.dev/secret, and never labels one it did not mint.
      labels: {
        'app.kubernetes.io/part-of': 'keybrake',
        'keybrake.dev/vendor': vendor,
        'keybrake.dev/secret': 'true',
      },
      annotations: { 'keybrake.dev/token-fingerprint': fingerprint(token) },
    },
    type: 'Opaque',
    stringData: { [values.key as string]: token },
  };
  return `# Keybrake vault token for ${vendor}. Treat this file as a secret.\n${stringify(secret)}`;
}

const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DATA_KEY = /^[-._a-zA-Z0-9]{1,253}$/;

/**
 * The Secret manifest must be one Kubernetes (and `serve`) accepts. Each flag can come from a
 * KEYBRAKE_* variable another command uses too (KEYBRAKE_KEY is `run`'s VaultKey): the CLI names
 * the variable when it was the value's source (nameFlagSource), and only then (tenth round: a
 * `--key a/b` typed on the command line was blamed on KEYBRAKE_KEY).
 */
function checkSecretNames(name: string, namespace: string, key: string): void {
  if (!DNS_SUBDOMAIN.test(name))
    throw new UsageError(`--secret ${name}: a Secret name is lower-case letters, digits, '-' and '.'`);
  if (!DNS_LABEL.test(namespace))
    throw new UsageError(`--namespace ${namespace}: a namespace is lower-case letters, digits and '-'`);
  if (!DATA_KEY.test(key) || key === '.' || key === '..')
    throw new UsageError(`--key ${key}: a Secret data key is letters, digits, '-', '_' and '.'`);
}
