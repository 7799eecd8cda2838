import { escapeForTerminal } from '../terminal-text.ts';
import type { Secret, SpendPolicy, VaultKey } from './v1alpha1/index.ts';

/** One parsed document as a source hands it to `validate` (a YAML document, or an informer object). */
export interface RawDocument {
  /** Where it came from: a file path, or e.g. `kubernetes` for informer objects. */
  readonly source: string;
  /** 0-based position of the document in its source (messages show it 1-based). */
  readonly index: number;
  readonly doc: unknown;
}

/** A precise validation problem: which file, which document, which field, what is wrong. */
export interface DocumentError {
  readonly source: string;
  /** 0-based document index within `source`. */
  readonly index: number;
  readonly kind?: string;
  readonly namespace?: string;
  readonly name?: string;
  /** Dotted field path, e.g. `spec.limits.perDayUsd` or `spec.allow.endpoints[2]`; empty for the whole document. */
  readonly path: string;
  readonly message: string;
  /** 1-based line, when the source knows it (YAML syntax errors). */
  readonly line?: number;
}

/**
 * An object of our kinds whose metadata could be read but whose spec is invalid. It is never served;
 * the compiler gives it (and keys that point at it) a Ready=False condition so the operator can say why.
 */
export interface RejectedObject {
  readonly kind: 'VaultKey' | 'SpendPolicy';
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
  readonly generation?: number;
  readonly errors: readonly DocumentError[];
  /**
   * A SpendPolicy's `spec.expiresAt`, when it is a valid timestamp though the document is not: the
   * one thing of an invalid policy a refused change still applies (`serve`, revocations.ts), since an
   * earlier expiry can only refuse more.
   */
  readonly expiresAt?: string;
}

/** Validated resources: what sources produce (through `validate`) and the compiler consumes. */
export interface ResourceSet {
  readonly policies: readonly SpendPolicy[];
  readonly keys: readonly VaultKey[];
  readonly secrets: readonly Secret[];
  readonly rejected: readonly RejectedObject[];
}

/**
 * What a source emits (sources → compile runner, DESIGN.md §3): the whole current ResourceSet after a
 * change, with the document errors met on the way. The runner decides what an error means: the file
 * source's changes are refused whole, the cluster's invalid objects become conditions.
 */
export interface ResourceSetUpdate {
  readonly set: ResourceSet;
  readonly errors: readonly DocumentError[];
  /** ms since the epoch when the first change folded into this update was seen (propagation metrics). */
  readonly changedAt: number;
  /** Which file each resource came from (the file source only): see ManifestOrigin. */
  readonly origin?: ManifestOrigin;
}

/** The resource type of each kind. */
export interface Defined {
  readonly VaultKey: VaultKey;
  readonly SpendPolicy: SpendPolicy;
  readonly Secret: Secret;
}

/**
 * Where the resources of a file source's update were read from, and which files it read with an
 * error. With it, a change the runner refuses for an error still applies what it revokes, except
 * in files read with an error, whose resources keep their last good version (revocationsOf).
 */
export interface ManifestOrigin {
  /** The file a resource of the update's set was read from (the first, for a name defined twice). */
  fileOf(kind: 'VaultKey' | 'SpendPolicy' | 'Secret', namespace: string, name: string): string | undefined;
  /**
   * The other definitions of a name the update defines more than once (a `duplicate` error; the
   * set holds the first only), in file order; empty for a name defined once. A refused change
   * revokes what any of them says (revocationsOf): which copy of a file comes first is only the
   * order of its name, and a backup copy sorting first kept a later suspension from applying.
   */
  duplicatesOf<K extends keyof Defined>(kind: K, namespace: string, name: string): readonly Defined[K][];
  /**
   * Whether this update read `file` with an error (or could not read it, or a directory above it).
   * A file that is gone was not read with an error: it defines nothing.
   */
  failed(file: string): boolean;
  /**
   * Whether the update holds a document of this Secret that cannot be read (invalid, or broken as
   * YAML while it names itself: Verdict.unreadableSecret). What the Secret now holds is not known,
   * so a refused change takes out every key whose token or upstream credential it holds.
   */
  unreadableSecret(namespace: string, name: string): boolean;
  /**
   * The namespaces in which `file` now holds a document of this kind and name: valid, invalid, or
   * broken as YAML while it names itself. An object in force gone from a file read with an error is
   * held back, since the error may be what hides it; but one the same file now names in another
   * namespace (its `metadata.namespace` dropped, so `default`, or misspelt) is not hidden: it moved
   * (sixteenth round, probe fixes16 finding 1).
   */
  namespacesIn(kind: 'VaultKey' | 'SpendPolicy' | 'Secret', file: string, name: string): readonly string[];
  /**
   * Whether every document with an error in `file` names the object it is (an invalid VaultKey or
   * SpendPolicy, an unreadable Secret, one broken as YAML that still names itself), and there is
   * one: then what the file no longer holds was not hidden by an error but deleted. False for a file
   * that could not be read or was refused whole, or holds a document with an error naming nothing
   * for sure (sixteenth round).
   */
  hidesNothing(file: string): boolean;
}

/**
 * `<file>: document <n> (<Kind> <ns>/<name>): <field>: <message>`, as `policy-check` and `serve`
 * print it: one line, its control characters escaped. The name, the field path, an unknown key in the
 * message and the file name are the manifest's own text: a sixth-round tester's `metadata.name` of
 * `a/x\e[31mRED\nFAKE: ok` coloured the terminal and forged a line of the output.
 */
export function formatDocumentError(e: DocumentError): string {
  const what =
    e.kind && e.name ? ` (${e.kind} ${e.namespace ?? '?'}/${e.name})` : e.kind ? ` (${e.kind})` : '';
  const field = e.path ? `${e.path}: ` : '';
  // A file or directory that could not be read has no documents to count.
  const where = e.message.startsWith('cannot read') ? '' : `: document ${e.index + 1}${what}`;
  return escapeForTerminal(`${e.source}${where}: ${field}${e.message}`);
}
