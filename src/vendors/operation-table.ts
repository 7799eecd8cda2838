/**
 * The shape every vendor's operations table (`<vendor>/operations.ts`) shares, and the matcher its
 * classify step (price stage) runs a request through. A row is one method + path template the vendor
 * serves, written as the vendor's API definition writes it (`/v1/charges/{charge}/capture`), with the
 * catalog id Keybrake reports and the rule classify prices it by: a table that can be generated from
 * that definition row by row.
 *
 * Rows are tried in table order, so a literal path must come before a template that also matches it
 * (`/emails/batch` before `/emails/{id}`). Templates are compiled once, when a table is.
 */

/** One row of a vendor's operations table: what classify matches a request against. */
export interface OperationRow<Rule extends string> {
  /** Catalog id, e.g. `stripe.refunds.create`; several rows may share one. */
  readonly id: string;
  /** Upper-case HTTP method. */
  readonly method: string;
  /** `{name}` matches one non-empty path segment (or part of one); a final `/**` the path or anything below it. */
  readonly path: string;
  /** How classify prices the call: each vendor's own rules. */
  readonly rule: Rule;
}

/** A row a request matched, with the values of its `{name}` placeholders in path order. */
export interface OperationMatch<Row> {
  readonly row: Row;
  readonly segments: readonly string[];
}

/** Finds the first row for a method and path; undefined when the table has none. */
export type OperationMatcher<Row> = (method: string, path: string) => OperationMatch<Row> | undefined;

/** Compiles a table (or the part of it for one host) into its matcher. */
export function compileOperations<Row extends OperationRow<string>>(
  rows: readonly Row[],
): OperationMatcher<Row> {
  const byMethod = new Map<string, { row: Row; regex: RegExp }[]>();
  for (const row of rows) {
    const list = byMethod.get(row.method) ?? [];
    list.push({ row, regex: templateRegex(row.path) });
    byMethod.set(row.method, list);
  }
  return (method, path) => {
    for (const { row, regex } of byMethod.get(method) ?? []) {
      const m = regex.exec(path);
      if (m) return { row, segments: m.slice(1) };
    }
    return undefined;
  };
}

const PLACEHOLDER = /\{[^{}/]+\}/;
const ANY_BELOW = '/**';

/** `/v1/charges/{charge}/capture` → `^/v1/charges/([^/]+)/capture$`; `/domains/**` → `^/domains(?:/.*)?$`. */
function templateRegex(template: string): RegExp {
  const below = template.endsWith(ANY_BELOW);
  const fixed = below ? template.slice(0, -ANY_BELOW.length) : template;
  const body = fixed.split(PLACEHOLDER).map(escapeRegex).join('([^/]+)');
  return new RegExp(`^${body}${below ? '(?:/.*)?' : ''}$`);
}

function escapeRegex(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
