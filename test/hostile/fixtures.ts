import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Vendor } from './upstream.ts';

/**
 * The vault keys and canary credentials of `test/hostile/manifests/`, read from the same YAML that
 * `keybrake serve` loads, so a case names a key (`stripe-glob`) and never copies a token.
 */

export const MANIFESTS = path.join(import.meta.dirname, 'manifests');
/** Manifests today's schema accepts: the core `keybrake serve` instance. */
export const CORE_DIR = path.join(MANIFESTS, 'core');
/** Manifests that need ADR 0007 fields: the trust instance serves these and CORE_DIR. */
export const TRUST_DIR = path.join(MANIFESTS, 'trust');

/** Which of the two `keybrake serve` instances a case is sent to. */
export type Instance = 'core' | 'trust';

export interface FixtureKey {
  readonly name: string;
  readonly vendor: Vendor;
  readonly token: string;
  /** The instance whose manifests define the key (core keys are also served by the trust instance). */
  readonly instance: Instance;
}

export interface Fixtures {
  readonly keys: ReadonlyMap<string, FixtureKey>;
  /** The real credentials as the vendor must receive them in `Authorization`. */
  readonly upstreamAuthorization: Readonly<Record<Vendor, string>>;
  /** The raw upstream secret per vendor (Twilio: the auth token): what the leak routes echo. */
  readonly upstreamCredential: Readonly<Record<Vendor, string>>;
  /** The Twilio account the upstream Secret names. */
  readonly twilioAccountSid: string;
  /** Strings that must never reach an agent or a log: upstream keys, auth token, encoded forms. */
  readonly canaries: readonly string[];
  /** Every vault token of the fixture (and their Twilio Basic encodings): must never reach a vendor. */
  readonly vaultTokens: readonly string[];
  /**
   * Every vault token without its last 6 characters (a minted token's prefix and body): as good as
   * the token to whoever reads it, since the checksum is crc32 of the rest (thirteenth round).
   */
  readonly vaultTokenStems: readonly string[];
}

type Doc = {
  kind?: string;
  metadata?: { name?: string };
  spec?: { vendor?: Vendor; tokenSecretRef?: { name: string; key?: string } };
  stringData?: Record<string, string>;
};

function docsIn(dir: string): Doc[] {
  const out: Doc[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!/\.ya?ml$/.test(file)) continue;
    for (const d of parseAllDocuments(readFileSync(path.join(dir, file), 'utf8'))) {
      const value = d.toJS() as Doc | null;
      if (value) out.push(value);
    }
  }
  return out;
}

export function loadFixtures(): Fixtures {
  const keys = new Map<string, FixtureKey>();
  const secrets = new Map<string, Record<string, string>>();
  const vaultKeys: { doc: Doc; instance: Instance }[] = [];
  for (const [dir, instance] of [
    [CORE_DIR, 'core'],
    [TRUST_DIR, 'trust'],
  ] as const) {
    for (const doc of docsIn(dir)) {
      if (doc.kind === 'Secret') secrets.set(doc.metadata!.name!, doc.stringData ?? {});
      if (doc.kind === 'VaultKey') vaultKeys.push({ doc, instance });
    }
  }
  for (const { doc, instance } of vaultKeys) {
    const ref = doc.spec!.tokenSecretRef!;
    const token = secrets.get(ref.name)?.[ref.key ?? 'token'];
    if (!token) throw new Error(`fixture VaultKey ${doc.metadata?.name} has no token Secret`);
    const name = doc.metadata!.name!;
    keys.set(name, { name, vendor: doc.spec!.vendor!, token, instance });
  }
  const stripeKey = secrets.get('stripe-upstream')!['apiKey']!;
  const resendKey = secrets.get('resend-upstream')!['apiKey']!;
  const twilio = secrets.get('twilio-upstream')!;
  const sid = twilio['accountSid']!;
  const authToken = twilio['authToken']!;
  const twilioBasic = Buffer.from(`${sid}:${authToken}`).toString('base64');
  const tokens = [...keys.values()].map((k) => k.token);
  return {
    keys,
    upstreamAuthorization: {
      stripe: `Bearer ${stripeKey}`,
      twilio: `Basic ${twilioBasic}`,
      resend: `Bearer ${resendKey}`,
    },
    upstreamCredential: { stripe: stripeKey, twilio: authToken, resend: resendKey },
    twilioAccountSid: sid,
    canaries: [stripeKey, resendKey, authToken, twilioBasic],
    vaultTokens: [...tokens, ...tokens.map((t) => Buffer.from(`${sid}:${t}`).toString('base64'))],
    vaultTokenStems: tokens.map((t) => t.slice(0, -6)),
  };
}
