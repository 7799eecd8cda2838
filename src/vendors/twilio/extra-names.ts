/**
 * Body parameters Twilio documents and reads that the definition the catalog is generated from
 * (@twilio-alpha/mcp 0.7.0, bodies.ts) does not declare, per operation. The parse stage declares
 * them too (declared.ts), so a name differing from one only in case (`email.from`) is refused as for
 * any declared name, rather than forwarded unread while Twilio may read it as the documented one.
 *
 * Thirteenth round (probe fixes13t finding 2): a Verify service's email sender, Twilio error 60253:
 * "Email.From, Email.FromName and Email.ContentTemplateId are all needed to send verification emails".
 * `Email.From` is a sender (sender-choices.ts).
 */
const VERIFY_SERVICE_EMAIL = ['Email.ContentTemplateId', 'Email.From', 'Email.FromName'];

export const TWILIO_EXTRA_BODY_NAMES: Readonly<Record<string, readonly string[]>> = {
  'twilio.verify.services.create': VERIFY_SERVICE_EMAIL,
  'twilio.verify.v2.update_service': VERIFY_SERVICE_EMAIL,
};
