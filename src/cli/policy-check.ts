import type { RawDocument, ResourceSet } from '../api/resource-set.ts';
import { formatDocumentError } from '../api/resource-set.ts';
import { secretValue } from '../api/v1alpha1/secret.ts';
import type { SpendPolicy } from '../api/v1alpha1/spend-policy.ts';
import type { VaultKey } from '../api/v1alpha1/vault-key.ts';
import { assemble, type CheckOptions, checkDocuments, validate } from '../api/validate.ts';
import { type Clock, systemClock } from '../clock.ts';
import { compile } from '../compiler/compile.ts';
import type { Explanation } from '../proxy/explain.ts';
import type { CompiledKey, Snapshot, VendorName } from '../snapshot/types.ts';
import { createFileReader, flattenEntries, loadManifests } from '../sources/file/load.ts';
import { tokenPrefixesOf } from '../tokens/redact.ts';
import type { PricingOverrides } from '../vendors/registry.ts';
import { type Flags, parseFlags, UsageError } from './args.ts';
import { credentialInSidMessage, credentialsInSids } from './credential-in-sid-warnings.ts';
import { redactedExplanation } from './explain-redaction.ts';
import { octalWarnings } from './octal-warnings.ts';
import { policyWarnings } from './policy-warnings.ts';
import { loadPricingFile, pricingValueError } from './pricing-file.ts';
import { readRegularFile } from './regular-file.ts';
import { secretClashes, secretClashMessage } from './secret-clash-warnings.ts';
import { unreadReference } from './unread-references.ts';
import { unservedByErrors } from './unserved-by-errors.ts';
import { upstreamShapeWarnings } from './upstream-shape-warnings.ts';

export const POLICY_CHECK_SUMMARY =
  'Validates SpendPolicy, VaultKey and Secret manifests offline: every problem with its file,\n' +
  'document and field. Exits 1 when any manifest is invalid, when a VaultKey could never be served\n' +
  '(its SpendPolicy missing or invalid or for another vendor, its token malformed or shared), or when\n' +
  'there is none. A missing Secret, an expired or suspended key is a warning: Secrets live elsewhere.\n' +
  'So is an allowlist entry that can never match or is listed twice, a limit above a cap bounding it,\n' +
  'or a number written with a leading 0 (0120), which reads as octal (80), as kubectl reads it.\n' +
  '\n' +
  "With --explain, answers what Keybrake would decide for one request made with one of the manifests'\n" +
  'vault keys, and why: the operation, its class and price, every check passed or failed, and the final\n' +
  'reason, as the proxy would give it. Nothing is sent: a price the proxy would look up is shown as the\n' +
  'read it would make, and the day, month, run and minute caps as what the call would add to them.\n' +
  'Secrets missing from the manifests are stood in for by placeholders. Exits 0 when the request would\n' +
  'be allowed, 1 when denied, 2 on a usage error.\n' +
  '\n' +
  "  keybrake policy-check ./keys --explain --key agents/support-bot-stripe --request 'POST /v1/refunds' \\\n" +
  "      --body 'amount=500&charge=ch_1' --header 'Stripe-Account: acct_1'";

export const POLICY_CHECK_FLAGS = {
  explain: {
    type: 'boolean',
    help: 'explain the decision on one request (--key, --request) instead of only validating',
  },
  key: {
    type: 'string',
    placeholder: 'namespace/name',
    help: 'with --explain: the VaultKey the request is made with (a bare name is in namespace default)',
  },
  request: {
    type: 'string',
    placeholder: 'METHOD /path',
    help: "with --explain: e.g. 'POST /v1/refunds', the path as the vendor's SDK sends it (a /<vendor> prefix and a ?query may be given); a Twilio path not on api.twilio.com starts with its host: 'POST /verify/v2/Services/VA…/Verifications' for verify.twilio.com",
  },
  body: {
    type: 'string',
    placeholder: 'text',
    help: 'with --explain: the body as the client sends it (form for Stripe and Twilio, JSON for Resend)',
  },
  'body-file': { type: 'string', placeholder: 'file', help: 'with --explain: read the body from a file' },
  header: {
    type: 'string',
    multiple: true,
    whole: true,
    placeholder: 'Name: value',
    help: "with --explain: a request header, e.g. 'Stripe-Account: acct_1' or 'Keybrake-Run-Id: run-7'; Content-Type defaults to the vendor's",
  },
  json: { type: 'boolean', help: 'with --explain: print one JSON object instead of text' },
  pricing: {
    type: 'string',
    placeholder: 'file',
    help: 'with --explain: the price overrides the proxy runs with (as serve --pricing)',
  },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Flags;

const EXPLAIN_ONLY = ['key', 'request', 'body', 'body-file', 'json', 'pricing'] as const;

export async function policyCheckCommand(argv: readonly string[]): Promise<number> {
  // Headers are taken before the flag parser, which would split a value at its commas (baggage).
  const { rest, headers } = takeHeaders(argv);
  const { values, positionals } = parseFlags(rest, POLICY_CHECK_FLAGS, process.env, { positionals: true });
  if (positionals.length === 0) throw new UsageError('give at least one manifest file or directory');
  if (values.explain !== true) {
    // Only what the command line says: a KEYBRAKE_* variable set for another command changes nothing here.
    const given = (flag: string) => rest.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`));
    const stray = [...EXPLAIN_ONLY.filter(given), ...(headers.length > 0 ? ['header'] : [])];
    if (stray.length > 0) throw new UsageError(`--${stray[0]} needs --explain`);
    const { ok, lines } = await policyCheck(positionals);
    (ok ? process.stdout : process.stderr).write(`${lines.join('\n')}\n`);
    return ok ? 0 : 1;
  }
  // KEYBRAKE_HEADER holds comma-separated headers, like every repeatable flag's variable.
  if (headers.length === 0 && Array.isArray(values.header)) {
    for (const h of values.header) headers.push(parseHeader(h));
  }
  const key = values.key as string | undefined;
  const request = values.request as string | undefined;
  if (key === undefined) throw new UsageError('--explain needs --key <namespace/name>');
  if (request === undefined) throw new UsageError("--explain needs --request 'METHOD /path'");
  if (values.body !== undefined && values['body-file'] !== undefined) {
    throw new UsageError('give --body or --body-file, not both');
  }
  const body =
    values['body-file'] !== undefined
      ? await readRegularFile(values['body-file'] as string).catch((err: Error) => {
          throw new UsageError(`--body-file: ${err.message}`);
        })
      : values.body !== undefined
        ? Buffer.from(values.body as string, 'utf8')
        : undefined;
  const pricingFile = values.pricing as string | undefined;
  const pricing = await loadPricingFile(pricingFile);
  // Its values are the vendors' to check: one they refuse is the file's error, named (exit 2).
  const { createVendors } = await import('../vendors/registry.ts');
  try {
    createVendors(pricing);
  } catch (err) {
    throw pricingValueError(pricingFile, err);
  }
  const result = await explainPolicy(positionals, {
    key,
    request,
    headers,
    ...(body !== undefined ? { body } : {}),
    pricing,
  });
  const { renderExplanation } = await import('../proxy/explain.ts');
  process.stdout.write(
    values.json === true
      ? `${JSON.stringify({ ...result.explanation, ...(result.notes.length > 0 ? { notes: result.notes } : {}) })}\n`
      : `${renderExplanation(result.explanation, result.notes)}\n`,
  );
  return result.explanation.decision === 'allow' ? 0 : 1;
}

/**
 * What keeps a VaultKey from being served whatever Secrets the cluster holds: a mistake in the
 * manifests themselves, so an error of the check (a typo in `policyRef` must fail a CI gate).
 */
const MANIFEST_ERRORS: ReadonlySet<string> = new Set([
  'PolicyNotFound',
  'PolicyInvalid',
  'VendorMismatch',
  'TokenInvalid',
  'TokenConflict',
]);

/**
 * The check behind `keybrake policy-check <paths…>`: every document error and every key the
 * manifests alone keep from being served (ok=false), then other compile-time problems (a missing
 * Secret, an expired or suspended key, a request rate too low for the lookups a policy admits, an
 * allowlist entry that never matches or repeats, a limit above a cap that bounds it, a zero-padded
 * number read as octal, an upstream key not shaped like the vendor's, a Secret field in both data and
 * stringData with different values, a Twilio secret inside its own SID) as warnings, then a summary.
 * Safe for CI logs: no secrets.
 */
export async function policyCheck(
  paths: readonly string[],
  opts: { clock?: Clock; defaultNamespace?: string } = {},
): Promise<{ ok: boolean; lines: string[] }> {
  // Files are read as serve reads them: a uid in a file (copied from the cluster) is ignored, and its
  // status holds only the operator's fields.
  const loaded = await loadVerdicts(paths, {
    ignoreUid: true,
    closedStatus: true,
    ...(opts.defaultNamespace !== undefined && { defaultNamespace: opts.defaultNamespace }),
  });
  const { set, errors } = assemble(loaded.verdicts);
  const allErrors = [...loaded.errors, ...errors];
  const lines = allErrors.map((e) => `error: ${formatDocumentError(e)}`);
  // Nothing to check is not a pass: a CI step pointed at the wrong directory must fail.
  const empty = set.policies.length === 0 && set.keys.length === 0 && allErrors.length === 0;
  if (empty) lines.push(`error: no SpendPolicy or VaultKey in ${paths.join(', ')}`);
  // Only what is not Ready is reported: no status object per Ready key (a third of the compile's
  // allocations at 100 000 keys), and no run secrets or run-key index (nothing here checks a run token).
  const { statuses, snapshot } = compile(set, {
    version: 0,
    clock: opts.clock ?? systemClock,
    readyStatuses: false,
    runKeyIndex: false,
    runSecrets: false,
  });
  let unservable = 0;
  const keyNamed = keysByName(set.keys, allErrors.length > 0);
  for (const s of statuses) {
    const c = s.conditions[0];
    // Rejected objects are already reported as errors above.
    if (c && c.status !== 'True' && c.reason !== 'Invalid') {
      const error = MANIFEST_ERRORS.has(c.reason);
      // An object missing because its file has errors is that file's error, already counted.
      const key = s.kind === 'VaultKey' ? keyNamed.get(`${s.namespace}/${s.name}`) : undefined;
      const unread = key && unreadReference(key, c.reason, allErrors);
      if (error && !unread) unservable++;
      lines.push(
        `${error ? 'error' : 'warning'}: ${s.kind} ${s.namespace}/${s.name}: ${c.reason}: ${unread ?? c.message}`,
      );
    }
  }
  lines.push(...loaded.octal);
  // Loaded only when a policy could need it: the plain check does not read the operation tables.
  if (set.policies.some((p) => p.spec.limits?.requestsPerMinute === 1)) {
    const { lookupRateWarnings } = await import('./lookup-rate.ts');
    lines.push(...lookupRateWarnings(set.policies));
  }
  lines.push(...(await allowlistWarnings(set.policies)));
  lines.push(...upstreamShapeWarnings(set.keys, set.secrets));
  lines.push(...secretClashes(set.secrets).map((c) => `warning: ${secretClashMessage(c)}`));
  lines.push(...credentialsInSids(set.keys, set.secrets).map((c) => `warning: ${credentialInSidMessage(c)}`));
  const errorCount = allErrors.length + unservable + (empty ? 1 : 0);
  const ok = errorCount === 0;
  // "served" is what serve would serve: not a key the compile serves from the first of two
  // definitions of its token Secret, which serve takes out (unserved-by-errors.ts). Only files with
  // errors can hold such a key.
  let served = snapshot.keys.size;
  if (allErrors.length > 0) {
    const out = unservedByErrors(set.keys, allErrors, loaded.verdicts, set.rejected);
    const compiled = new Set([...snapshot.keys.values()].map((k) => `${k.namespace}/${k.name}`));
    for (const [k, why] of out) {
      const ref = `${k.metadata.namespace}/${k.metadata.name}`;
      if (!compiled.has(ref)) continue;
      served--;
      lines.push(
        `warning: VaultKey ${ref}: not counted as served: ${why} (serve refuses these manifests, and takes the key out on a reload until that is fixed)`,
      );
    }
  }
  lines.push(
    `${ok ? 'ok' : 'failed'}: ${set.policies.length} SpendPolicy, ${set.keys.length} VaultKey, ${served} served, ${errorCount} error(s)`,
  );
  return { ok, lines };
}

/** The keys by `namespace/name`, built only when files had errors (else nothing can be unread). */
function keysByName(keys: readonly VaultKey[], needed: boolean): ReadonlyMap<string, VaultKey> {
  return new Map(needed ? keys.map((k) => [`${k.metadata.namespace}/${k.metadata.name}`, k]) : []);
}

/**
 * policyWarnings, with libphonenumber's territories loaded only when a policy lists countries: the
 * plain check does not otherwise read the vendors' tables.
 */
async function allowlistWarnings(policies: readonly SpendPolicy[]): Promise<string[]> {
  if (!policies.some((p) => p.spec.allow?.countries !== undefined)) return policyWarnings(policies);
  const { resolvableCountries } = await import('../vendors/twilio/destinations.ts');
  const { UNKNOWN_COUNTRY } = await import('../vendors/twilio/parties.ts');
  return policyWarnings(policies, { resolvable: resolvableCountries(), unknown: UNKNOWN_COUNTRY });
}

/**
 * `validate(loadManifests(paths).documents)`, a file at a time: each file's documents are checked as
 * it is read and dropped, as the file source does, rather than all of them held until the last file
 * is read (at 100 000 keys 200 000 documents, which the collector then moved to the old generation
 * and marked, only to drop them after validation).
 */
async function loadVerdicts(paths: readonly string[], opts: CheckOptions) {
  const reader = createFileReader({
    digest: (parsed, text, file) => ({
      errors: parsed.errors,
      verdicts: checkDocuments(parsed.documents, opts),
      octal: octalWarnings(text, file),
    }),
  });
  const entries = await reader.load(paths);
  const { items: verdicts, errors } = flattenEntries(entries, (f) => f.verdicts);
  const { items: octal } = flattenEntries(entries, (f) => f.octal);
  return { verdicts, errors, octal };
}

/** One request to explain, as the flags give it. */
export interface ExplainOptions {
  /** `namespace/name` of the VaultKey (a bare name: namespace `default`). */
  readonly key: string;
  /** `METHOD /path[?query]`. */
  readonly request: string;
  readonly headers?: readonly (readonly [string, string])[];
  readonly body?: Buffer;
  readonly pricing?: PricingOverrides;
  readonly clock?: Clock;
}

/**
 * `policy-check --explain`: compiles the manifests as `serve` would, finds the key by name and hands
 * its CompiledKey to the explainer (src/proxy/explain.ts). A Secret the manifests do not hold is stood
 * in for by a placeholder (offline nothing is sent with it), and said so in the notes. A key the
 * manifests do not have at all is a usage error; one they have but would not serve is `key_unknown`.
 * Every Keybrake key the request carries is shown as its fingerprint, as the proxy records it.
 */
export async function explainPolicy(
  paths: readonly string[],
  opts: ExplainOptions,
): Promise<{ explanation: Explanation; notes: string[] }> {
  const { explanation, notes, snapshot, token } = await explainUnredacted(paths, opts);
  if (explanation.reason === 'route_unknown') throw unroutedRequest(explanation.vendor);
  return { explanation: redactedExplanation(explanation, tokenPrefixesOf(snapshot), token), notes };
}

/**
 * A request explain cannot route is a mistake in the command line, not a decision of the proxy: only
 * a Twilio path naming no host gets here, and the proxy's refusal ("on this listener") spoke of a
 * listener the user never ran (a new-user walkthrough, sixth round, wrote the Verify path as
 * twilio-node sends it, without its host). The path is not echoed: it may hold a pasted credential.
 */
function unroutedRequest(vendor: VendorName | undefined): UsageError {
  if (vendor !== 'twilio') return new UsageError('--request: no route for this path');
  return new UsageError(
    "--request: a Twilio path not on api.twilio.com starts with its host, as the SDK's host would: " +
      "'POST /verify/v2/Services/VA…/Verifications' for verify.twilio.com, '/messaging/v1/…' for " +
      'messaging.twilio.com (api.twilio.com paths start with /2010-04-01)',
  );
}

async function explainUnredacted(
  paths: readonly string[],
  opts: ExplainOptions,
): Promise<{ explanation: Explanation; notes: string[]; snapshot?: Snapshot; token?: string }> {
  const { explain, unservedKey } = await import('../proxy/explain.ts');
  const { createVendors } = await import('../vendors/registry.ts');
  const { DEFAULT_PARSE_LIMITS } = await import('../proxy/defaults.ts');
  const clock = opts.clock ?? systemClock;
  const [method, target] = parseRequest(opts.request);
  const [namespace, name] = opts.key.includes('/') ? opts.key.split('/', 2) : ['default', opts.key];
  const ref = `${namespace}/${name}`;

  const loaded = await loadManifests(paths);
  const first = validate(loaded.documents, { ignoreUid: true, closedStatus: true });
  const declared = first.set.keys.find((k) => k.metadata.namespace === namespace && k.metadata.name === name);
  const rejected = first.set.rejected.find(
    (r) => r.kind === 'VaultKey' && r.namespace === namespace && r.name === name,
  );
  if (!declared && !rejected) {
    const known = first.set.keys.map((k) => `${k.metadata.namespace}/${k.metadata.name}`);
    throw new UsageError(
      `no VaultKey ${ref} in the manifests${known.length > 0 ? ` (VaultKeys: ${known.join(', ')})` : ''}`,
    );
  }
  const notes = [...loaded.errors, ...first.errors].map((e) => `manifest error: ${formatDocumentError(e)}`);
  if (!declared) {
    return {
      explanation: unservedKey(ref, method, target, `VaultKey ${ref} is invalid, so no proxy serves it.`),
      notes,
    };
  }
  const placeholders = placeholderSecrets(first.set, declared.spec, namespace!, target);
  const set =
    placeholders.length > 0
      ? validate([...loaded.documents, ...placeholders.map((p) => p.doc)], {
          ignoreUid: true,
          closedStatus: true,
        }).set
      : first.set;
  notes.push(...placeholders.map((p) => p.note));
  // The key's token (the manifests' or the placeholder's): a call carrying it is refused, as the proxy
  // does, and it is never printed.
  const tokenRef = declared.spec.tokenSecretRef;
  const tokenSecret = set.secrets.find(
    (s) => s.metadata.namespace === namespace && s.metadata.name === tokenRef.name,
  );
  const token = tokenSecret ? secretValue(tokenSecret, tokenRef.key)?.trim() : undefined;
  const { snapshot, statuses } = compile(set, { version: 0, clock });
  const key = [...snapshot.keys.values()].find(
    (k: CompiledKey) => k.namespace === namespace && k.name === name,
  );
  if (!key) {
    const c = statuses.find((s) => s.kind === 'VaultKey' && s.namespace === namespace && s.name === name)
      ?.conditions[0];
    const why = c ? `${c.reason}: ${c.message}` : 'it is not served';
    return {
      explanation: unservedKey(
        ref,
        method,
        target,
        `VaultKey ${ref} is not served (${why}), so its token is unknown.`,
        declared.spec.vendor,
      ),
      notes,
      snapshot,
      ...(token ? { token } : {}),
    };
  }
  const headers = [...(opts.headers ?? [])];
  if (
    opts.body !== undefined &&
    opts.body.length > 0 &&
    !headers.some(([n]) => n.toLowerCase() === 'content-type')
  ) {
    headers.push(['Content-Type', CONTENT_TYPE[key.vendor]]);
  }
  const explanation = explain(
    key,
    {
      method,
      target,
      headers,
      ...(opts.body !== undefined ? { body: opts.body } : {}),
      ...(token ? { token } : {}),
    },
    { vendors: createVendors(opts.pricing), parseLimits: DEFAULT_PARSE_LIMITS, clock, snapshot },
  );
  return { explanation, notes, snapshot, ...(token ? { token } : {}) };
}

/** The content type each vendor's SDK sends, used when --header gives none. */
const CONTENT_TYPE: Record<VendorName, string> = {
  stripe: 'application/x-www-form-urlencoded',
  twilio: 'application/x-www-form-urlencoded',
  resend: 'application/json',
};

function parseRequest(text: string): [string, string] {
  const m = /^\s*([A-Za-z]+)\s+(\/\S*)\s*$/.exec(text);
  if (!m) throw new UsageError(`--request "${text}": expected 'METHOD /path', e.g. 'POST /v1/refunds'`);
  return [m[1]!.toUpperCase(), m[2]!];
}

/** `--header 'Name: value'` (repeatable; also `--header=…`), taken out of argv before the flag parser. */
export function takeHeaders(argv: readonly string[]): { rest: string[]; headers: [string, string][] } {
  const rest: string[] = [];
  const headers: [string, string][] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    let value: string | undefined;
    if (a === '--header') {
      value = argv[++i];
      if (value === undefined) throw new UsageError("--header needs a value: 'Name: value'");
    } else if (a.startsWith('--header=')) {
      value = a.slice('--header='.length);
    } else {
      rest.push(a);
      continue;
    }
    headers.push(parseHeader(value));
  }
  return { rest, headers };
}

function parseHeader(value: string): [string, string] {
  const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/.exec(value);
  if (!m) throw new UsageError(`--header "${value}": expected 'Name: value'`);
  return [m[1]!, m[2]!];
}

/**
 * Secrets the key refers to that the manifests do not hold (policies are usually written apart from
 * the cluster's Secrets): placeholder documents, so the key compiles. Offline nothing is sent with
 * them; a Twilio placeholder takes the account the request's path names, so the account check passes.
 */
function placeholderSecrets(
  set: ResourceSet,
  spec: {
    vendor: VendorName;
    upstreamSecretRef: { name: string; key?: string | undefined };
    tokenSecretRef: { name: string; key: string };
  },
  namespace: string,
  target: string,
): { doc: RawDocument; note: string }[] {
  const has = (n: string) =>
    set.secrets.some((s) => s.metadata.namespace === namespace && s.metadata.name === n);
  const missing = new Map<string, { data: Record<string, string>; what: string[] }>();
  const need = (n: string, data: Record<string, string>, what: string) => {
    if (has(n)) return;
    const entry = missing.get(n) ?? { data: {}, what: [] };
    Object.assign(entry.data, data);
    entry.what.push(what);
    missing.set(n, entry);
  };
  const upstream = spec.upstreamSecretRef;
  if (spec.vendor === 'twilio') {
    const account = /\/Accounts\/(AC[0-9A-Za-z]+)/.exec(target)?.[1] ?? `AC${'0'.repeat(32)}`;
    need(
      upstream.name,
      { accountSid: account, authToken: 'placeholder' },
      `the upstream credential, account ${account}`,
    );
  } else {
    need(
      upstream.name,
      { [upstream.key ?? 'apiKey']: 'placeholder-not-a-credential' },
      'the upstream credential',
    );
  }
  const token = spec.tokenSecretRef;
  need(
    token.name,
    { [token.key]: `policy-check-explain-placeholder-${namespace}-${token.name}` },
    'the vault token; --explain finds the key by name',
  );
  return [...missing].map(([n, { data, what }], index) => ({
    doc: {
      source: '(policy-check --explain placeholder)',
      index,
      doc: { apiVersion: 'v1', kind: 'Secret', metadata: { name: n, namespace }, stringData: data },
    },
    note: `Secret ${namespace}/${n} (${what.join('; ')}) is not in the manifests: a placeholder stands in for it, and nothing is sent.`,
  }));
}
