/**
 * What the catalog generator reads from a vendor's own API definition, before review: one entry per
 * operation with the id derived from the definition's names. Review (review.ts) adds the class.
 */

/** One operation of a vendor's definition. */
export interface DefinedOperation {
  /** Twilio sub host (`api`, `verify`, …); absent for single-host vendors. */
  readonly host?: string;
  /** Upper-case HTTP method. */
  readonly method: string;
  /** The path template as the definition writes it. */
  readonly path: string;
  /** Catalog id derived mechanically from the definition (review may keep an older one instead). */
  readonly id: string;
  /** The request body the definition declares (Twilio): its encoding, parameter names, and the ones that may repeat. */
  readonly body?: RequestBody;
}

/** The request body of an operation: top-level parameter names, and the ones declared as arrays. */
export interface RequestBody {
  readonly type: 'form' | 'json';
  readonly names: readonly string[];
  readonly lists: readonly string[];
}

/** A vendor definition as loaded: where it came from, for the generated file's header, and its operations. */
export interface Definition {
  /** e.g. `github.com/stripe/stripe-mock@v0.203.0 embedded/openapi/spec3.json (2026-08-26.dahlia)`. */
  readonly source: string;
  readonly operations: readonly DefinedOperation[];
}

/** Thrown when a pinned definition is not on this machine; the message says how to get it. */
export class DefinitionMissing extends Error {
  override readonly name = 'DefinitionMissing';
}

/** `CreateIncomingPhoneNumberLocal` → `create_incoming_phone_number_local`; `UpdateDomainCertV4` → `update_domain_cert_v4`. */
export function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toLowerCase();
}

/** Orders operations the way every generated table lists them: host, path, then method. */
export function compareOperations(a: DefinedOperation, b: DefinedOperation): number {
  return (
    compare(a.host ?? '', b.host ?? '') ||
    compare(a.path, b.path) ||
    compare(METHOD_ORDER(a.method), METHOD_ORDER(b.method))
  );
}

const METHOD_ORDER = (m: string): string => `${['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].indexOf(m)}${m}`;

/** Code-unit order, independent of the machine's locale, so generated files are the same everywhere. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
