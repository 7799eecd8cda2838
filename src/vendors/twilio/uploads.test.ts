import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import type { CompiledKey } from '../../snapshot/types.ts';
import type { VendorRequest } from '../types.ts';
import { classifyTwilio } from './classify.ts';
import { parseTwilio } from './parse.ts';
import { DEFAULT_TWILIO_PRICES } from './prices.ts';

const KEY: CompiledKey = {
  uid: 'agents/bot',
  namespace: 'agents',
  name: 'bot',
  vendor: 'twilio',
  tokenFingerprint: 'kb_twilio_…0000',
  upstream: { kind: 'basic', username: 'AC00000000000000000000000000000001', password: 'real' },
  suspended: false,
  policy: { ref: 'agents/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: false },
};
const LIMITS = { maxBytes: 256 * 1024, maxDepth: 8, maxParams: 1000 };
const BOUNDARY = '--------------------------1234';
// What the MCP's UploadServerlessFunction sends (form-data): no body Keybrake reads.
const MULTIPART = Buffer.from(
  `--${BOUNDARY}\r\nContent-Disposition: form-data; name="Path"\r\n\r\n/x\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="Content"; filename="function.js"\r\nContent-Type: application/javascript\r\n\r\nexports.handler = () => {};\r\n--${BOUNDARY}--\r\n`,
);

function upload(method: string, path: string): VendorRequest {
  return {
    method,
    path,
    query: '',
    subHost: 'serverless-upload',
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
  };
}

describe('serverless-upload.twilio.com', () => {
  it.each([
    [
      'a Function version',
      'POST',
      '/v1/Services/ZS00000000000000000000000000000001/Functions/ZH00000000000000000000000000000001/Versions',
    ],
    [
      'an Asset version',
      'POST',
      '/v1/Services/ZS00000000000000000000000000000001/Assets/ZH00000000000000000000000000000001/Versions',
    ],
    ['any other call to the host', 'GET', '/v1/Services'],
  ])('refuses uploading %s as a credential operation, its body unread', (_name, method, path) => {
    const req = upload(method, path);
    const params = parseTwilio(req, method === 'GET' ? Buffer.alloc(0) : MULTIPART, LIMITS);
    expect(isDenial(params)).toBe(false);
    if (isDenial(params)) return;
    expect(classifyTwilio(DEFAULT_TWILIO_PRICES, req, params, KEY)).toMatchObject({
      reason: 'credential_operation',
      operation: 'twilio.serverless_upload',
    });
  });
});
