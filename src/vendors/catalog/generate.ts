import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RESEND_REVIEW } from '../resend/review.ts';
import { STRIPE_REVIEW } from '../stripe/review.ts';
import { TWILIO_REVIEW } from '../twilio/review.ts';
import { compare, type Definition } from './definition.ts';
import { format, generatedHeader, literal, literals, renderRows, sortedSet } from './render.ts';
import { loadResendDefinition } from './resend-definition.ts';
import { applyReview, type ReviewedOperation, type ReviewRule } from './review.ts';
import { loadStripeDefinition } from './stripe-definition.ts';
import { loadTwilioDefinition } from './twilio-definition.ts';

/**
 * `npm run catalogs`: regenerates every vendor's operations table from its pinned definition and its
 * review file. `--check` writes nothing and exits 1 when a committed file differs from what the
 * definitions and reviews generate (the drift test does the same).
 */

/** One generated file: its path relative to the repository root, and its content. */
export interface GeneratedFile {
  readonly path: string;
  readonly content: string;
}

export const REPOSITORY_ROOT = resolve(import.meta.dirname, '../../..');

/** Every generated file, from the definitions on this machine; throws when a review is incomplete. */
export async function generateCatalogs(root: string = REPOSITORY_ROOT): Promise<GeneratedFile[]> {
  const stripe = reviewed('Stripe', loadStripeDefinition(), STRIPE_REVIEW);
  const twilio = reviewed('Twilio', loadTwilioDefinition(root), TWILIO_REVIEW);
  const resend = reviewed('Resend', await loadResendDefinition(root), RESEND_REVIEW);
  const files = [
    stripeTable(stripe.source, stripe.operations),
    twilioTable(twilio.source, twilio.operations),
    twilioBodies(twilio.source, twilio.operations),
    resendTable(resend.source, resend.operations),
  ];
  return files.map((f) => ({ path: f.path, content: format(root, f.path, f.content) }));
}

/** The definition's operations with their review applied; throws listing every problem of the review. */
export function reviewed<Rule extends string>(
  vendor: string,
  definition: Definition,
  rules: readonly ReviewRule<Rule>[],
): { source: string; operations: readonly ReviewedOperation<Rule>[] } {
  const { operations, problems } = applyReview(definition.operations, rules);
  if (problems.length > 0) {
    throw new Error(`The ${vendor} review is incomplete or wrong:\n  ${problems.join('\n  ')}`);
  }
  return { source: definition.source, operations };
}

function stripeTable(source: string, operations: readonly ReviewedOperation[]): GeneratedFile {
  return {
    path: 'src/vendors/stripe/operations.ts',
    content: `${generatedHeader(source, 'Edit src/vendors/stripe/review.ts, not this file.')}
import type { OperationRow } from '../operation-table.ts';
import type { StripePricingRule } from './rules.ts';

/** One row of the Stripe operations table. */
export type StripeOperationRow = OperationRow<StripePricingRule>;

/** Every operation of Stripe's API definition, with its class and, for money, its pricing rule. */
export const STRIPE_OPERATIONS: readonly StripeOperationRow[] = [
${renderRows(operations)}
];
`,
  };
}

function twilioTable(source: string, operations: readonly ReviewedOperation[]): GeneratedFile {
  const hosts = sortedSet(operations.map((op) => op.host ?? ''));
  return {
    path: 'src/vendors/twilio/operations.ts',
    content: `${generatedHeader(source, 'Edit src/vendors/twilio/review.ts, not this file.')}
import type { OperationRow } from '../operation-table.ts';
import type { TwilioPricingRule } from './rules.ts';

/** One row of the Twilio operations table; \`host\` is the sub host (\`api\` for api.twilio.com). */
export interface TwilioOperationRow extends OperationRow<TwilioPricingRule> {
  readonly host: string;
}

/** The API hosts Twilio's definitions publish (\`<host>.twilio.com\`): the only sub hosts there are. */
export const TWILIO_API_HOSTS: readonly string[] = ${literals(hosts)};

/** Every operation of Twilio's API definitions, with its class and, for money, its pricing rule. */
export const TWILIO_OPERATIONS: readonly TwilioOperationRow[] = [
${renderRows(operations)}
];
`,
  };
}

function twilioBodies(source: string, operations: readonly ReviewedOperation[]): GeneratedFile {
  const entries = operations
    .filter((op) => op.body !== undefined)
    .sort((a, b) => compare(a.id, b.id))
    .map((op) => {
      const body = op.body!;
      return `${literal(op.id)}: { type: ${literal(body.type)}, names: ${literals(body.names)}, lists: ${literals(body.lists)} },`;
    });
  return {
    path: 'src/vendors/twilio/bodies.ts',
    content: `${generatedHeader(source, 'Taken from the definitions as they are: do not edit.')}
/**
 * The request body a Twilio operation declares: its encoding, every top-level parameter name, and the
 * names declared as arrays (the only ones Twilio reads more than once: \`MediaUrl\`). A parameter
 * given twice that is not a list, or one differing only in case from a declared name, is ambiguous.
 */
export interface TwilioRequestBody {
  readonly type: 'form' | 'json';
  readonly names: readonly string[];
  readonly lists: readonly string[];
}

/** Per operation id (\`twilio.api.create_message\`); operations that declare no body are absent. */
export const TWILIO_REQUEST_BODIES: Readonly<Record<string, TwilioRequestBody>> = {
${entries.join('\n')}
};
`,
  };
}

function resendTable(source: string, operations: readonly ReviewedOperation[]): GeneratedFile {
  return {
    path: 'src/vendors/resend/operations.ts',
    content: `${generatedHeader(source, 'Edit src/vendors/resend/review.ts, not this file.')}
import type { OperationRow } from '../operation-table.ts';
import type { ResendPricingRule } from './rules.ts';

/** One row of the Resend operations table. */
export type ResendOperationRow = OperationRow<ResendPricingRule>;

/** Every operation the Resend SDK reaches, with its class and, for money, its pricing rule. */
export const RESEND_OPERATIONS: readonly ResendOperationRow[] = [
${renderRows(operations)}
];
`,
  };
}

/** The committed files that differ from what generation produces now. */
export function drifted(files: readonly GeneratedFile[], root: string = REPOSITORY_ROOT): string[] {
  return files.filter((f) => readOrEmpty(join(root, f.path)) !== f.content).map((f) => f.path);
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const files = await generateCatalogs();
  if (argv.includes('--check')) {
    const stale = drifted(files);
    for (const path of stale) process.stderr.write(`${path} is out of date: run \`npm run catalogs\`\n`);
    return stale.length === 0 ? 0 : 1;
  }
  for (const f of files) writeFileSync(join(REPOSITORY_ROOT, f.path), f.content);
  process.stdout.write(`${files.map((f) => f.path).join('\n')}\n`);
  return 0;
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
