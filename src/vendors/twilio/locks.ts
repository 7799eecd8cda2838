import { type Denial, deny } from '../../decision/reasons.ts';
import type { TwilioOperationRow } from './operations.ts';

/**
 * The leases a Twilio call takes (ADR 0007 §5), named by one spelling per object (price stage). Pure.
 * Twilio lets a conversation be addressed by its unique name in place of its SID, so two calls on
 * one conversation could name two leases that never meet: a participant added by unique name while
 * a message priced from the participants, addressed by SID, was in flight (sixth round). A lease is
 * therefore taken only on a SID of the object's own shape, and a call that would lease an object
 * by any other name is refused. Twilio refuses a unique name in the SID pattern (error 50390), so a
 * segment in that pattern can only be the SID; Keybrake needs no read to know which object it is.
 */

/** What each lockable placeholder holds: its SID, exactly as Twilio writes it, and the object, for the refusal. */
const LOCKABLE: Readonly<
  Record<string, { readonly sid: RegExp; readonly shape: string; readonly noun: string }>
> = {
  // Twilio's own pattern for a conversation SID; leases are case-folded, and `ch…` is a valid unique name.
  ConversationSid: {
    sid: /^CH[0-9a-f]{32}$/,
    shape: 'CH and 32 lower-case hexadecimal digits',
    noun: 'conversation',
  },
};

/** The ids the row locks: each `{name}` of its path, as the call gives it, if it is a SID; else why not. */
export function resolveLocks(row: TwilioOperationRow, segments: readonly string[]): string[] | Denial {
  if (!row.locks || row.locks.length === 0) return [];
  const placeholders = [...row.path.matchAll(/\{([^{}/]+)\}/g)].map((m) => m[1]);
  const locks: string[] = [];
  for (const lock of row.locks) {
    const name = /^\{(.+)\}$/.exec(lock)?.[1];
    const at = placeholders.indexOf(name);
    const lockable = name !== undefined && Object.hasOwn(LOCKABLE, name) ? LOCKABLE[name] : undefined;
    // A lock naming no placeholder of its own path, or one whose SID shape is unknown, is a table
    // bug: never let it pass unlocked, nor under a name another spelling would not meet.
    if (at === -1 || !lockable) {
      throw new Error(`${row.id}: lock ${lock} is not a lockable placeholder of ${row.path}`);
    }
    const id = segments[at]!;
    if (!lockable.sid.test(id)) {
      return deny(
        'path_invalid',
        `This call leases the ${lockable.noun} (ADR 0007 §5): address it by its SID (${lockable.shape}), not by its unique name.`,
      );
    }
    locks.push(id);
  }
  return locks;
}
