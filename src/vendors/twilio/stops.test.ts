import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import type { CompiledKey } from '../../snapshot/types.ts';
import type { Params } from '../types.ts';
import { TWILIO_REQUEST_BODIES } from './bodies.ts';
import { classifyTwilio } from './classify.ts';
import { TWILIO_OPERATIONS } from './operations.ts';
import { DEFAULT_TWILIO_PRICES } from './prices.ts';
import { STATUS_UPDATES } from './stops.ts';

const ACCOUNT = 'AC00000000000000000000000000000001';
const KEY: CompiledKey = {
  uid: 'agents/bot',
  namespace: 'agents',
  name: 'bot',
  vendor: 'twilio',
  tokenFingerprint: 'kb_twilio_…0000',
  upstream: { kind: 'basic', username: ACCOUNT, password: 'real' },
  suspended: false,
  policy: { ref: 'agents/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: false },
};

/** The class and id a POST to `path` on `host` is given with `params`. */
function judged(host: string, path: string, params: Params) {
  const result = classifyTwilio(
    DEFAULT_TWILIO_PRICES,
    { method: 'POST', path, query: '', subHost: host, headers: {} },
    params,
    KEY,
  );
  if (isDenial(result)) throw new Error(`refused: ${result.reason}`);
  return { id: result.id, class: result.class, movesMoney: result.movesMoney };
}

const RECORDING = `/2010-04-01/Accounts/${ACCOUNT}/Calls/CA00000000000000000000000000000001/Recordings/RE00000000000000000000000000000001.json`;
const CONFERENCE_RECORDING = `/2010-04-01/Accounts/${ACCOUNT}/Conferences/CF00000000000000000000000000000001/Recordings/RE00000000000000000000000000000001.json`;
const CALL = `/2010-04-01/Accounts/${ACCOUNT}/Calls/CA00000000000000000000000000000001`;
const ROOM = '/v1/Rooms/RM00000000000000000000000000000001';

describe('status updates of billed resources', () => {
  // Sixth round: these were free writes under `* /v1/**` and caps-only policies, forwarded at $0.
  it.each([
    [
      'a Video room transcription restarted',
      'video',
      `${ROOM}/Transcriptions/video_transcriptions`,
      { Status: 'started' },
    ],
    [
      'a Video room transcription updated without a Status',
      'video',
      `${ROOM}/Transcriptions/video_transcriptions`,
      {},
    ],
    ['a call recording resumed', 'api', RECORDING, { Status: 'in-progress' }],
    ['a call recording given a status Twilio does not list', 'api', RECORDING, { Status: 'recording' }],
    ['a call recording stopped in another spelling', 'api', RECORDING, { Status: 'Stopped' }],
    ['a conference recording resumed', 'api', CONFERENCE_RECORDING, { Status: 'in-progress' }],
    [
      'a live call transcription restarted',
      'api',
      `${CALL}/Transcriptions/GT00000000000000000000000000000001.json`,
      { Status: 'in-progress' },
    ],
    [
      'a SIPREC session restarted',
      'api',
      `${CALL}/Siprec/SR00000000000000000000000000000001.json`,
      { Status: 'in-progress' },
    ],
    [
      'a media stream restarted',
      'api',
      `${CALL}/Streams/MZ00000000000000000000000000000001.json`,
      { Status: 'in-progress' },
    ],
    ['a Video room kept in progress', 'video', ROOM, { Status: 'in-progress' }],
    [
      'a Video participant kept connected',
      'video',
      `${ROOM}/Participants/PA00000000000000000000000000000001`,
      { Status: 'connected' },
    ],
    [
      'a Proxy session re-opened',
      'proxy',
      '/v1/Services/KS00000000000000000000000000000001/Sessions/KC00000000000000000000000000000001',
      { Status: 'in-progress' },
    ],
    [
      'a Proxy session lengthened',
      'proxy',
      '/v1/Services/KS00000000000000000000000000000001/Sessions/KC00000000000000000000000000000001',
      { Ttl: '86400' },
    ],
    [
      'a Studio execution kept active',
      'studio',
      '/v2/Flows/FW00000000000000000000000000000001/Executions/FN00000000000000000000000000000001',
      { Status: 'active' },
    ],
    [
      'a Frontline user made active',
      'frontline-api',
      '/v1/Users/US00000000000000000000000000000001',
      { State: 'active' },
    ],
  ])('%s is unpriced money (an exact entry admits it)', (_name, host, path, params) => {
    expect(judged(host, path, params)).toMatchObject({ class: 'money_unpriced', movesMoney: true });
  });

  it.each([
    [
      'a Video room transcription stopped',
      'video',
      `${ROOM}/Transcriptions/video_transcriptions`,
      { Status: 'stopped' },
    ],
    ['a call recording paused', 'api', RECORDING, { Status: 'paused', PauseBehavior: 'skip' }],
    ['a call recording stopped', 'api', RECORDING, { Status: 'stopped' }],
    ['a conference recording paused', 'api', CONFERENCE_RECORDING, { Status: 'paused' }],
    [
      'a live call transcription stopped',
      'api',
      `${CALL}/Transcriptions/GT00000000000000000000000000000001.json`,
      { Status: 'stopped' },
    ],
    ['a Video room ended', 'video', ROOM, { Status: 'completed' }],
    [
      'a Video participant removed',
      'video',
      `${ROOM}/Participants/PA00000000000000000000000000000001`,
      { Status: 'disconnected' },
    ],
    [
      'a Proxy session closed',
      'proxy',
      '/v1/Services/KS00000000000000000000000000000001/Sessions/KC00000000000000000000000000000001',
      { Status: 'closed' },
    ],
    [
      'a Studio execution ended',
      'studio',
      '/v1/Flows/FW00000000000000000000000000000001/Executions/FN00000000000000000000000000000001',
      { Status: 'ended' },
    ],
    [
      'a Frontline user deactivated',
      'frontline-api',
      '/v1/Users/US00000000000000000000000000000001',
      { State: 'deactivated' },
    ],
  ])('%s is a free write', (_name, host, path, params) => {
    expect(judged(host, path, params)).toMatchObject({ class: 'write', movesMoney: false });
  });

  // The table names operations and a parameter by hand: a regenerated catalog must still have them,
  // unpriced unless the call stops them.
  it.each(STATUS_UPDATES)('%s is an unpriced row that declares the status it is judged by', (id) => {
    expect(TWILIO_OPERATIONS.find((row) => row.id === id)?.class).toBe('money_unpriced');
    expect(TWILIO_REQUEST_BODIES[id]?.names.some((name) => name === 'Status' || name === 'State')).toBe(true);
  });
});
