import type { IncomingHttpHeaders } from 'node:http';
import { type Denial, deny, isDenial } from '../decision/reasons.ts';
import { trimOws } from '../http-whitespace.ts';
import { RUN_ID_PATTERN as RUN_ID } from '../snapshot/run-id.ts';
import { headerLines, type RawHeaders, rawHeadersOf } from './headers.ts';

const SHAPE = '1 to 128 characters among A-Z a-z 0-9 . _ : @ / -, with no . or .. between slashes';

/**
 * The agent run a call belongs to (DESIGN.md §5, ADR 0007 §6): `Keybrake-Run-Id`, or the W3C baggage
 * member `keybrake.run_id` (percent-encoded), undefined when the call names no run. A run id that is
 * given twice (two headers, two baggage members, in one baggage header or across several), malformed
 * (outside a conservative charset that is safe in logs and counter keys) or different in the header
 * and in baggage is `run_id_invalid`: treating it as "no run" would let a call escape its per-run cap.
 * `raw` are the header lines as received, where duplicates node merges are still visible. Values are
 * trimmed of spaces and tabs only (trimOws, W3C's OWS too): `run-1\xA0` is malformed, not `run-1`.
 */
export function runIdOf(headers: IncomingHttpHeaders, raw?: RawHeaders): string | undefined | Denial {
  // Most calls name no run: answer without walking the raw lines.
  if (headers['keybrake-run-id'] === undefined && headers.baggage === undefined) return undefined;
  const lines = rawHeadersOf(headers, raw);
  const direct = headerLines(lines, 'keybrake-run-id');
  if (direct.length > 1) return invalid('Keybrake-Run-Id is given more than once.');
  const fromHeader = direct[0] === undefined ? undefined : trimOws(direct[0]);
  if (fromHeader !== undefined && !RUN_ID.test(fromHeader)) {
    return invalid(`Keybrake-Run-Id must be ${SHAPE}.`);
  }
  const fromBaggage = baggageRunId(headerLines(lines, 'baggage'));
  if (isDenial(fromBaggage)) return fromBaggage;
  if (fromHeader !== undefined && fromBaggage !== undefined && fromHeader !== fromBaggage) {
    return invalid('Keybrake-Run-Id and the baggage member keybrake.run_id name different runs.');
  }
  return fromHeader ?? fromBaggage;
}

/** The `keybrake.run_id` member of the baggage headers (W3C: `key=value;properties`, comma-separated). */
function baggageRunId(values: readonly string[]): string | undefined | Denial {
  let found: string | undefined;
  for (const value of values) {
    for (const member of value.split(',')) {
      const semi = member.indexOf(';');
      const pair = semi === -1 ? member : member.slice(0, semi);
      const eq = pair.indexOf('=');
      if (eq === -1 || trimOws(pair.slice(0, eq)) !== 'keybrake.run_id') continue;
      if (found !== undefined) return invalid('baggage names keybrake.run_id more than once.');
      let id: string;
      try {
        id = decodeURIComponent(trimOws(pair.slice(eq + 1)));
      } catch {
        return invalid('The baggage member keybrake.run_id is not valid percent-encoding.');
      }
      if (!RUN_ID.test(id)) return invalid(`The baggage member keybrake.run_id must be ${SHAPE}.`);
      found = id;
    }
  }
  return found;
}

function invalid(message: string): Denial {
  return deny('run_id_invalid', message);
}
