import { type Denial, deny } from '../../decision/reasons.ts';
import { foldName, printableName } from '../names.ts';
import type { Params } from '../types.ts';

/**
 * The fields Keybrake reads to judge a call, in the only spelling Resend declares: the address
 * fields the allowlists read, custom `headers` (custom-headers.ts), the other fields written into a
 * header line (`subject`, `from_name`, `attachments`: header-fields.ts), the segment a broadcast goes to
 * (`segment_id`, legacy `audience_id`: a new one retargets a send that may be scheduled), a
 * segment's `filter` and a contact property's `fallback_value` (both decide which contacts a filter
 * segment reaches: stored-recipients.ts).
 */
const READ_FIELDS: ReadonlySet<string> = new Set([
  'to',
  'cc',
  'bcc',
  'from',
  'reply_to',
  'headers',
  'subject',
  'from_name',
  'attachments',
  'segment_id',
  'audience_id',
  'filter',
  'fallback_value',
]);

/**
 * What a lenient reader drops from a name: every character but letters and digits. That is blanks,
 * control, format and default-ignorable characters (`bcc\u0000`, `bcc\ufeff`, `segment\u200bid`), and
 * word separators too, since a reader that maps camelCase or kebab-case onto snake_case
 * (`segmentId`, `Segment-Id` for `segment_id`) reads names without them.
 */
const UNSEEN = /[^\p{L}\p{N}]/gu;

/** A field name as a lenient reader might match it: compatibility-folded (NFKC: `ｂｃｃ` is `bcc`), letters and digits only, ignoring case. */
function foldedField(name: string): string {
  return foldName(name.normalize('NFKC').replace(UNSEEN, ''));
}

/** Each field of a set by its folded form, so that a variant's refusal names the spelling to send. */
const BY_FOLDED = new WeakMap<ReadonlySet<string>, ReadonlyMap<string, string>>();

function byFolded(fields: ReadonlySet<string>): ReadonlyMap<string, string> {
  let map = BY_FOLDED.get(fields);
  if (map === undefined) {
    map = new Map([...fields].map((name) => [foldedField(name), name]));
    BY_FOLDED.set(fields, map);
  }
  return map;
}

/**
 * `{"To": …}`, `{"BCC": […]}`, `{"ｂｃｃ": …}`, `{"bcc\u0000": …}`, `{"segmentId": …}`: Keybrake reads
 * only `to`, `bcc`, `segment_id`, so another spelling would name a recipient or a segment no
 * allowlist and no price sees, if Resend (or a layer before it) read names regardless of case, width,
 * separators or invisible characters. One reading (ADR 0007 §2): refused, wherever such an object
 * stands (the body, an element of a batch, an automation's send_email step). `fields` is another
 * set read the same way (an automation step's `type` and `config`: automations.ts).
 */
export function fieldSpellingDenial(
  object: unknown,
  fields: ReadonlySet<string> = READ_FIELDS,
): Denial | undefined {
  if (typeof object !== 'object' || object === null || Array.isArray(object)) return undefined;
  const folded = byFolded(fields);
  for (const name of Object.keys(object as Params)) {
    if (fields.has(name)) continue;
    const field = folded.get(foldedField(name));
    if (field !== undefined) {
      return deny(
        'body_invalid',
        `Resend field names are plain lower-case ASCII: send \`${field}\`, not ${printableName(name)}.`,
      );
    }
  }
  return undefined;
}
