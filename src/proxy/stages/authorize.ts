import { type Denial, deny } from '../../decision/reasons.ts';
import { formatUsd } from '../../money/micro-usd.ts';
import {
  type CompiledPattern,
  ENDPOINT_METHODS,
  type EndpointPattern,
  MAX_ENTRY_LENGTH,
  MAX_PATH_SEGMENTS,
  matchAll,
  matchesEndpoint,
  requestPath,
  writableEndpointEntry,
} from '../../patterns/glob.ts';
import { matchesHost, urlHost } from '../../patterns/hosts.ts';
import type { CompiledPolicy } from '../../snapshot/types.ts';
import {
  operationPath,
  operationTemplate,
  sharedLiteralNamesOneHost,
  templateIsShared,
} from '../../vendors/templates.ts';
import { UNKNOWN_COUNTRY } from '../../vendors/twilio/parties.ts';
import { type Operation, type OperationClass, type Parties, PLATFORM_ACCOUNT } from '../../vendors/types.ts';
import type { Stage } from '../context.ts';
import { plusless, pluslessHint } from './plusless-number.ts';
import { unknownCountryHint } from './unknown-country.ts';

/** What one authorize check sees: the policy, the call and its price (a CallContext past price). */
export interface AuthorizeInput {
  readonly policy: CompiledPolicy;
  readonly method: string;
  readonly path: string;
  readonly op: Operation;
  /**
   * The recipients and senders the checks before a cost lookup passed (authorizeBeforeLookup): the
   * checks after it judge only what the lookup added, where they judged the whole list again.
   */
  readonly judged?: Pick<Parties, 'recipients' | 'senders'>;
  /**
   * The parties the request itself named, when a cost lookup read the object it names
   * (CallContext.partiesBeforeLookup): a party not among them, and the cost, came from that read, and
   * a refusal does not quote them. Undefined: every party and the cost are the request's own.
   */
  readonly named?: Parties;
}

/**
 * How a refusal speaks of a value Keybrake's own lookup found: not by its value. The read was made
 * with the real key, for the price; the key may not be allowed to read that object at all, and a
 * refusal quoting what it found (`Customer cus_… is not …`, `This call costs $987.65`) answered any
 * id of the account with its customer and amount (tenth round). The audit record has no field for
 * either; its path names the object, which the operator can look up.
 */
const FOUND = 'the object this call acts on (which Keybrake read to price it)';

/** Whether `value` of a party list came from a lookup rather than from the request. */
const foundByLookup = (value: string, named: readonly string[] | undefined) =>
  named !== undefined && !named.includes(value);

/** A pure check: undefined passes, a Denial stops the chain. */
export type Check = (input: AuthorizeInput) => Denial | undefined;

/** Classes a glob (or a policy without an endpoint list) admits: Keybrake knows them and prices them. */
const ADMITTED_WITHOUT_NAMING: ReadonlySet<OperationClass> = new Set(['read', 'write', 'money']);

/**
 * The endpoint allowlist, by operation class (ADR 0007 §1): a sensitive operation never passes; a
 * read, write or priced money operation passes any matching entry (or every call when the policy has
 * no list); a destructive, unpriced or unknown operation passes only an exact entry that names it.
 */
export const checkEndpoint: Check = ({ policy, method, path, op }) => {
  if (op.class === 'sensitive') {
    return deny(
      'credential_operation',
      `${op.id} touches a vendor credential or account access; Keybrake never allows it.`,
    );
  }
  const verdict = endpointVerdict(policy.endpoints, method, path, op);
  if (verdict === 'admitted') return undefined;
  if (verdict === 'must-be-named') return mustBeNamed(op, method, path);
  return notListed(op, method, path);
};

/**
 * What an endpoint list (undefined: none) makes of a call that is not sensitive: admitted; matched
 * or unlisted but needing an exact entry that names it; or matched by no entry.
 */
function endpointVerdict(
  endpoints: readonly EndpointPattern[] | undefined,
  method: string,
  path: string,
  op: Operation,
): 'admitted' | 'must-be-named' | 'not-listed' {
  const admittedByAny = ADMITTED_WITHOUT_NAMING.has(op.class);
  if (!endpoints) return admittedByAny ? 'admitted' : 'must-be-named';
  // Split once for the whole list (up to 1 000 entries): each entry splitting it again made a long
  // path against a long list seconds of a proxy every tenant shares.
  const target = requestPath(path);
  let matched = false;
  for (const entry of endpoints) {
    if (!matchesEndpoint(entry, method, target)) continue;
    // A template names one operation: not another whose path it also fits (`GET /emails/{email_id}`
    // is not `GET /emails/receiving`, `POST /v1/invoices/{invoice}` not
    // `POST /v1/invoices/create_preview`), and not an operation no catalog holds.
    if (entry.template !== undefined) {
      if (entry.template !== operationTemplate(op.id)) continue;
      // A template several Twilio hosts share (an entry names no host) names none of them exactly: a
      // probe deleted a Messaging service with an entry meant for Sync's.
      if (!admittedByAny && templateIsShared(method.toUpperCase(), entry.template)) {
        matched = true;
        continue;
      }
    } else if (!admittedByAny && entry.exact && !sharedLiteralNamesOneHost(method, target.segments!)) {
      // Nor does a literal path of such a template unless SIDs pin its object: an entry written for
      // Verify's `POST /v2/Services` admitted Intelligence's, unpriced (thirteenth round).
      matched = true;
      continue;
    }
    if (admittedByAny || entry.exact) return 'admitted';
    matched = true;
  }
  return matched ? 'must-be-named' : 'not-listed';
}

/** A destructive, unpriced or unknown operation that no exact entry names. */
function mustBeNamed(op: Operation, method: string, path: string): Denial {
  const how = `${howToName(op, method, path)}${raisedByBody(op)}`;
  if (op.class === 'destructive') {
    return deny('endpoint_not_allowed', `${method} ${path} (${op.id}) is destructive: ${how}`);
  }
  const what =
    op.class === 'unknown' ? 'an operation Keybrake does not know' : `${op.id}, which Keybrake cannot price`;
  return deny('price_unknown', `${method} ${path} is ${what}: ${how}`);
}

/** The methods an endpoint entry can name exactly (`*` names none exactly). */
const NAMEABLE_METHODS = ENDPOINT_METHODS.filter((m) => m !== '*');

const nameable = (method: string) => (NAMEABLE_METHODS as readonly string[]).includes(method.toUpperCase());

const unnameableMethod = (method: string) =>
  `no allow.endpoints entry can name the method ${method} (only ${NAMEABLE_METHODS.join(', ')})`;

/**
 * A call no entry matches. For a method no entry can name (OPTIONS, HEAD…) it says so: a new user
 * told only "not in the allowlist" went looking for the entry to add, which policy-check refuses
 * (eighth round). An entry whose method is `*` still matches such a call, and admits it when its
 * class is one a glob admits (a Twilio or Resend HEAD mirrors a read).
 */
function notListed(op: Operation, method: string, path: string): Denial {
  const listed = `${method} ${path} is not in this key's endpoint allowlist`;
  if (nameable(method)) return deny('endpoint_not_allowed', `${listed}.`);
  const why = ADMITTED_WITHOUT_NAMING.has(op.class)
    ? `${unnameableMethod(method)}: only an entry whose method is * matches it.`
    : `${unnameableMethod(method)}, so Keybrake never lets it through.`;
  return deny('endpoint_not_allowed', `${listed}, and ${why}`);
}

/**
 * How a policy could let the call through: the exact entries that would admit it, or why none can.
 * Only entries the schema accepts and that admit this very call are suggested: a seventh-round probe
 * was told to add "OPTIONS /v1/charges/ch_1", which `policy-check` refuses (no entry names OPTIONS,
 * HEAD, TRACE…), and a path holding `*` or `{x}` is a glob or a template as an entry, not this call.
 */
function howToName(op: Operation, method: string, path: string): string {
  if (!nameable(method)) return `${unnameableMethod(method)}, so Keybrake never lets it through.`;
  const entries = exactEntries(op, method, path);
  const segments = requestPath(path).segments;
  if (entries === undefined && segments !== undefined && !sharedLiteralNamesOneHost(method, segments)) {
    // Not "too long or has braces": the path is fine, but no entry can say which host it means.
    return 'several Twilio hosts share this path and an entry names no host, so no allow.endpoints entry can name it exactly (a path does only when each of its ids is an object SID), and Keybrake cannot let it through.';
  }
  if (entries === undefined) {
    return `no allow.endpoints entry can name this path exactly (at most ${MAX_ENTRY_LENGTH} characters and ${MAX_PATH_SEGMENTS} segments, no empty segment, no * or braces), so Keybrake cannot let it through.`;
  }
  return `name it exactly in allow.endpoints (e.g. ${entries}, no wildcard) to let it through.`;
}

/**
 * What in the body raised the call's class, when something did: `keybrake catalog` prints the class
 * of the method and path alone, and a user refused a contact create the catalog calls a write was
 * left guessing (a new-user walkthrough, sixth round).
 */
function raisedByBody(op: Operation): string {
  return op.raisedBy === undefined
    ? ''
    : ` Its body makes it so: ${op.raisedBy}; \`keybrake catalog\` gives the class of its method and path alone.`;
}

/**
 * The exact entries that would admit this call, for a refusal to suggest: its catalog template, which
 * admits the operation on every object, and its own path, which admits this object only. A user who
 * copied the path alone found the next object refused (a new-user walkthrough, sixth round). No
 * template for an unknown operation, a path without placeholders, or a template several Twilio hosts
 * share (which names none of them); undefined when neither can be written.
 */
function exactEntries(op: Operation, method: string, path: string): string | undefined {
  const verb = method.toUpperCase();
  const own = `${verb} ${path}`;
  const forThis = admitsThisCall(own, op, method, path) ? `"${own}"` : undefined;
  const named = operationPath(op.id);
  const template = operationTemplate(op.id);
  const forAny =
    named !== undefined &&
    template?.includes('{}') === true &&
    !templateIsShared(verb, template) &&
    admitsThisCall(`${verb} ${named}`, op, method, path)
      ? `"${verb} ${named}" for any ${placeholdersOf(named).join(' and ')}`
      : undefined;
  if (forAny === undefined) return forThis;
  return forThis === undefined ? forAny : `${forAny}, or ${forThis} for this one`;
}

function placeholdersOf(template: string): string[] {
  return [...template.matchAll(/\{([^{}/]+)\}/g)].map((m) => m[1]!);
}

/** Whether `source` is an entry a policy can hold and, as its only entry, admits this call. */
function admitsThisCall(source: string, op: Operation, method: string, path: string): boolean {
  const entry = writableEndpointEntry(source);
  return entry !== undefined && endpointVerdict([entry], method, path, op) === 'admitted';
}

/**
 * Instructions the vendor would fetch (ADR 0007 §7): a URL passes only when its host is in
 * `allow.twimlHosts` (absent: none is), and instructions the request does not show (a TwiML
 * application) never do. It follows the endpoint check, so a call the policy does not list at all
 * still answers `endpoint_not_allowed`.
 */
export const checkInstructions: Check = ({ policy, op }) => {
  for (const instruction of op.instructions ?? []) {
    if (instruction.kind === 'opaque') {
      return deny(
        'instructions_not_allowed',
        `${instruction.where} hands the call to ${instruction.what}, whose instructions Keybrake cannot check: send them inline (Twiml) or from an allow.twimlHosts URL.`,
      );
    }
    const host = urlHost(instruction.url);
    if (host === undefined) {
      return deny(
        'instructions_not_allowed',
        `${instruction.where} is not an absolute http(s) or ws(s) URL with a plain host name, so Keybrake cannot check where it points.`,
      );
    }
    if (!policy.twimlHosts || !matchesHost(policy.twimlHosts, host)) {
      return deny(
        'instructions_not_allowed',
        `${instruction.where} makes the vendor fetch instructions from ${host}, which is not in this key's allow.twimlHosts.`,
      );
    }
  }
  return undefined;
};

/** Customers the call names outside the allowlist: no party a lookup adds can change this refusal. */
const checkNamedCustomers: Check = ({ policy, op, named }) => {
  if (!policy.customers) return undefined;
  const outside = op.parties.customers.find((c) => !policy.customers!.has(c));
  if (outside === undefined) return undefined;
  return deny(
    'customer_not_allowed',
    foundByLookup(outside, named?.customers)
      ? `The customer of ${FOUND} is not in this key's customer allowlist.`
      : `Customer ${outside} is not in this key's customer allowlist.`,
  );
};

/** A money-moving or billing call must name an allowlisted customer (DESIGN.md §2). */
const checkSomeCustomer: Check = ({ policy, op }) => {
  if (!policy.customers || !(op.movesMoney || op.billsCustomer) || op.parties.customers.length > 0) {
    return undefined;
  }
  return deny(
    'customer_not_allowed',
    `This key may only ${op.movesMoney ? 'move money for' : 'bill'} allowlisted customers, and this call names none.`,
  );
};

export const checkCustomer: Check = (input) => checkNamedCustomers(input) ?? checkSomeCustomer(input);

/**
 * Every account a call acts on must be listed (ADR 0007 §3). A money-moving call that names none acts
 * on the platform account, which a list must name explicitly as `platform`.
 */
export const checkAccount: Check = ({ policy, op }) => {
  if (!policy.accounts) return undefined;
  const outside = op.parties.accounts.find((a) => !policy.accounts!.has(a));
  if (outside)
    return deny('account_not_allowed', `Account ${outside} is not in this key's account allowlist.`);
  if (op.movesMoney && op.parties.accounts.length === 0 && !policy.accounts.has(PLATFORM_ACCOUNT)) {
    return deny(
      'account_not_allowed',
      `This call moves money on the platform account, which this key's account allowlist does not name ("${PLATFORM_ACCOUNT}").`,
    );
  }
  return undefined;
};

export const checkRecipient: Check = ({ policy, op, judged, named }) =>
  policy.recipients
    ? outsideList(
        policy.recipients,
        op.parties.recipients,
        judged?.recipients,
        RECIPIENT,
        named?.recipients,
        op.storedRecipientFields,
      )
    : undefined;

export const checkCountry: Check = ({ policy, op, named }) => {
  if (!policy.countries) return undefined;
  const outside = op.parties.countries.find((c) => !policy.countries!.has(c));
  if (outside === undefined) return undefined;
  if (foundByLookup(outside, named?.countries)) {
    return deny(
      'country_not_allowed',
      `A destination of ${FOUND} is in a country this key's policy does not allow.`,
    );
  }
  // An unknown country: say why, not only "ZZ".
  const hint = outside === UNKNOWN_COUNTRY ? unknownCountryHint(op.parties.recipients) : '';
  return deny(
    'country_not_allowed',
    `Destination country ${outside} is not allowed by this key's policy.${hint}`,
  );
};

export const checkCurrency: Check = ({ policy, op, named }) => {
  if (!policy.currencies) return undefined;
  const outside = op.parties.currencies.find((c) => !policy.currencies!.has(c));
  if (outside === undefined) return undefined;
  return deny(
    'currency_not_allowed',
    foundByLookup(outside, named?.currencies)
      ? `The currency of ${FOUND} is not allowed by this key's policy.`
      : `Currency ${outside} is not allowed by this key's policy.`,
  );
};

export const checkSender: Check = ({ policy, op, judged, named }) =>
  policy.senders
    ? outsideList(policy.senders, op.parties.senders, judged?.senders, SENDER, named?.senders)
    : undefined;

/**
 * The longest recipient or sender judged against a list: longer than any real one (an address is at
 * most 254 characters, an E.164 number 15 digits after `whatsapp:`, a Stripe id at most 255, a Twilio
 * SIP URI under 255, and the allowlists see only its `sip:user@host[:port]`, never the SIP headers
 * it may carry). A list costs its entries times the value's length, and a 128 000-character
 * destination against 10 000 globs held a replica's event loop 45 s for every tenant; such a value is
 * refused before matching.
 */
const MAX_PARTY_LENGTH = 512;

/** How a party check names its party and its refusal. */
interface PartyKind {
  readonly name: 'Recipient' | 'Sender';
  readonly reason: 'recipient_not_allowed' | 'sender_not_allowed';
  readonly list: string;
  /** How a refusal names one that a lookup found, without its value. */
  readonly found: string;
  /** The form field that usually carries it, for the hint on a phone number without its +. */
  readonly field: 'To' | 'From';
}

const RECIPIENT: PartyKind = {
  name: 'Recipient',
  reason: 'recipient_not_allowed',
  list: "this key's recipient allowlist",
  found: `A recipient of ${FOUND}`,
  field: 'To',
};
const SENDER: PartyKind = {
  name: 'Sender',
  reason: 'sender_not_allowed',
  list: "this key's sender allowlist",
  found: `The sender of ${FOUND}`,
  field: 'From',
};

/**
 * The refusal of the first value outside a pattern list, every value too long to be real refused before
 * any is matched; values already judged (`judged`: what passed before a lookup) are not judged again.
 * A value the call stores under a field of its own (`stored`: a reply_to) is refused by that field's
 * name, or the agent is told of an address it never gave (thirteenth round, probe legit13 finding 3).
 */
function outsideList(
  patterns: readonly CompiledPattern[],
  values: readonly string[],
  judged: readonly string[] | undefined,
  kind: PartyKind,
  named: readonly string[] | undefined,
  stored?: ReadonlyMap<string, string>,
): Denial | undefined {
  if (values === judged) return undefined;
  const passed = judged && new Set(judged);
  const fresh = passed ? values.filter((v) => !passed.has(v)) : values;
  const long = fresh.find((v) => v.length > MAX_PARTY_LENGTH);
  if (long !== undefined) {
    // A value the lookup found is named by nothing, not even its length.
    if (foundByLookup(long, named)) return deny(kind.reason, `${kind.found} is not in ${kind.list}.`);
    // Named by its length alone: a cut start (normalised, so lower-cased) could hold part of a token
    // the agent brought, which neither redaction by value nor by shape would then recognise.
    return deny(
      kind.reason,
      `${kind.name} of ${long.length} characters: longer than any real one (at most ${MAX_PARTY_LENGTH}), and not in ${kind.list}.`,
    );
  }
  const verdict = matchAll(patterns, fresh);
  if (verdict.kind === 'unmatched') {
    if (foundByLookup(verdict.value, named))
      return deny(kind.reason, `${kind.found} is not in ${kind.list}.`);
    const field = stored?.get(verdict.value);
    if (field !== undefined) {
      return deny(
        kind.reason,
        `The ${field} ${verdict.value} this call stores is not in ${kind.list}: a stored ${field} is judged as a ${kind.name.toLowerCase()} (list it in allow.${kind.name.toLowerCase()}s, or leave it out).`,
      );
    }
    const number = plusless([verdict.value]);
    const hint = number === undefined ? '' : pluslessHint(number, kind.field);
    return deny(kind.reason, `${kind.name} ${verdict.value} is not in ${kind.list}.${hint}`);
  }
  if (verdict.kind === 'over-budget') {
    return deny(
      kind.reason,
      `This call names more ${kind.name.toLowerCase()}s than Keybrake can check against the wildcards of ${kind.list} in one call: send them in several calls.`,
    );
  }
  return undefined;
}

export const checkPerCall: Check = ({ policy, op, named }) => {
  const limit = policy.limits.perCallMicros;
  if (limit === undefined || op.costMicros <= limit) return undefined;
  return deny(
    'per_call_limit_exceeded',
    named !== undefined
      ? `The amount of ${FOUND} is over the per-call limit of $${formatUsd(limit)}.`
      : `This call costs $${formatUsd(op.costMicros)}, over the per-call limit of $${formatUsd(limit)}.`,
  );
};

/** The order is part of the contract: the first denial wins (DESIGN.md §4). */
export const AUTHORIZE_CHAIN: readonly Check[] = [
  checkEndpoint,
  checkInstructions,
  checkCustomer,
  checkAccount,
  checkRecipient,
  checkCountry,
  checkCurrency,
  checkSender,
  checkPerCall,
];

/**
 * The customer check as far as a cost lookup cannot change it: the object a lookup reads may name the
 * customer a money call itself does not, so "names none" waits for it; without a lookup nothing can
 * add one, and the whole check runs in the chain's order, before the account's (fifth round: a charge
 * naming neither was refused as `account_not_allowed`, and by `--explain` as `customer_not_allowed`).
 */
const checkCustomerBeforeLookup: Check = (input) =>
  input.op.lookup ? checkNamedCustomers(input) : checkCustomer(input);

/**
 * Every check of the chain, in its order, as far as a cost lookup cannot change it, run before any
 * upstream read (ADR 0007 §8): the endpoint, the instructions, and the parties the request itself
 * names (a lookup only adds customers, currencies, recipients, countries and senders; never an account). A check
 * the map lacks (the per-call limit) waits for the looked-up cost. `--explain` reads the same map.
 */
export const BEFORE_LOOKUP: ReadonlyMap<Check, Check> = new Map([
  [checkEndpoint, checkEndpoint],
  [checkInstructions, checkInstructions],
  [checkCustomer, checkCustomerBeforeLookup],
  [checkAccount, checkAccount],
  [checkRecipient, checkRecipient],
  [checkCountry, checkCountry],
  [checkCurrency, checkCurrency],
  [checkSender, checkSender],
]);

const BEFORE_LOOKUP_CHAIN: readonly Check[] = [...BEFORE_LOOKUP.values()];

/** The chain again on what a lookup filled in (parties it found, the amount): cheap set checks. */
export const AFTER_LOOKUP: readonly Check[] = AUTHORIZE_CHAIN.slice(2);

/** Runs a chain of checks; the first denial wins. */
export function authorize(
  input: AuthorizeInput,
  chain: readonly Check[] = AUTHORIZE_CHAIN,
): Denial | undefined {
  for (const check of chain) {
    const denial = check(input);
    if (denial) return denial;
  }
  return undefined;
}

// Past the price stage a CallContext carries every field a check reads (policy, method, path, op),
// so the checks before a lookup judge the context itself; those after it also get what was judged.

/** The recipients and senders each call passed before its lookup, for the checks after it. */
const judgedBeforeLookup = new WeakMap<object, Pick<Parties, 'recipients' | 'senders'>>();

/** The authorize stage, first half: the checks that need no cost lookup. */
export const authorizeBeforeLookup: Stage = (ctx) => {
  const denial = authorize(ctx as AuthorizeInput, BEFORE_LOOKUP_CHAIN);
  if (!denial) judgedBeforeLookup.set(ctx, ctx.op!.parties);
  return denial;
};

/** The authorize stage, second half: the checks on what a cost lookup may have filled in. */
export const authorizeAfterLookup: Stage = (ctx) => {
  const judged = judgedBeforeLookup.get(ctx);
  const named = ctx.partiesBeforeLookup ?? undefined;
  const { policy, method, path, op } = ctx as AuthorizeInput;
  return authorize(
    { policy, method, path, op, ...(judged && { judged }), ...(named && { named }) },
    AFTER_LOOKUP,
  );
};
