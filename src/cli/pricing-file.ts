import { parse as parseYaml } from 'yaml';
import type { PricingOverrides } from '../vendors/registry.ts';
import { UsageError } from './args.ts';
import { readRegularFile } from './regular-file.ts';

/** The fields a --pricing file may hold (docs/pricing.md): a misspelt one would leave a price unchanged. */
const FIELDS = new Set(['exchangeRates', 'twilio', 'resend']);

/** What each section looks like, shown when one is not a mapping. */
const SECTION_EXAMPLE: Readonly<Record<string, string>> = {
  exchangeRates: 'exchangeRates: { eur: "1.08" }',
  twilio: 'twilio: { verifyPerVerification: 60000 }',
  resend: 'resend: { perEmail: 2000 }',
};

/**
 * `--pricing` of `serve`, `proxy` and `policy-check`: a YAML or JSON mapping of `exchangeRates`,
 * `twilio` and `resend` overrides. The file must be readable, parse, be a mapping and hold nothing
 * else; the values are checked by the vendors that use them. No file: the built-in tables.
 * Read as YAML 1.2, unlike manifests (YAML 1.1, as kubectl reads them): this file is Keybrake's own
 * configuration, which kubectl never reads, and 1.2 keeps a country key such as NO a string and a
 * zero-padded number decimal (docs/pricing.md).
 */
export async function loadPricingFile(file: string | undefined): Promise<PricingOverrides> {
  if (!file) return {};
  // A regular file only: a FIFO or a device never finished the read (readRegularFile).
  const text = await readRegularFile(file).then(
    (bytes) => bytes.toString('utf8'),
    (err: Error) => {
      throw new UsageError(`--pricing ${file}: ${err.message}`);
    },
  );
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new UsageError(`--pricing ${file}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new UsageError(`--pricing ${file}: expected a mapping`);
  const unknown = Object.keys(parsed).find((k) => !FIELDS.has(k));
  if (unknown !== undefined)
    throw new UsageError(
      `--pricing ${file}: unknown field ${JSON.stringify(unknown.slice(0, 64))} (expected ${[...FIELDS].join(', ')})`,
    );
  // Every section is a mapping of prices or rates (sixteenth round): `resend: 2000`, `twilio: 5` or
  // `exchangeRates: 5` read as a mapping of nothing, so the built-in table priced every call and caps
  // admitted more real spending than the operator's price; an empty `resend:` is refused alike.
  for (const [name, section] of Object.entries(parsed)) {
    if (!isMapping(section))
      throw new UsageError(
        `--pricing ${file}: ${name}: expected a mapping such as ${SECTION_EXAMPLE[name]}, got ${shown(section)}`,
      );
  }
  return parsed as PricingOverrides;
}

function isMapping(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A section that is not a mapping, as the operator wrote it (a string in quotes, so it reads as one). */
function shown(v: unknown): string {
  if (v === null) return 'nothing (an empty section: give its fields or remove it)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.slice(0, 64))}`;
  return String(v);
}

/** A price or rate the vendors refuse (a fraction where µUSD are whole numbers, say), as the file's error. */
export function pricingValueError(file: string | undefined, err: unknown): UsageError {
  return new UsageError(`--pricing ${file ?? '(none)'}: ${(err as Error).message}`);
}
