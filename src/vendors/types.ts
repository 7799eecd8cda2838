import type { IncomingHttpHeaders } from 'node:http';
import type { Denial, DenyReason } from '../decision/reasons.ts';
import type { MicroUsd } from '../money/micro-usd.ts';
import type { CompiledKey, UpstreamCredential, VendorName } from '../snapshot/types.ts';

/**
 * A request as the pipeline hands it to a vendor adapter, after routing: the vendor-relative path
 * (`/v1/charges`, never the `/stripe` prefix) and, for Twilio, the sub host (`api`, `messaging`, …).
 */
export interface VendorRequest {
  readonly method: string;
  /** Canonical path without query string, e.g. `/v1/payment_intents/pi_123/confirm`. */
  readonly path: string;
  /** Raw query string without `?` (forwarded unchanged). */
  readonly query: string;
  /** Twilio sub host (`api` for api.twilio.com); undefined for vendors with one host. */
  readonly subHost?: string;
  readonly headers: IncomingHttpHeaders;
}

/** A parsed body: nested objects/arrays of strings (form) or arbitrary JSON values. */
export type Params = Record<string, unknown>;

/** The credential the caller presented, before lookup. */
export interface PresentedCredential {
  readonly token: string;
  /** Basic-auth user name where the vendor uses one (Twilio Account SID / API key SID). */
  readonly username?: string;
}

/** Parties named by a call: what the allowlists are checked against. Empty arrays mean "names none". */
export interface Parties {
  readonly customers: readonly string[];
  readonly accounts: readonly string[];
  readonly recipients: readonly string[];
  readonly countries: readonly string[];
  readonly currencies: readonly string[];
  readonly senders: readonly string[];
}

/**
 * The reserved `allow.accounts` entry for the platform account: a call naming no account acts on it
 * (the authorize stage), and so does a Stripe money call that names accounts only in its path or body.
 */
export const PLATFORM_ACCOUNT = 'platform';

/** What stands in an answer for a withheld value (withholdFromAnswer): the JSON stays valid, the field stays present. */
export const WITHHELD = 'withheld_by_keybrake';

export const NO_PARTIES: Parties = {
  customers: [],
  accounts: [],
  recipients: [],
  countries: [],
  currencies: [],
  senders: [],
};

/**
 * Where the cost of a money-moving call is not in the request (a refund without `amount`, a capture),
 * the adapter names a read it can price from; the pipeline performs it upstream with the real key.
 */
export interface CostLookup {
  /** Vendor-relative GET path, e.g. `/v1/charges/ch_123`, with `?query` for a read that takes parameters. */
  readonly path: string;
  /**
   * `GET` when absent. `POST` only for a vendor preview endpoint, which computes an object and
   * creates nothing (Stripe `POST /v1/invoices/create_preview`): a lookup never has side effects.
   */
  readonly method?: 'GET' | 'POST';
  /** The form-encoded body of a `POST` lookup (`application/x-www-form-urlencoded`). */
  readonly body?: string;
  /**
   * Another API host of the same vendor to read from (Twilio's `pricing` for a number's monthly
   * price); the call's own host when absent. Only hosts the route stage accepts are ever reached.
   */
  readonly subHost?: string;
  /** Prices the looked-up object; undefined when it cannot (the call is then denied, fail closed). */
  readonly price: (body: unknown) => MicroUsd | undefined;
  /** Parties only the looked-up object names (the customer and currency of a refunded charge). */
  readonly parties?: (body: unknown) => Partial<Parties>;
  /**
   * When the price takes more than one read (a Resend broadcast names its segment, whose contacts
   * come a page at a time): the read that follows this one, from this one's body; undefined when
   * this read is the last one, and then `price` prices the call (undefined: denied). The parties of
   * every read count. The pipeline bounds the reads of one call (MAX_LOOKUP_READS).
   */
  readonly next?: (body: unknown) => CostLookup | undefined;
  /**
   * Objects to lease before this read (ADR 0007 §5) that the call's own `locks` could not name,
   * because an earlier read found them (the segment a broadcast goes to). Held with the call's
   * other leases until it settles.
   */
  readonly locks?: readonly string[];
  /** How the lookup prices the call, in words: for denials and `keybrake policy-check --explain`. */
  readonly describe?: string;
  /**
   * What the upstream credential needs to make this read, for a refusal when the vendor answers it
   * 401 or 403 (fourteenth round, probe fixtwre14, finding 4: a restricted Twilio API key that may
   * send but not list numbers saw every text refused as if its recipient were the account's own).
   * Absent: such a refusal says only that the vendor refused the read.
   */
  readonly needs?: string;
  /**
   * The read only confirms the price the request itself gave (`Operation.costMicros`): it finds no
   * party and no amount of an object the key may not read (Twilio: whether a number the call reaches
   * is the account's own, own-numbers.ts), so a refusal may quote the cost as for a call with no
   * lookup. Only a chain whose every read confirms may say so.
   */
  readonly confirms?: true;
  /**
   * Links this answer shows that never change (a Stripe Price's product: `[price, product]`): the
   * proxy remembers them for later calls in the same account context (proxy/object-links.ts), which
   * `price` is handed back as `KnownLinks`.
   */
  readonly links?: (body: unknown) => ReadonlyArray<readonly [from: string, to: string]>;
}

/**
 * What earlier lookup answers in a call's account context linked `from` to (CostLookup.links); the
 * price stage hands it to `VendorAdapter.price`. Undefined when none did, or the link was forgotten:
 * the adapter then reads for it, so a miss costs a read and never changes a decision.
 */
export type KnownLinks = (from: string) => string | undefined;

/** Nothing known: every link is read for (`policy-check --explain`, tests). */
export const NO_LINKS: KnownLinks = () => undefined;

/**
 * What an operation is, from the trust boundary's point of view (ADR 0007 §1); the catalog gives every
 * row one class, and a call the catalog has no row for is `unknown`.
 *   - `read`: returns data, moves nothing;  `write`: configuration, drafts, metadata;
 *   - `money`: moves money, priced by the row's rule;  `money_unpriced`: moves money Keybrake cannot price;
 *   - `destructive`: deletes or irreversibly changes (keys, numbers, domains, payout destinations…);
 *   - `sensitive`: reveals, mints, rotates or deletes a credential, or changes who can access the account.
 */
export type OperationClass =
  | 'read'
  | 'write'
  | 'money'
  | 'money_unpriced'
  | 'destructive'
  | 'sensitive'
  | 'unknown';

/** The classes a catalog row can have: `unknown` is what a call without a row is. */
export type CatalogClass = Exclude<OperationClass, 'unknown'>;

/** What the catalog knows about one call. */
export interface Operation {
  /** Catalog id, e.g. `stripe.refunds.create`; `<vendor>.unknown` when the catalog has no entry. */
  readonly id: string;
  /** The class of the catalog row (`unknown` without one); the pipeline admits calls by it (ADR 0007). */
  readonly class: OperationClass;
  /**
   * Moves (or may move) money: priced, capped, and denied when anything is uncertain. True for
   * `money_unpriced` and `unknown`, and for `money` unless its rule finds that this very call moves
   * none (a PaymentIntent created without `confirm`, a Lookup without paid fields).
   */
  readonly movesMoney: boolean;
  /**
   * Bills a customer later without moving money now (a Stripe meter event): a customer allowlist
   * must see the customer, as for a call that moves money.
   */
  readonly billsCustomer?: boolean;
  /** Reserved cost in micro-USD (conservative); 0 for reads. Ignored while `lookup` is pending. */
  readonly costMicros: MicroUsd;
  readonly lookup?: CostLookup;
  /**
   * Object ids this very call must hold an exclusive lease on (ADR 0007 §5), resolved by classify
   * from its row's `locks` (`pi_123`, not `{intent}`): the lease stage takes them before the lookup,
   * or before the forward of a write, and releases them after settle. Absent or empty: none.
   */
  readonly locks?: readonly string[];
  /**
   * The vendor host that serves this operation when it is not the call's own: Stripe takes file
   * uploads on files.stripe.com (`{sub}` of the upstream template). Absent: the route's host.
   */
  readonly upstreamHost?: string;
  readonly parties: Parties;
  /**
   * The field each recipient comes from, by recipient, where the call stores it rather than mails it
   * (a Resend template's or broadcast's `reply_to`, where the replies go): a refusal names the field,
   * since the agent may not have written that address (resend-mcp sends its configured reply-to on
   * every broadcast it makes; thirteenth round, probe legit13 finding 3). Absent: none is labelled.
   */
  readonly storedRecipientFields?: ReadonlyMap<string, string>;
  /**
   * What this call makes the vendor fetch or run that Keybrake does not see (ADR 0007 §7: Twilio
   * instruction URLs, TwiML applications): the authorize stage admits a URL only from a host of the
   * policy's `allow.twimlHosts`, and never an opaque one. Absent or empty: none.
   */
  readonly instructions?: readonly RemoteInstruction[];
  /**
   * What in this call's body raised its class above its catalog row's (`unsubscribed: false (an
   * opt-in)`), for a refusal and `--explain` to name: `keybrake catalog` classes an operation by its
   * method and path alone. Field names and the literals Keybrake compares, never a value the agent
   * chose. Absent: the row's class.
   */
  readonly raisedBy?: string;
  /**
   * The vendor's answer shows only part of what this call moves (a Stripe refund that also returns
   * its application fee or reverses its transfer: the refund object shows the refund alone), so
   * settling from the answer never counts less than was reserved. Absent: settle as the answer says.
   */
  readonly reservationIsFloor?: boolean;
  /**
   * The vendor's answer to this call is an object whose amount this call did not move (a Stripe
   * invoice item renamed answers with the item, its whole amount and all), so settling keeps the
   * reservation as it is. Absent: settle as the answer says.
   */
  readonly settlesAtReservation?: boolean;
}

/**
 * A source of instructions a call hands the vendor (price stage → authorize): a URL it will fetch
 * them from (or ship the call's audio to), or something whose instructions are not in the request at
 * all (a TwiML application, a TaskRouter workflow). `where` names the parameter or TwiML attribute.
 */
export type RemoteInstruction =
  | { readonly kind: 'url'; readonly where: string; readonly url: string }
  | { readonly kind: 'opaque'; readonly where: string; readonly what: string };

/** Limits the parse stage enforces before a vendor sees a body. */
export interface ParseLimits {
  readonly maxBytes: number;
  readonly maxDepth: number;
  readonly maxParams: number;
}

/** A denial rendered in the vendor's error shape, so its SDK raises its own typed error. */
export interface VendorError {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** How the lease stage learns the upstream account a call acts on (VendorAdapter.leaseAccount). */
export interface LeaseAccountRule {
  /** The account the call names itself (Stripe-Account); undefined: the credential's own account. */
  named(req: VendorRequest): string | undefined;
  /** The path of a GET whose answer says which account the credential belongs to. */
  readonly read: string;
  /** The account that answer names; undefined when it names none (the call is then refused unsent). */
  of(status: number, body: unknown): string | undefined;
}

/**
 * Everything Keybrake knows about one vendor. A fourth vendor is a new folder implementing this.
 * All methods are pure apart from what they are handed.
 */
export interface VendorAdapter {
  readonly name: VendorName;
  /** Response header holding the vendor's request id (for the audit record). */
  readonly requestIdHeader: string;
  /**
   * Whether the vendor de-duplicates this very operation by its `Idempotency-Key`: only then may an
   * identical retry with the same key pass without reserving money again (ADR 0007 §4). Stripe: every
   * POST (its documentation: the key has no effect on GET and DELETE, so a DELETE sent twice runs
   * twice); Resend: only `POST /emails` and `POST /emails/batch`, the endpoints its documentation
   * names (a forward, a reply or a broadcast sent twice goes out twice); Twilio: none.
   */
  honoursIdempotencyKey(op: Operation, req: VendorRequest): boolean;
  /** The vault token the caller presented; undefined when the header is missing or malformed. */
  credential(headers: IncomingHttpHeaders): PresentedCredential | undefined;
  /**
   * `name` when `credential` reads only a Basic password and the user name is the caller's free
   * text (Twilio): it is then no credential to keep out of what is recorded (ADR 0007 §1). Absent:
   * the user name may be the credential (Stripe's `-u <key>:`).
   */
  readonly basicUser?: 'name';
  /** Decodes the body (form or JSON) within limits. */
  parse(req: VendorRequest, body: Buffer, limits: ParseLimits): Params | Denial;
  /**
   * Whether a body `parse` took is sent to the vendor. False for one that was judged but must not
   * reach it (Twilio: a JSON body that only repeats the path of an operation declaring none, as
   * @twilio-alpha/mcp sends), so the vendor acts on exactly what Keybrake checked. Absent: always.
   */
  forwardsBody?(req: VendorRequest, body: Buffer): boolean;
  /**
   * Whether `parse` reads this call's body at all, decided from its request line alone. False for a
   * call refused whatever its body says (Twilio: an upload), so one over `--max-body` gets that
   * refusal rather than `body_too_large`. Absent: always.
   */
  readsBody?(req: VendorRequest): boolean;
  /**
   * The price stage: identifies, classifies and prices the call; may deny (e.g. a Twilio account SID
   * that is not the key's). `known` is what earlier lookups showed in the call's account context
   * (absent: nothing, so whatever a call needs of them is read).
   */
  price(req: VendorRequest, params: Params, key: CompiledKey, known?: KnownLinks): Operation | Denial;
  /**
   * The part of a call's account context its upstream credential does not fix (Stripe: the
   * Stripe-Account and Stripe-Context headers it is made with): links are remembered per credential
   * and this. Absent: the credential alone.
   */
  linkScope?(req: VendorRequest): string;
  /**
   * Whose objects a call's leases guard, when the upstream credential does not say it by itself
   * (ADR 0007 §5, fourteenth round: Stripe, where several keys act on one account). Absent: the
   * credential's own identity (a Twilio account SID, a Resend API key).
   */
  readonly leaseAccount?: LeaseAccountRule;
  /** Headers to send upstream: the caller's, minus hop-by-hop ones, with the real credential. */
  upstreamAuthorization(credential: UpstreamCredential): string;
  /**
   * The actual cost from a successful response, when the vendor reports one. Asked only about an
   * operation that moves money (`movesMoney`): any other keeps its price.
   */
  settle(op: Operation, status: number, body: unknown): MicroUsd | undefined;
  /** Renders a denial in the vendor's error format. */
  error(reason: DenyReason, message: string, status: number): VendorError;
  /**
   * What of an answer the agent must not receive although it is no credential of the key: a value
   * that acts as one outside Keybrake (ADR 0007 §1; Stripe client secrets, the userinfo of URLs). The body as the agent
   * gets it (the same Buffer when nothing is withheld), or a Denial when the answer carries such a
   * value where it cannot be taken out (the answer is then withheld whole). Absent: answers pass whole.
   * `op`: the call's operation, when classify found one: the answer to a Stripe Checkout Session's
   * create keeps the url it priced, which every other answer withholds.
   */
  withholdFromAnswer?(body: Buffer, op?: Operation | null): Buffer | Denial;
  /**
   * The same for the answer's head (sixteenth round, probe catalog16 finding 1: a Twilio Bulk Export
   * day's pre-signed S3 URL was cut in the 307's body and relayed whole in its `Location`): the
   * headers as the agent gets them (the same object when nothing is withheld), or a Denial when a
   * value carries what cannot be taken out. Every vendor's withholds the path and query of each URL
   * off its API hosts and every URL's userinfo, in every header (answer-head.ts). Absent: the head
   * passes as the vendor sent it.
   * `sent`: the call's headers as the agent sent them. A value the vendor echoes in the header it was
   * sent in (Stripe's `Idempotency-Key`) is the agent's own and reveals nothing (sixteenth round,
   * probe fixes16b finding 3); absent: no value counts as echoed.
   */
  withholdFromAnswerHead?(head: AnswerHead, sent?: AnswerHead): AnswerHead | Denial;
}

/** An answer's headers as node reads them: lower-case names, a list for a header given twice. */
export type AnswerHead = Readonly<Record<string, string | string[] | undefined>>;
