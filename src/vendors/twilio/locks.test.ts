import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import { matchTwilioOperation } from './classify.ts';
import { resolveLocks } from './locks.ts';
import { TWILIO_OPERATIONS, type TwilioOperationRow } from './operations.ts';

const CONVERSATION = 'CH00000000000000000000000000000001';
const SERVICE = 'IS00000000000000000000000000000001';

/** The row and path segments of a conversations.twilio.com call. */
function matched(method: string, path: string) {
  const match = matchTwilioOperation('conversations', method, path);
  if (!match) throw new Error(`no row for ${method} ${path}`);
  return match;
}

const locked = [
  ['POST', `/v1/Conversations/{}/Messages`],
  ['POST', `/v1/Services/${SERVICE}/Conversations/{}/Messages`],
  ['POST', `/v1/Conversations/{}/Participants`],
  ['POST', `/v1/Conversations/{}/Participants/MB00000000000000000000000000000001`],
  ['POST', `/v1/Services/${SERVICE}/Conversations/{}/Participants`],
  ['POST', `/v1/Services/${SERVICE}/Conversations/{}/Participants/MB00000000000000000000000000000001`],
] as const;

describe('resolveLocks', () => {
  // Sixth round: a participant added by unique name leased `support-room-1` while a message priced
  // from the participants, addressed by SID, held the SID's lease: the two never met.
  it.each([
    ['a unique name', 'support-room-1'],
    ['the SID lower-cased (a valid unique name)', CONVERSATION.toLowerCase()],
    ['the SID with upper-case hexadecimal digits', 'CH0000000000000000000000000000000A'],
    ['a SID of another object', 'MB00000000000000000000000000000001'],
    ['a SID too short', 'CH1'],
  ])('leases a conversation by its SID only, refusing one named by %s', (_name, id) => {
    for (const [method, path] of locked) {
      const bySid = matched(method, path.replace('{}', CONVERSATION));
      expect(resolveLocks(bySid.row, bySid.segments), `${method} ${path}`).toEqual([CONVERSATION]);
      const { row, segments } = matched(method, path.replace('{}', id));
      const result = resolveLocks(row, segments);
      expect(isDenial(result) && result.reason, `${method} ${path}`).toBe('path_invalid');
      expect(isDenial(result) && result.message).toMatch(/address it by its SID/);
    }
  });

  it('throws on a lock whose SID shape it does not know, and knows that of every lock of the table', () => {
    const row: TwilioOperationRow = {
      host: 'sync',
      method: 'POST',
      path: '/v1/Services/{ServiceSid}/Documents/{Sid}',
      id: 'twilio.sync.v1.update_document',
      class: 'write',
      locks: ['{Sid}'],
    };
    expect(() => resolveLocks(row, [SERVICE, 'ET00000000000000000000000000000001'])).toThrow(/lockable/);
    for (const declared of TWILIO_OPERATIONS.filter((r) => (r.locks?.length ?? 0) > 0)) {
      const segments = [...declared.path.matchAll(/\{[^{}/]+\}/g)].map(() => CONVERSATION);
      expect(() => resolveLocks(declared, segments), declared.id).not.toThrow();
    }
  });
});
