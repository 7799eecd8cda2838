import type { ReviewRule } from '../catalog/review.ts';
import type { ResendPricingRule } from './rules.ts';

/**
 * The hand-reviewed classification of every Resend operation (ADR 0007 §1), applied in order by
 * `npm run catalogs` to the operations the SDK reaches, to generate operations.ts: the first rule
 * that matches an operation gives its class. A GET no rule names is a read; every other operation
 * must be named.
 */
export const RESEND_REVIEW: readonly ReviewRule<ResendPricingRule>[] = [
  // ── Sensitive. ──────────────────────────────────────────────────────────────────────────────
  { match: '* /api-keys/**', class: 'sensitive', note: 'lists, mints, changes and revokes API keys' },
  { match: 'POST /webhooks', class: 'sensitive', note: 'returns the signing secret' },
  { match: 'GET /webhooks/{webhook_id}', class: 'sensitive', note: 'returns the signing secret' },
  {
    match: 'PATCH /webhooks/{webhook_id}',
    class: 'sensitive',
    note: 'redirects the account’s events (recipients, message content) to another endpoint',
  },
  {
    match: 'POST /webhooks/{webhook_id}/signing-secret/rotate',
    class: 'sensitive',
    note: 'mints a signing secret',
  },
  { match: 'DELETE /oauth/grants/{grant_id}', class: 'sensitive', note: "revokes an application's access" },
  {
    // The list returns no bodies (LogSummary in resend-openapi, the SDK's ListLogsResponse): a read.
    match: 'GET /logs/{log_id}',
    class: 'sensitive',
    note: "an earlier call's request and response bodies: a minted API key's token, a webhook's signing secret, a share link",
  },
  {
    match: 'POST /emails/{email_id}/share',
    class: 'sensitive',
    note: 'a public link to the content of a sent email (sign-in links, one-time codes)',
  },

  // ── Sends. ──────────────────────────────────────────────────────────────────────────────────
  { match: 'POST /emails', class: 'money', rule: 'email' },
  { match: 'POST /emails/batch', id: 'resend.emails.batch', class: 'money', rule: 'batch' },
  {
    match: 'POST /inboxes/{inbox_id}/threads/{thread_id}/emails/{email_id}/forward',
    id: 'resend.inboxes.threads.forward',
    class: 'money',
    rule: 'forward',
  },
  {
    match: 'POST /inboxes/{inbox_id}/threads/{thread_id}/emails/{email_id}/reply',
    id: 'resend.inboxes.threads.reply',
    class: 'money',
    rule: 'reply',
  },
  {
    match: 'POST /inboxes/{inbox_id}/drafts/{draft_id}/send',
    class: 'money',
    rule: 'draft_send',
    // Priced by reading the draft (inbox-sends.ts): leased, as its update is, so it cannot grow meanwhile.
    locks: ['{draft_id}'],
    note: 'to every address of the stored draft (and, for a reply draft, of the email it answers)',
  },
  {
    match: 'POST /broadcasts',
    class: 'money',
    rule: 'broadcast_create',
    // Only a broadcast sent at creation takes them (classify): a draft locks nothing.
    locks: ['segment_id', 'audience_id'],
    note: "a draft, unless `send` sends it at once to every contact of the body's segment",
  },
  {
    match: 'POST /broadcasts/{broadcast_id}/send',
    class: 'money',
    rule: 'broadcast_send',
    // And the segment, once the broadcast read names it (broadcast.ts).
    locks: ['{broadcast_id}'],
    note: "to every contact of the broadcast's segment",
  },
  {
    match: 'PATCH /broadcasts/{broadcast_id}',
    class: 'money',
    rule: 'broadcast_update',
    // The segment only when the body names one (classify): an edit of content leases the broadcast alone.
    locks: ['{broadcast_id}', 'segment_id', 'audience_id'],
    note: 'a new segment retargets a scheduled send; name, subject and content change no recipient',
  },
  {
    match: 'PATCH /inboxes/{inbox_id}/agent',
    class: 'money_unpriced',
    note: 'the inbox agent can forward threads by itself, outside any call Keybrake sees',
  },
  {
    match: 'POST /automations',
    class: 'money_unpriced',
    note: 'an enabled automation sends email on its triggers, outside any call Keybrake sees',
  },
  {
    match: 'PATCH /automations/{automation_id}',
    class: 'money_unpriced',
    note: 'an enabled automation sends email on its triggers, outside any call Keybrake sees',
  },
  {
    match: 'POST /automations/{automation_id}/duplicate',
    class: 'money_unpriced',
    note: 'a copy of an automation that sends email',
  },
  {
    match: 'POST /events/send',
    class: 'money_unpriced',
    note: "starts the automations listening for the event, for the event's contact",
  },

  // ── Deletions that only remove a draft or a membership. ────────────────────────────────────
  {
    match: 'DELETE /broadcasts/{broadcast_id}',
    class: 'write',
    note: 'Resend deletes only unsent broadcasts',
  },
  { match: 'DELETE /inboxes/{inbox_id}/drafts/{draft_id}', class: 'write', note: 'an unsent draft' },
  {
    match: 'PATCH /inboxes/{inbox_id}/drafts/{draft_id}',
    class: 'write',
    // A draft send is priced by reading the draft under this lease: no recipient joins in between.
    locks: ['{draft_id}'],
    note: "a draft's recipients and content",
  },
  {
    match: 'DELETE /inboxes/{inbox_id}/threads/{thread_id}/labels/{label_id}',
    class: 'write',
    note: 'takes a label off a thread',
  },
  {
    match: 'DELETE /contacts/{contact_id}/segments/{segment_id}',
    class: 'write',
    note: 'takes a contact out of a segment; it can be added back',
  },
  {
    match: 'POST /suppressions/batch/remove',
    class: 'destructive',
    note: 'resumes delivery to addresses that bounced or complained',
  },
  {
    match: 'DELETE /suppressions/{suppression_id}',
    class: 'destructive',
    note: 'resumes delivery to an address that bounced or complained',
  },
  {
    match: 'DELETE /**',
    class: 'destructive',
    note: 'deletes for good (domains, contacts, inboxes, webhooks…)',
  },

  // ── Configuration: writes that send nothing. ────────────────────────────────────────────────
  { match: 'PATCH /emails/{email_id}', class: 'write', note: 'reschedules a scheduled email' },
  { match: 'POST /emails/{email_id}/cancel', class: 'write', note: 'cancels a scheduled email' },
  { match: 'PATCH|POST /broadcasts/**', class: 'write', note: 'edits, cancels or duplicates a broadcast' },
  { match: 'POST /automations/{automation_id}/stop', class: 'write' },
  { match: 'POST|PATCH /events/**', class: 'write', note: 'event definitions' },
  {
    // Thirteenth round: a free write, and a caps-only key created 25 under a $0.01 day cap.
    match: 'POST /inboxes',
    class: 'money_unpriced',
    note: 'Resend bills inboxes apart from the plan, at a price it does not publish per call',
  },
  { match: 'POST|PATCH|PUT /inboxes/**', class: 'write', note: 'inboxes, labels, threads and drafts' },
  { match: 'POST|PATCH /domains/**', class: 'write', note: 'sending domains and their verification' },
  // Adding contacts to a segment changes what a broadcast to it costs: they lease the segment.
  // A contact write whose body subscribes a contact again is destructive, whatever its row says (opt-ins.ts).
  {
    match: 'POST /contacts',
    class: 'write',
    locks: ['segments', 'audience_id'],
    note: 'a contact, possibly in segments',
  },
  {
    match: 'POST /contacts/{contact_id}/segments/{segment_id}',
    class: 'write',
    locks: ['{segment_id}'],
    note: 'adds a contact to a segment',
  },
  {
    match: 'POST /contacts/imports',
    class: 'write',
    note: 'contacts from a file, possibly into segments: a multipart body, which parse refuses (body_invalid)',
  },
  {
    match: 'POST /audiences/{audience_id}/contacts',
    class: 'write',
    locks: ['{audience_id}'],
    note: 'a contact in a (legacy) audience, which is a segment',
  },
  {
    match: 'POST|PATCH /contacts/**',
    class: 'write',
    note: 'contacts, imports, topic and segment memberships',
  },
  { match: 'POST|PATCH /audiences/**', class: 'write', note: 'contacts (legacy audiences)' },
  { match: 'POST|PATCH /segments/**', class: 'write' },
  { match: 'POST|PATCH /contact-properties/**', class: 'write' },
  { match: 'POST|PATCH /topics/**', class: 'write' },
  // The app's own mail renders the stored template (its reset links and codes included) and takes
  // its `reply_to`: a free edit made every later reset mail carry the link to the agent's server
  // (thirteenth round). A new template or a copy is used by nobody until someone names it.
  {
    match: 'PATCH /templates/{template_id}',
    class: 'destructive',
    note: 'rewrites the content and reply address of mail the app sends (reset links, codes)',
  },
  {
    match: 'POST /templates/{template_id}/publish',
    class: 'destructive',
    note: 'puts an edited template live in every later send of the app',
  },
  { match: 'POST|PATCH /templates/**', class: 'write' },
  { match: 'POST /suppressions/**', class: 'write', note: 'stops delivery to addresses' },
  { match: 'POST /webhooks/{webhook_id}/events/{event_id}/replay', class: 'write' },
];
