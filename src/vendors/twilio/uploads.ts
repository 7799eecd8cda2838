import { Denial } from '../../decision/reasons.ts';
import type { VendorRequest } from '../types.ts';

/**
 * `serverless-upload.twilio.com`, where a Function's code and an Asset are uploaded (multipart; the
 * `@twilio-alpha/mcp` tools UploadServerlessFunction and UploadServerlessAsset). Twilio's pinned
 * definitions do not publish it, so it would be `route_unknown`; it is routed instead so that every
 * call to it is refused with the reason a deployment gets: code uploaded there runs, once deployed,
 * with the account's credentials. Its body is never read (a multipart upload is no form Keybrake
 * takes, and nothing of it is forwarded), so neither is its size: one over `--max-body` is refused
 * for what it is too, not `body_too_large`.
 */
export const TWILIO_UPLOAD_HOST = 'serverless-upload';

const ID = 'twilio.serverless_upload';

/** Whether parseTwilio reads the body of a call: not an upload's, which is refused unread. */
export function twilioReadsBody(req: VendorRequest): boolean {
  return req.subHost !== TWILIO_UPLOAD_HOST;
}

/** The refusal of every call to the upload host (price stage), whatever its method and path. */
export function uploadDenial(): Denial {
  return new Denial(
    'credential_operation',
    `${ID}: code and assets uploaded to Twilio Functions run with the account's credentials once deployed: Keybrake never forwards an upload.`,
    ID,
  );
}
