import type { FlatFormNames } from '../form.ts';
import { foldName } from '../names.ts';
import type { VendorRequest } from '../types.ts';
import { TWILIO_REQUEST_BODIES, type TwilioRequestBody } from './bodies.ts';
import { matchTwilioOperation } from './classify.ts';
import { TWILIO_EXTRA_BODY_NAMES } from './extra-names.ts';

/**
 * What Twilio's definition declares about a request, for the parse stage: the body of the operation a
 * call resolves to (its encoding, parameter names and list names, `bodies.ts`, with the names Twilio
 * documents that the definition leaves out, `extra-names.ts`), and the query
 * parameters Twilio reads as lists. Parsing needs them before the price stage runs, so the call is
 * resolved here against the same table classify matches.
 */

const ACCOUNT_PATH = /^\/2010-04-01\/Accounts\/([^/]+?)(?:\.json)?(\/.*)?$/;
const ACCOUNTS_LIST = /^\/2010-04-01\/Accounts(?:\.json)?$/;
const JSON_SUFFIX = /\.json$/;

/**
 * Query parameters Twilio's definition (@twilio-alpha/mcp 0.7.0) declares as arrays on some read,
 * Lookup's `Type`, `AddOns` and `Fields` among them: the only names a query may repeat, and spellings
 * a case variant (`fields=`) must not shadow. Until the generated table carries per-operation query
 * parameters, this is their union over every operation.
 */
export const TWILIO_QUERY_LISTS: readonly string[] = [
  'AddOns',
  'AssignmentStatus',
  'BindingType',
  'CategorySid',
  'ChannelEligibility',
  'Codec',
  'ContentType',
  'Fields',
  'GroupingSid',
  'Identity',
  'Language',
  'ReservationId',
  'RoomType',
  'Tag',
  'Type',
];

/** A declared body with its names indexed for the flat form parser. */
export interface DeclaredBody {
  readonly type: TwilioRequestBody['type'];
  readonly names: FlatFormNames;
}

export const QUERY_NAMES: FlatFormNames = indexNames(TWILIO_QUERY_LISTS, TWILIO_QUERY_LISTS);

/** A call whose operation declares no body (or that is not in the table): no list, no known names. */
const UNDECLARED: DeclaredBody = { type: 'form', names: {} };

const indexed = new Map<string, DeclaredBody>();

/**
 * What the table declares for the operation a Twilio call resolves to, matched once: its body
 * (UNDECLARED when there is none, or the call is not in the table) and, for an operation the table
 * has whose definition declares no body, its path parameters, name to value as the call's path gives
 * it (`{BrandRegistrationSid}` → `BN…`). `pathParameters` is undefined for an operation that declares
 * a body, and for a call the table does not have.
 */
export interface Declared {
  readonly body: DeclaredBody;
  readonly pathParameters: ReadonlyMap<string, string> | undefined;
}

const NOT_IN_TABLE: Declared = { body: UNDECLARED, pathParameters: undefined };

export function twilioDeclared(req: VendorRequest): Declared {
  const host = (req.subHost ?? 'api').toLowerCase();
  const method = req.method.toUpperCase();
  const match = matchTwilioOperation(host, method === 'HEAD' ? 'GET' : method, tablePath(host, req.path));
  if (!match) return NOT_IN_TABLE;
  const id = match.row.id;
  const body = Object.hasOwn(TWILIO_REQUEST_BODIES, id) ? TWILIO_REQUEST_BODIES[id] : undefined;
  let declared = indexed.get(id);
  if (declared === undefined) {
    const extra = Object.hasOwn(TWILIO_EXTRA_BODY_NAMES, id) ? TWILIO_EXTRA_BODY_NAMES[id]! : [];
    declared = body
      ? { type: body.type, names: indexNames([...body.names, ...extra], body.lists) }
      : UNDECLARED;
    indexed.set(id, declared);
  }
  if (body) return { body: declared, pathParameters: undefined };
  const names = [...match.row.path.matchAll(/\{([^{}/]+)\}/g)].map((m) => m[1]!);
  return { body: declared, pathParameters: new Map(names.map((name, i) => [name, match.segments[i] ?? ''])) };
}

/** Twilio serves the 2010 API with or without `.json`: the table writes it with. */
function tablePath(host: string, path: string): string {
  if (host !== 'api') return path;
  const account = ACCOUNT_PATH.exec(path);
  if (account) return `/2010-04-01/Accounts/${account[1]}${(account[2] ?? '').replace(JSON_SUFFIX, '')}.json`;
  return ACCOUNTS_LIST.test(path) ? '/2010-04-01/Accounts.json' : path;
}

function indexNames(names: readonly string[], lists: readonly string[]): FlatFormNames {
  const declared = new Map<string, string>();
  for (const name of names) {
    const folded = foldName(name);
    if (!declared.has(folded)) declared.set(folded, name);
  }
  return { lists: new Set(lists), declared };
}
