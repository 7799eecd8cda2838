import { templateKey } from '../patterns/glob.ts';
import { RESEND_OPERATIONS } from './resend/operations.ts';
import { STRIPE_OPERATIONS } from './stripe/operations.ts';
import { TWILIO_OPERATIONS } from './twilio/operations.ts';
import { TWILIO_SAME_OBJECT_HOSTS } from './twilio/same-objects.ts';

interface Templates {
  /** Operation id → its path template, placeholders written `{}`. */
  readonly byId: Map<string, string>;
  /** Operation id → its path template as the catalog prints it, placeholders named (`{customer}`). */
  readonly namedById: Map<string, string>;
  /** `METHOD template` of the operations that share it with another (Twilio hosts: `/v1/Services/{}`). */
  readonly shared: Set<string>;
}

let templates: Templates | undefined;

function build(): Templates {
  const byId = new Map<string, string>();
  const namedById = new Map<string, string>();
  const seen = new Set<string>();
  const shared = new Set<string>();
  for (const row of [...STRIPE_OPERATIONS, ...TWILIO_OPERATIONS, ...RESEND_OPERATIONS]) {
    const template = templateKey(row.path);
    byId.set(row.id, template);
    namedById.set(row.id, row.path);
    const key = `${row.method} ${template}`;
    if (seen.has(key)) shared.add(key);
    seen.add(key);
  }
  return { byId, namedById, shared };
}

/**
 * The path template of a catalogued operation, placeholders written `{}` (`/v1/customers/{}`), by
 * its id; undefined for an operation the catalogs do not hold (`stripe.unknown`). An endpoint entry
 * written as a template admits only the operation whose template it is (the authorize stage).
 */
export function operationTemplate(id: string): string | undefined {
  templates ??= build();
  return templates.byId.get(id);
}

/**
 * The path template of a catalogued operation as `keybrake catalog` prints it, placeholders named
 * (`/v1/customers/{customer}`): what a refusal suggests an entry be written as. Undefined for an
 * operation the catalogs do not hold.
 */
export function operationPath(id: string): string | undefined {
  templates ??= build();
  return templates.namedById.get(id);
}

/**
 * Whether another catalogued operation has the same method and template: Twilio's hosts share paths
 * (`DELETE /v1/Services/{Sid}` deletes a Sync, Chat, Messaging… service), and an endpoint entry names
 * no host. Such a template cannot name one operation exactly.
 */
export function templateIsShared(method: string, template: string): boolean {
  templates ??= build();
  return templates.shared.has(`${method} ${template}`);
}

/**
 * A Twilio object SID: two capital letters for its kind and 32 hexadecimal digits. It names the one
 * object the operator chose; a product that does not hold it answers 404 (ADR 0007, third round).
 */
const TWILIO_SID = /^[A-Z]{2}[0-9a-fA-F]{32}$/;

/** A template several Twilio hosts share, split into segments (sharedLiteralNamesOneHost). */
interface SharedTemplate {
  readonly parts: readonly string[];
  /**
   * Whether object SIDs in its ids name one operation: not when hosts that hold the same objects
   * (TWILIO_SAME_OBJECT_HOSTS) have operations of different classes on it.
   */
  readonly sidsPin: boolean;
}

/** The templates several Twilio hosts share, by method (sharedLiteralNamesOneHost). */
let sharedByMethod: Map<string, SharedTemplate[]> | undefined;

function sharedSplit(): Map<string, SharedTemplate[]> {
  const rows = new Map<string, Map<string, string>>();
  for (const row of TWILIO_OPERATIONS) {
    const key = `${row.method} ${templateKey(row.path)}`;
    rows.set(key, (rows.get(key) ?? new Map()).set(row.host, row.class));
  }
  const byMethod = new Map<string, SharedTemplate[]>();
  for (const [key, classOn] of rows) {
    if (classOn.size < 2) continue;
    const sidsPin = TWILIO_SAME_OBJECT_HOSTS.every(
      (group) => new Set(group.filter((h) => classOn.has(h)).map((h) => classOn.get(h))).size <= 1,
    );
    const space = key.indexOf(' ');
    const method = key.slice(0, space);
    const shared = { parts: key.slice(space + 2).split('/'), sidsPin };
    byMethod.set(method, [...(byMethod.get(method) ?? []), shared]);
  }
  return byMethod;
}

/** Whether one segment of a template (`{}`, `{}.json`, `Services`) fits a path segment. */
function segmentFits(part: string, segment: string): boolean {
  if (!part.includes('{}')) return part === segment;
  const pieces = part.split('{}');
  return segment.startsWith(pieces[0]!) && segment.endsWith(pieces[pieces.length - 1]!);
}

/**
 * Whether a literal path (the method and the request's segments, which the literal entry equals)
 * names one Twilio host's operation. An entry names no host, and a path that fits a template several
 * hosts share names one only when every placeholder of it is filled by an object SID (per product:
 * the other hosts answer 404). A path with no placeholder (`POST /v1/Services`: Messaging, Sync,
 * Proxy… each create a service there) names none, and neither does a segment holding a name:
 * Conversations and Frontline both take a user's identity for `/v1/Users/{Sid}`, so
 * `POST /v1/Users/alice` updates alice on either (thirteenth round: an entry written for Verify's
 * `POST /v2/Services` admitted Intelligence's, unpriced). Nor do SIDs where hosts that hold the same
 * objects differ in class (`POST /v1/Users/{Sid}`: a Conversations user is Frontline's). Decided by
 * the path, not by the operation's id, so an operation classified outside the catalog's rows, or
 * raised by its body, is judged the same.
 */
export function sharedLiteralNamesOneHost(method: string, segments: readonly string[]): boolean {
  sharedByMethod ??= sharedSplit();
  for (const { parts, sidsPin } of sharedByMethod.get(method.toUpperCase()) ?? []) {
    if (parts.length !== segments.length || !parts.every((p, i) => segmentFits(p, segments[i]!))) continue;
    const pinned = parts.every((p, i) => !p.includes('{}') || (p === '{}' && TWILIO_SID.test(segments[i]!)));
    if (!sidsPin || !pinned || !parts.includes('{}')) return false;
  }
  return true;
}
