import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type DefinedOperation,
  type Definition,
  DefinitionMissing,
  type RequestBody,
  snakeCase,
} from './definition.ts';

/**
 * Twilio's API definitions, as pinned: the OpenAPI files `@twilio-alpha/mcp` ships in
 * `twilio-oai/spec/json/` (one per product and version, each naming the host it serves). Every
 * operation keeps its host, and the names of its form-body parameters with the ones declared as
 * arrays (repeatable: `MediaUrl`), for the parser.
 */
export const TWILIO_PACKAGE = '@twilio-alpha/mcp';
export const TWILIO_PACKAGE_VERSION = '0.7.0';
const SPEC_DIR = 'twilio-oai/spec/json';
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;
const HOST = /^https:\/\/([a-z0-9-]+)\.twilio\.com$/;
const VERSION = /^v\d+$/;

interface OpenApi {
  readonly servers?: readonly { readonly url: string }[];
  readonly paths: Record<string, PathItem>;
  readonly components?: { readonly schemas?: Record<string, Schema> };
}

type PathItem = Partial<Record<(typeof METHODS)[number], Operation>> & {
  readonly servers?: readonly { readonly url: string }[];
};

interface Operation {
  readonly operationId: string;
  readonly servers?: readonly { readonly url: string }[];
  readonly requestBody?: { readonly content?: Record<string, { readonly schema?: Schema }> };
}

interface Schema {
  readonly type?: string;
  readonly $ref?: string;
  readonly properties?: Record<string, Schema>;
}

/** Loads the pinned definitions; throws DefinitionMissing (with the fix) when they are not installed. */
export function loadTwilioDefinition(root: string): Definition {
  const dir = join(root, 'node_modules', TWILIO_PACKAGE);
  const fix = `run \`npm ci\` (package.json pins ${TWILIO_PACKAGE}@${TWILIO_PACKAGE_VERSION} as a devDependency)`;
  const manifest = join(dir, 'package.json');
  if (!existsSync(manifest)) throw new DefinitionMissing(`${TWILIO_PACKAGE} is not installed: ${fix}.`);
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
  if (version !== TWILIO_PACKAGE_VERSION) {
    throw new DefinitionMissing(
      `${TWILIO_PACKAGE} ${version} is installed, not ${TWILIO_PACKAGE_VERSION}: ${fix}.`,
    );
  }
  const files = readdirSync(join(dir, SPEC_DIR))
    .filter((f) => f.endsWith('.json'))
    .sort();
  const operations = files.flatMap((file) =>
    fileOperations(JSON.parse(readFileSync(join(dir, SPEC_DIR, file), 'utf8')) as OpenApi, file),
  );
  return {
    source: `${TWILIO_PACKAGE}@${TWILIO_PACKAGE_VERSION} ${SPEC_DIR}/*.json (${files.length} files)`,
    operations,
  };
}

function fileOperations(spec: OpenApi, file: string): DefinedOperation[] {
  const operations: DefinedOperation[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const server = (op.servers ?? item.servers ?? spec.servers)?.[0]?.url ?? '';
      const host = HOST.exec(server)?.[1];
      if (!host) throw new Error(`${file}: ${method} ${path} is served from ${server || 'no host'}`);
      const upper = method.toUpperCase();
      const body = requestBody(spec, op);
      operations.push({
        host,
        method: upper,
        path,
        id: twilioId(host, path, op.operationId),
        ...(body ? { body } : {}),
      });
    }
  }
  return operations;
}

/** The form (or JSON) body an operation declares; its properties, resolving one `$ref`. */
function requestBody(spec: OpenApi, op: Operation): RequestBody | undefined {
  const content = op.requestBody?.content ?? {};
  const form = content['application/x-www-form-urlencoded'];
  const json = content['application/json'];
  const declared = form ?? json;
  if (!declared) return undefined;
  let schema = declared.schema ?? {};
  if (schema.$ref)
    schema = spec.components?.schemas?.[schema.$ref.replace('#/components/schemas/', '')] ?? {};
  const properties = schema.properties ?? {};
  const names = Object.keys(properties).sort();
  return { type: form ? 'form' : 'json', names, lists: names.filter((n) => properties[n]?.type === 'array') };
}

/**
 * `twilio.<host>.<version>.<operationId in snake case>`: `twilio.messaging.v1.create_service`,
 * `twilio.verify.v2.create_verification`. The version is the path's first segment when it is one
 * (`v1`, `v2`); the 2010 API of `api` and the unversioned `preview` paths have none:
 * `twilio.api.create_message`. Hyphens in host names become underscores (`twilio.flex_api.v1.…`).
 */
export function twilioId(host: string, path: string, operationId: string): string {
  const first = path.split('/')[1] ?? '';
  const version = VERSION.test(first) ? [first] : [];
  return ['twilio', host.replace(/-/g, '_'), ...version, snakeCase(operationId)].join('.');
}
