import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DefinedOperation, type Definition, DefinitionMissing } from './definition.ts';

/**
 * Stripe's API definition, as pinned: the OpenAPI document the stripe-mock Go module embeds. The
 * operations come from `spec3.json` (the GA API); the method names ids are built from come from the
 * `x-stripeOperations` of `spec3.beta.sdk.json` in the same module (the GA file does not carry them),
 * the names Stripe's SDKs are generated with.
 */
export const STRIPE_MODULE = 'github.com/stripe/stripe-mock';
export const STRIPE_MODULE_VERSION = 'v0.203.0';
const SPEC = 'embedded/openapi/spec3.json';
const SDK_SPEC = 'embedded/openapi/spec3.beta.sdk.json';
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

interface OpenApi {
  readonly info: { readonly version: string };
  readonly paths: Record<string, Partial<Record<(typeof METHODS)[number], unknown>>>;
  readonly components: { readonly schemas: Record<string, StripeSchema> };
}

interface StripeSchema {
  readonly 'x-stripeOperations'?: readonly {
    readonly method_name: string;
    readonly method_type: string;
    readonly operation: string;
    readonly path: string;
  }[];
}

/**
 * Loads the pinned definition; throws DefinitionMissing (with the fix) when it is not on this machine.
 * `go` is the Go command to locate the module with (tests pass a missing one).
 */
export function loadStripeDefinition(go = 'go'): Definition {
  const dir = moduleDir(go);
  const spec = readJson(join(dir, SPEC));
  const names = methodNames(readJson(join(dir, SDK_SPEC)));
  const operations: DefinedOperation[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of METHODS) {
      if (!item[method]) continue;
      const upper = method.toUpperCase();
      operations.push({ method: upper, path, id: stripeId(upper, path, names.get(`${upper} ${path}`)) });
    }
  }
  return {
    source: `${STRIPE_MODULE}@${STRIPE_MODULE_VERSION} ${SPEC} (${spec.info.version})`,
    operations,
  };
}

function moduleDir(go: string): string {
  const fix = `run \`go mod download ${STRIPE_MODULE}@${STRIPE_MODULE_VERSION}\` (Go ≥ 1.22 with access to the Go module proxy)`;
  let out: string;
  try {
    out = execFileSync(go, ['mod', 'download', '-json', `${STRIPE_MODULE}@${STRIPE_MODULE_VERSION}`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 180_000,
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    const why =
      e.code === 'ENOENT' ? 'the go command is not installed' : (e.stdout || e.stderr || e.message).trim();
    throw new DefinitionMissing(`Stripe's API definition is not available (${why}): ${fix}.`);
  }
  const dir = (JSON.parse(out) as { Dir?: string }).Dir;
  if (!dir)
    throw new DefinitionMissing(`go mod download did not report a directory for ${STRIPE_MODULE}: ${fix}.`);
  return dir;
}

function readJson(path: string): OpenApi {
  return JSON.parse(readFileSync(path, 'utf8')) as OpenApi;
}

/** `METHOD path` → the method names Stripe's SDK definition gives that operation, standard ones first. */
function methodNames(sdk: OpenApi): Map<string, string[]> {
  const found = new Map<string, { name: string; custom: boolean }[]>();
  for (const schema of Object.values(sdk.components.schemas)) {
    for (const op of schema['x-stripeOperations'] ?? []) {
      const key = `${op.operation.toUpperCase()} ${op.path}`;
      const list = found.get(key) ?? [];
      list.push({ name: op.method_name, custom: op.method_type === 'custom' });
      found.set(key, list);
    }
  }
  const names = new Map<string, string[]>();
  for (const [key, list] of found) {
    // A list of persons is `persons.list` rather than the account's custom `persons` method.
    list.sort(
      (a, b) => Number(a.custom) - Number(b.custom) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
    );
    names.set(
      key,
      list.map((n) => n.name),
    );
  }
  return names;
}

/**
 * `stripe.<literal path segments>.<method name>`: `POST /v1/refunds` → `stripe.refunds.create`,
 * `POST /v1/invoices/{invoice}/finalize` → `stripe.invoices.finalize_invoice` (the last segment names
 * the action the method name already says, so it is not repeated), `POST /v1/accounts/{account}/login_links`
 * → `stripe.accounts.login_links.create`. Without a method name (legacy paths) the verb follows the
 * REST shape: list/retrieve, create/update, delete.
 */
export function stripeId(method: string, path: string, names: readonly string[] | undefined): string {
  const segments = path.split('/').filter((s) => s !== '' && s !== 'v1');
  const literals = segments.filter((s) => !s.startsWith('{'));
  const endsInParam = segments.at(-1)?.startsWith('{') ?? false;
  const verb = names?.[0] ?? restVerb(method, endsInParam);
  const last = literals.at(-1);
  const actionSegment =
    !endsInParam &&
    last !== undefined &&
    literals.length > 1 &&
    (verb === last || verb.startsWith(`${last}_`) || verb.endsWith(`_${last}`));
  const namespace = actionSegment ? literals.slice(0, -1) : literals;
  return ['stripe', ...namespace, verb].join('.');
}

function restVerb(method: string, endsInParam: boolean): string {
  switch (method) {
    case 'GET':
      return endsInParam ? 'retrieve' : 'list';
    case 'DELETE':
      return 'delete';
    default:
      return endsInParam ? 'update' : 'create';
  }
}
