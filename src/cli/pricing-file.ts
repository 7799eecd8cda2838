import { parse as parseYaml } from 'yaml';
import type { PricingOverrides } from '../vendors/registry.ts';
import { UsageError } from './args.ts';
import { readRegularFile } from './regular-file.ts';

/** The fields a --pricing file may hold (docs/pricing.md): a misspelt one would leave a price unchanged. */
const FIELDS = new Set(['exchangeRates', 'twilio', 'resend']);

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
  return parsed as PricingOverrides;
}

/** A price or rate the vendors refuse (a fraction where µUSD are whole numbers, say), as the file's error. */
export function pricingValueError(file: string | undefined, err: unknown): UsageError {
  return new UsageError(`--pricing ${file ?? '(none)'}: ${(err as Error).message}`);
}
