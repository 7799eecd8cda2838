/**
 * Twilio hosts that reach the same objects by the same SIDs: one product's API over another's
 * objects. IP Messaging is Programmable Chat's earlier name, and a Conversations service is a Chat
 * service (`IS…` on all three); a Frontline user is the Conversations user of its identity (`US…` on
 * both). A literal entry with such a SID names the object on every host of its group, so it names
 * one operation only when the group's operations on that path are of one class (the authorize
 * stage, via templates.ts; thirteenth round: `POST /v1/Users/US…` written for the Conversations
 * user, a write, also admitted Frontline's update of that user, unpriced).
 */
export const TWILIO_SAME_OBJECT_HOSTS: readonly (readonly string[])[] = [
  ['chat', 'ip-messaging', 'conversations'],
  ['conversations', 'frontline-api'],
];
