import { VENDORS, type VendorName } from '../snapshot/types.ts';
import type { OperationRow } from '../vendors/operation-table.ts';
import { RESEND_OPERATIONS } from '../vendors/resend/operations.ts';
import { STRIPE_OPERATIONS } from '../vendors/stripe/operations.ts';
import { TWILIO_OPERATIONS } from '../vendors/twilio/operations.ts';
import { type Flags, parseFlags, UsageError } from './args.ts';

export const CATALOG_SUMMARY =
  'catalog <vendor>: prints every operation Keybrake knows for stripe, twilio or resend, generated from\n' +
  "the vendor's own API definition: the endpoint (METHOD /path template; host for Twilio), operation\n" +
  'id and class (read, write, money, money_unpriced, destructive, sensitive). A policy names a\n' +
  'destructive or unpriced operation exactly as its ENDPOINT is printed here: copy it into\n' +
  'allow.endpoints as it is.\n' +
  '\n' +
  "A class is the operation's by its method and path alone: a call's body can raise it (a Resend\n" +
  'contact write with unsubscribed: false is destructive, a scheduled broadcast or a Stripe customer\n' +
  'update with a coupon money_unpriced). A refusal and policy-check --explain name the field that did;\n' +
  'docs/vendors/<vendor>.md lists every such raise.';

export const CATALOG_FLAGS = {
  json: {
    type: 'boolean',
    help: 'one JSON object per line: method, path, operation, class (and host for Twilio)',
  },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Flags;

/** One printed row; `host` only for Twilio. */
interface CatalogEntry {
  readonly host?: string;
  readonly method: string;
  readonly path: string;
  readonly operation: string;
  readonly class: string;
}

const TABLES: Record<VendorName, readonly (OperationRow & { readonly host?: string })[]> = {
  stripe: STRIPE_OPERATIONS,
  twilio: TWILIO_OPERATIONS,
  resend: RESEND_OPERATIONS,
};

/** `keybrake catalog <vendor> [--json]`: the text to print on stdout. */
export function catalogCommand(argv: readonly string[]): string {
  const { values, positionals } = parseFlags(argv, CATALOG_FLAGS, process.env, { positionals: true });
  const vendor = positionals[0] as VendorName | undefined;
  if (positionals.length !== 1 || vendor === undefined || !VENDORS.includes(vendor)) {
    throw new UsageError('expected: keybrake catalog <stripe|twilio|resend>');
  }
  const entries = TABLES[vendor].map(
    (row): CatalogEntry => ({
      ...(row.host !== undefined ? { host: row.host } : {}),
      method: row.method,
      path: row.path,
      operation: row.id,
      class: row.class,
    }),
  );
  return values.json === true ? entries.map((e) => JSON.stringify(e)).join('\n') : table(entries);
}

/**
 * Prints the catalog on stdout; a reader that stops early (`keybrake catalog twilio | head`) ends
 * the output quietly instead of crashing the process.
 */
export async function printCatalog(
  argv: readonly string[],
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const text = `${catalogCommand(argv)}\n`;
  await new Promise<void>((resolve, reject) => {
    const settle = (err?: NodeJS.ErrnoException | null) =>
      !err || err.code === 'EPIPE' ? resolve() : reject(err);
    // The error also arrives as an event: listening keeps it from being thrown as unhandled.
    out.on('error', settle);
    out.write(text, settle);
  });
  return 0;
}

/**
 * Aligned columns under a header line. Method and path are one column, one space apart, as an
 * `allow.endpoints` entry is written: padded apart, a copied row (`DELETE  /v1/…`) was refused.
 */
function table(entries: readonly CatalogEntry[]): string {
  const withHost = entries.some((e) => e.host !== undefined);
  const header = [...(withHost ? ['HOST'] : []), 'ENDPOINT', 'OPERATION', 'CLASS'];
  const rows = entries.map((e) => [
    ...(withHost ? [e.host ?? ''] : []),
    `${e.method} ${e.path}`,
    e.operation,
    e.class,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows]
    .map((cells) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  '))
    .join('\n');
}
