import type { ReviewRule } from '../catalog/review.ts';
import type { TwilioPricingRule } from './rules.ts';

/**
 * The hand-reviewed classification of every Twilio operation (ADR 0007 §1), applied in order by
 * `npm run catalogs` to the pinned definitions to generate operations.ts: the first rule whose host
 * and pattern match an operation gives its class. A GET no rule names is a read; every other
 * operation must be named. Money and access are reviewed one operation at a time; host-wide
 * patterns only group configuration.
 *
 * Sensitive operations were found by reading the definitions' response schemas for credential
 * properties (`auth_token`, `secret`, `password`, `*_token`, `key`, `pin`, `activation_code`), then
 * by what grants access: keys, SIP credentials and IP access lists, OAuth and IAM, code deployed with
 * the account's credentials. Two such properties stay readable: a hosted-number order's
 * `verification_code` (the digits the number's holder keys in on Twilio's ownership call; the create
 * answer carries it anyway, and it is worth nothing to whoever cannot answer that number) and a
 * WhatsApp sender's `verification_code` (what the caller itself submitted).
 */
const ACCOUNT = '/2010-04-01/Accounts/{AccountSid}';
const PUSH_CREDENTIALS = 'chat|conversations|ip-messaging|notify';

export const TWILIO_REVIEW: readonly ReviewRule<TwilioPricingRule>[] = [
  // ── Sensitive: credentials and access to the account. ───────────────────────────────────────
  {
    host: 'api',
    match: '* /2010-04-01/Accounts.json',
    class: 'sensitive',
    note: 'lists or creates (sub)accounts: the response carries their auth tokens',
  },
  {
    host: 'api',
    match: '* /2010-04-01/Accounts/{Sid}.json',
    class: 'sensitive',
    note: 'the account with its auth token; an update can suspend or close it',
  },
  {
    host: 'api',
    match: `* ${ACCOUNT}/Keys.json`,
    class: 'sensitive',
    note: 'API keys: create returns the secret',
  },
  { host: 'api', match: `* ${ACCOUNT}/Keys/{Sid}.json`, class: 'sensitive', note: 'API keys' },
  {
    host: 'api',
    match: `* ${ACCOUNT}/SigningKeys.json`,
    class: 'sensitive',
    note: 'signing keys: create returns the secret',
  },
  { host: 'api', match: `* ${ACCOUNT}/SigningKeys/{Sid}.json`, class: 'sensitive', note: 'signing keys' },
  {
    host: 'api',
    match: `* ${ACCOUNT}/Tokens.json`,
    class: 'sensitive',
    note: 'Network Traversal (TURN) credentials: the response carries a password',
  },
  {
    host: 'api',
    match: `* ${ACCOUNT}/SIP/CredentialLists/**`,
    class: 'sensitive',
    note: 'SIP usernames and passwords that can place calls billed to the account',
  },
  {
    host: 'api',
    match: `* ${ACCOUNT}/SIP/CredentialLists.json`,
    class: 'sensitive',
    note: 'SIP credential lists',
  },
  {
    host: 'api',
    match: `POST|DELETE ${ACCOUNT}/SIP/Domains/{DomainSid}/**CredentialListMappings**`,
    class: 'sensitive',
    note: 'decides which SIP credentials may use a domain',
  },
  {
    host: 'api',
    match: `POST|DELETE ${ACCOUNT}/SIP/Domains/{DomainSid}/**IpAccessControlListMappings**`,
    class: 'sensitive',
    note: 'decides which IP addresses may use a domain',
  },
  {
    host: 'api',
    match: `POST|DELETE ${ACCOUNT}/SIP/IpAccessControlLists**`,
    class: 'sensitive',
    note: 'IP addresses allowed to place SIP calls billed to the account',
  },
  {
    host: 'api',
    match: `POST|DELETE ${ACCOUNT}/ConnectApps/{Sid}.json`,
    class: 'sensitive',
    note: "a Connect App's access to the account (permissions, authorisation URLs)",
  },
  {
    host: 'accounts',
    match: '* /v1/AuthTokens/**',
    class: 'sensitive',
    note: 'promotes or mints the auth token',
  },
  {
    host: 'accounts',
    match: '* /v1/Credentials/**',
    class: 'sensitive',
    note: 'AWS credentials and public keys stored in the account',
  },
  { host: 'iam', match: '* /**', class: 'sensitive', note: 'API keys and OAuth tokens' },
  {
    host: 'preview-iam',
    match: '* /**',
    class: 'sensitive',
    note: 'organisation users, roles and OAuth tokens',
  },
  { host: 'oauth', match: '* /**', class: 'sensitive', note: 'OAuth authorisation and tokens' },
  {
    host: PUSH_CREDENTIALS,
    match: '* /*/Credentials/**',
    class: 'sensitive',
    note: 'push credentials (APNs certificates and keys, FCM secrets)',
  },
  {
    host: 'serverless',
    match: '* /v1/Services/{ServiceSid}/Environments/{EnvironmentSid}/Variables/**',
    class: 'sensitive',
    note: 'environment variables of Functions, returned in full: where secrets are kept',
  },
  // Fourth probe round: the source of a Function, where secrets not kept in Variables are hard-coded.
  {
    host: 'serverless',
    match: 'GET /v1/Services/{ServiceSid}/Functions/{FunctionSid}/Versions/{Sid}/Content',
    class: 'sensitive',
    note: "a Function version's source code (`content`), returned in full: secrets are often written into it",
  },
  // Fourth probe round: a Studio flow's definition holds its HTTP widgets' credentials (Twilio documents
  // `https://user:password@host` URLs, and request bodies and parameters carry tokens), and a context
  // holds what those requests got back. v1 flows carry no definition. Every execution, engagement and
  // step resource carries a `context` too ("the current state of the Flow's Execution … data that your
  // widgets can access"), read or listed: the round's last probe had it forwarded from a plain fetch.
  {
    host: 'studio',
    match: 'GET /v2/Flows',
    class: 'sensitive',
    note: "every flow's `definition`, with its HTTP widgets' URLs, bodies and parameters: where their credentials are written",
  },
  {
    host: 'studio',
    match: 'GET /v2/Flows/{Sid}',
    class: 'sensitive',
    note: "a flow's `definition`, with its HTTP widgets' URLs, bodies and parameters: where their credentials are written",
  },
  {
    host: 'studio',
    match: 'GET /v2/Flows/{Sid}/Revisions/**',
    class: 'sensitive',
    note: "every revision's `definition`, with its HTTP widgets' URLs, bodies and parameters: where their credentials are written",
  },
  {
    host: 'studio',
    match: 'GET /*/Flows/{FlowSid}/Executions/**',
    class: 'sensitive',
    note: "an execution's or step's `context` (read, listed or its Context): what the flow's HTTP widgets got back (tokens), and its trigger's data",
  },
  {
    host: 'studio',
    match: 'GET /v1/Flows/{FlowSid}/Engagements/**',
    class: 'sensitive',
    note: "an engagement's or step's `context` (read, listed or its Context): what the flow's HTTP widgets got back (tokens), and its trigger's data",
  },
  // Fourth probe round: a sink's configuration is what Twilio connects to it with.
  {
    host: 'events',
    match: 'GET /v1/Sinks/**',
    class: 'sensitive',
    note: "a sink's `sink_configuration`: a Segment write key, a Kinesis role ARN and external id (with which anyone streams into the customer's Kinesis), a webhook's user:password@ URL",
  },
  // Fourth probe round: one debugger event replays the request that caused it. Its lists carry
  // neither the variables nor the headers (the definition: only a single fetch returns them).
  {
    host: 'monitor',
    match: 'GET /v1/Alerts/{Sid}',
    class: 'sensitive',
    note: "an alert's `request_variables` and `request_headers`: the parameters of the API call or webhook that raised it (a SIP credential's `Password`, a token)",
  },
  {
    host: 'api',
    match: `GET ${ACCOUNT}/**Notifications/{Sid}.json`,
    class: 'sensitive',
    note: "a notification's `request_variables`: the parameters of the API call or webhook that raised it (a SIP credential's `Password`, a token)",
  },
  // Sixth probe round: answers whose objects the definition leaves free-form (no properties) and
  // that hold what the customer configured or what its code printed, so any credential written there.
  {
    host: 'api',
    match: `GET ${ACCOUNT}/Calls/{CallSid}/Events.json`,
    class: 'sensitive',
    note: "each event's `request` and `response` (pii: sensitive, free-form): the TwiML the customer's server answered, with `<Dial><Sip username password>` and `<Stream><Parameter>` tokens",
  },
  {
    host: 'api',
    match: `GET ${ACCOUNT}/IncomingPhoneNumbers/{ResourceSid}/AssignedAddOns.json`,
    class: 'sensitive',
    note: "every add-on of the number with its `configuration`, free-form: what the customer set up the add-on with (a partner's API key)",
  },
  {
    host: 'api',
    match: `GET ${ACCOUNT}/IncomingPhoneNumbers/{ResourceSid}/AssignedAddOns/{Sid}.json`,
    class: 'sensitive',
    note: "an assigned add-on's `configuration`, free-form: what the customer set up the add-on with (a partner's API key)",
  },
  {
    host: 'marketplace',
    match: 'GET /v1/InstalledAddOns',
    class: 'sensitive',
    note: "every installed add-on's `configuration`, free-form: what the customer set up the add-on with",
  },
  {
    host: 'marketplace',
    match: 'GET /v1/InstalledAddOns/{Sid}',
    class: 'sensitive',
    note: "an installed add-on's `configuration`, free-form: what the customer set up the add-on with",
  },
  {
    host: 'preview',
    match: 'GET /marketplace/InstalledAddOns',
    class: 'sensitive',
    note: "every installed add-on's `configuration`, free-form: what the customer set up the add-on with",
  },
  {
    host: 'preview',
    match: 'GET /marketplace/InstalledAddOns/{Sid}',
    class: 'sensitive',
    note: "an installed add-on's `configuration`, free-form: what the customer set up the add-on with",
  },
  {
    host: 'flex-api',
    match: 'GET /v1/Configuration',
    class: 'sensitive',
    note: '`attributes`, `crm_attributes`, `integrations`, `plugin_service_attributes`, free-form: what the customer configured Flex and its CRM and integrations with',
  },
  {
    host: 'serverless',
    match: 'GET /v1/Services/{ServiceSid}/Environments/{EnvironmentSid}/Logs/**',
    class: 'sensitive',
    note: "a Function's console output (`message`): whatever its code printed, the secrets of its Variables and context included",
  },
  {
    host: 'assistants',
    match: 'GET /v1/Tools/**',
    class: 'sensitive',
    note: "a tool's `meta`, free-form: its webhook's method, URL and headers (an Authorization header)",
  },
  {
    host: 'assistants',
    match: 'GET /v1/Assistants/{assistantId}/Tools',
    class: 'sensitive',
    note: "the assistant's tools with their `meta`: their webhooks' URLs and headers",
  },
  {
    host: 'assistants',
    match: 'GET /v1/Assistants/{id}',
    class: 'sensitive',
    note: "the assistant with its `tools` and their `meta`: their webhooks' URLs and headers",
  },
  // Sixth round: a session's messages are its conversation history, which Twilio documents as holding
  // the tool and knowledge calls too (`role` `tool` or `knowledge`), their free-form `content` what a
  // webhook tool answered: like a Studio context, whatever the customer's server sent back.
  {
    host: 'assistants',
    match: 'GET /v1/Sessions/{sessionId}/Messages',
    class: 'sensitive',
    note: "a session's conversation history: its tool calls as messages, with what the tools' webhooks answered (`content`, free-form)",
  },
  {
    host: 'monitor',
    match: 'GET /v1/Events/**',
    class: 'sensitive',
    note: "an event's `event_data`, free-form: an update's previous and new properties of the resource, whatever configuration they hold",
  },
  // Sixteenth round (probe catalog16 finding 1): the two 307s of Twilio's definitions. Each answers a
  // pre-signed file on S3 (`redirect_to`, and `Location`), which anyone holding the URL downloads with
  // no key, outside Keybrake. A Messages export day is every message of the day as Twilio stores it,
  // `body` included: the account's own texts a message read withholds (message-bodies.ts, thirteenth
  // round). An add-on result's data is what the add-on made of a recording (a transcript), whole.
  // Withholding the URL (webhook-urls.ts, answer-head.ts) leaves the read nothing to answer.
  {
    host: 'bulkexports',
    match: 'GET /v1/Exports/{ResourceType}/Days/{Day}',
    class: 'sensitive',
    note: "a day's export file, a pre-signed S3 URL: every message (call, conference) of that day, the account's own message text included",
  },
  {
    host: 'api',
    match: `GET ${ACCOUNT}/Recordings/{ReferenceSid}/AddOnResults/{AddOnResultSid}/Payloads/{PayloadSid}/Data.json`,
    class: 'sensitive',
    note: "an add-on's result for a recording (a transcript, an analysis), a pre-signed S3 URL that needs no key",
  },
  {
    host: 'serverless',
    match: 'POST /v1/Services/{ServiceSid}/Environments/{EnvironmentSid}/Deployments',
    class: 'sensitive',
    note: "puts code live that runs with the account's credentials",
  },
  {
    host: 'serverless',
    match: 'POST /v1/Services',
    class: 'sensitive',
    note: "IncludeCredentials hands the account's credentials to its Functions",
  },
  {
    host: 'serverless',
    match: 'POST /v1/Services/{Sid}',
    class: 'sensitive',
    note: "IncludeCredentials hands the account's credentials to its Functions",
  },
  {
    host: 'verify',
    match: '* /v2/Services/{ServiceSid}/AccessTokens/**',
    class: 'sensitive',
    note: 'mints and returns Verify SDK access tokens',
  },
  {
    host: 'verify',
    match: 'POST /v2/Services/{ServiceSid}/Entities/{Identity}/Factors',
    class: 'sensitive',
    note: 'creates a TOTP or Push factor: the answer carries its seed (`binding.secret`, `binding.uri`)',
  },
  {
    host: 'trusthub',
    match: 'POST /v1/ComplianceInquiries/**',
    class: 'sensitive',
    note: 'returns a session token for the compliance inquiry form',
  },
  {
    host: 'trunking',
    match: 'POST|DELETE /v1/Trunks/{TrunkSid}/CredentialLists/**',
    class: 'sensitive',
    note: 'decides which SIP credentials may use a trunk',
  },
  {
    host: 'trunking',
    match: 'POST|DELETE /v1/Trunks/{TrunkSid}/IpAccessControlLists/**',
    class: 'sensitive',
    note: 'decides which IP addresses may use a trunk',
  },
  {
    host: 'voice',
    match: 'POST|DELETE /v1/IpRecords/**',
    class: 'sensitive',
    note: 'IP addresses allowed to send SIP traffic to the account',
  },
  {
    host: 'voice',
    match: 'POST|DELETE /v1/SourceIpMappings/**',
    class: 'sensitive',
    note: 'maps IP addresses to SIP domains: who may call through them',
  },
  // Fourth probe round: reads whose answer carries a credential of something billed to the account.
  {
    host: 'supersim',
    match: '* /v1/ESimProfiles/**',
    class: 'sensitive',
    note: 'an eSIM profile: the answer (and the status callback) carries its activation code, with which any phone downloads the eSIM billed to the account, and its matching id and SM-DP+ address',
  },
  {
    host: 'numbers',
    match: 'GET /v1/Porting/PortIn/**',
    class: 'sensitive',
    note: "a port-in request and its numbers: the losing carrier's account number and the number's PIN (`port_out_pin`), with which the number can be ported away",
  },
  {
    host: 'flex-api',
    match: 'POST /v1/Insights/Session',
    class: 'sensitive',
    note: 'mints a session that signs in to Flex Insights',
  },
  {
    host: 'flex-api',
    match: 'POST /v1/PluginService/Releases',
    class: 'sensitive',
    note: "puts plugin code live in every agent's Flex UI",
  },
  // Fourth probe round: one JSON update of the Flex configuration sets the NPM packages and plugins
  // every agent's Flex UI loads (like a release, above), turns on billed recording of every Flex call
  // and points its recordings at a webhook; Keybrake cannot tell which keys Twilio will read.
  {
    host: 'flex-api',
    match: 'POST /v1/Configuration',
    class: 'sensitive',
    note: "ui_dependencies, plugin_service_*, serverless_service_sids: code loaded in every agent's Flex UI; also call_recording_enabled and call_recording_webhook_url",
  },

  // ── Money, priced. ───────────────────────────────────────────────────────────────────────
  {
    host: 'api',
    match: `POST ${ACCOUNT}/Messages.json`,
    id: 'twilio.messages.create',
    class: 'money',
    rule: 'message',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/Calls.json`,
    id: 'twilio.calls.create',
    class: 'money',
    rule: 'call',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/Calls/{Sid}.json`,
    id: 'twilio.calls.update',
    class: 'money',
    rule: 'call_update',
    note: 'new instructions dial new legs and a new TimeLimit lengthens the call; hanging up is free (ADR 0007 §7)',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/Conferences/{ConferenceSid}/Participants.json`,
    id: 'twilio.conferences.participants.create',
    class: 'money',
    rule: 'call',
    note: 'dials the participant',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/IncomingPhoneNumbers.json`,
    id: 'twilio.incoming_phone_numbers.create',
    class: 'money',
    rule: 'phone_number',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/IncomingPhoneNumbers/Local.json`,
    class: 'money',
    rule: 'phone_number',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/IncomingPhoneNumbers/Mobile.json`,
    class: 'money',
    rule: 'phone_number',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/IncomingPhoneNumbers/TollFree.json`,
    class: 'money',
    rule: 'phone_number',
  },
  {
    host: 'verify',
    match: 'POST /v2/Services/{ServiceSid}/Verifications',
    id: 'twilio.verify.verifications.create',
    class: 'money',
    rule: 'verification',
  },
  {
    host: 'lookups',
    match: 'GET /v2/PhoneNumbers/{PhoneNumber}',
    id: 'twilio.lookups.v2.fetch',
    class: 'money',
    rule: 'lookup_v2',
    note: 'a paid read: Fields packages are billed per request',
  },
  {
    host: 'lookups',
    match: 'GET /v1/PhoneNumbers/{PhoneNumber}',
    id: 'twilio.lookups.v1.fetch',
    class: 'money',
    rule: 'lookup_v1',
    note: 'a paid read: Type and AddOns are billed per request',
  },
  {
    host: 'conversations',
    match: 'POST /v1/Conversations/{ConversationSid}/Messages',
    class: 'money',
    rule: 'conversation_message',
    locks: ['{ConversationSid}'],
    note: 'delivered to every SMS and WhatsApp participant',
  },
  {
    host: 'conversations',
    match: 'POST /v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Messages',
    class: 'money',
    rule: 'conversation_message',
    locks: ['{ConversationSid}'],
    note: 'delivered to every SMS and WhatsApp participant',
  },

  // ── Money Keybrake cannot price (exact allowlist entries only). ────────────────────────────
  {
    host: 'api',
    match: `POST ${ACCOUNT}/Calls/{CallSid}/Recordings.json`,
    class: 'money_unpriced',
    note: 'billed per recorded minute',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/Calls/{CallSid}/Transcriptions.json`,
    class: 'money_unpriced',
    note: 'real-time transcription, billed per minute',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/Calls/{CallSid}/Siprec.json`,
    class: 'money_unpriced',
    note: 'media forked to a recorder, billed per minute',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/Calls/{CallSid}/Streams.json`,
    class: 'money_unpriced',
    note: 'media streams, billed per minute',
  },
  // Sixth round: an update whose `Status` can start again what Twilio bills (a paused recording
  // resumed, a stopped transcription restarted) is unpriced money; one that only pauses or stops it is
  // a free write, decided from its `Status` by stops.ts (any other value, or none, fails closed).
  {
    host: 'api',
    match: `POST ${ACCOUNT}/Calls/{CallSid}/Recordings/{Sid}.json`,
    class: 'money_unpriced',
    note: 'Status=in-progress resumes a paused recording, billed per minute, and undoes a pause that kept card numbers out of it; pausing or stopping is a free write',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/Conferences/{ConferenceSid}/Recordings/{Sid}.json`,
    class: 'money_unpriced',
    note: 'Status=in-progress resumes a paused recording, billed per minute; pausing or stopping is a free write',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/Calls/{CallSid}/Transcriptions/{Sid}.json`,
    class: 'money_unpriced',
    note: 'real-time transcription, billed per minute: any Status but stopped is read as a restart; stopping is a free write',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/Calls/{CallSid}/Siprec/{Sid}.json`,
    class: 'money_unpriced',
    note: 'media forked to a recorder, billed per minute: any Status but stopped is read as a restart; stopping is a free write',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/Calls/{CallSid}/Streams/{Sid}.json`,
    class: 'money_unpriced',
    note: 'media streams, billed per minute: any Status but stopped is read as a restart; stopping is a free write',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/Calls/{CallSid}/Payments.json`,
    class: 'money_unpriced',
    note: "collects a card on the call and charges it through the account's Pay connector",
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/Calls/{CallSid}/Payments/{Sid}.json`,
    class: 'money_unpriced',
    note: 'completing a capture charges the card',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/OutgoingCallerIds.json`,
    class: 'money_unpriced',
    note: 'Twilio calls the number to validate it: a call to a destination of the caller’s choosing',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/Applications.json`,
    class: 'money_unpriced',
    note: 'VoiceCallerIdLookup: a paid caller-name lookup on every call to the numbers routed to it',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/Applications/{Sid}.json`,
    class: 'money_unpriced',
    note: 'VoiceCallerIdLookup: a paid caller-name lookup on every call to the numbers routed to it',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/IncomingPhoneNumbers/{ResourceSid}/AssignedAddOns.json`,
    class: 'money_unpriced',
    note: 'an add-on billed on every call or message to the number',
  },
  {
    host: 'assistants',
    match: 'POST /v1/Assistants/{id}/Messages',
    class: 'money_unpriced',
    note: 'AI Assistants usage',
  },
  {
    host: 'flex-api',
    match: 'POST /v1/Interactions',
    class: 'money_unpriced',
    note: 'starts an interaction; an outbound one contacts the customer',
  },
  {
    host: 'flex-api',
    match: 'POST /v1/Interactions/{InteractionSid}/Channels/{ChannelSid}/Participants',
    class: 'money_unpriced',
    note: 'adds a participant, who may be reached over a paid channel',
  },
  {
    host: 'intelligence',
    match: 'POST /v2/Transcripts',
    class: 'money_unpriced',
    note: 'Voice Intelligence, billed per minute',
  },
  {
    host: 'intelligence',
    match: 'POST /v2/Services',
    class: 'money_unpriced',
    note: 'AutoTranscribe: every recording of the account transcribed, billed per minute',
  },
  {
    host: 'intelligence',
    match: 'POST /v2/Services/{Sid}',
    class: 'money_unpriced',
    note: 'AutoTranscribe: every recording of the account transcribed, billed per minute',
  },
  {
    host: 'intelligence',
    match: 'POST /v2/Services/{ServiceSid}/Operators/{OperatorSid}',
    class: 'money_unpriced',
    note: 'runs the language operator on every transcript of the service, billed per run',
  },
  {
    host: 'insights',
    match: 'POST /v1/Voice/Settings',
    class: 'money_unpriced',
    note: 'AdvancedFeatures: Voice Insights Advanced Features, billed per minute of every call',
  },
  {
    host: 'lookups',
    match: 'POST /v2/batch/query',
    class: 'money_unpriced',
    note: 'lookups in bulk, billed per number and field',
  },
  {
    host: 'marketplace',
    match: 'POST /v1/InstalledAddOns',
    class: 'money_unpriced',
    note: 'an installed add-on is billed on use',
  },
  {
    host: 'marketplace',
    match: 'POST /v1/InstalledAddOns/{InstalledAddOnSid}/Usage',
    class: 'money_unpriced',
    note: 'reports billable add-on usage',
  },
  {
    host: 'marketplace',
    match: 'POST /v1/InstalledAddOns/{InstalledAddOnSid}/Extensions/{Sid}',
    class: 'money_unpriced',
    note: 'enables an extension: the add-on then runs, billed, on every call or message it hooks',
  },
  {
    host: 'preview',
    match: 'POST /marketplace/InstalledAddOns',
    class: 'money_unpriced',
    note: 'an installed add-on is billed on use',
  },
  {
    host: 'preview',
    match: 'POST /marketplace/InstalledAddOns/{InstalledAddOnSid}/Extensions/{Sid}',
    class: 'money_unpriced',
    note: 'enables an extension: the add-on then runs, billed, on every call or message it hooks',
  },
  {
    host: 'messaging',
    match: 'POST /v1/a2p/BrandRegistrations',
    class: 'money_unpriced',
    note: 'A2P 10DLC brand registration fee',
  },
  {
    host: 'messaging',
    match: 'POST /v1/a2p/BrandRegistrations/{BrandSid}/Vettings',
    class: 'money_unpriced',
    note: 'brand vetting fee',
  },
  {
    host: 'messaging',
    match: 'POST /v1/a2p/BrandRegistrations/{Sid}',
    class: 'money_unpriced',
    note: 'resubmitting a brand is billed again',
  },
  {
    host: 'messaging',
    match: 'POST /v1/a2p/BrandRegistrations/{BrandRegistrationSid}/SmsOtp',
    class: 'money_unpriced',
    note: 'sends an SMS to the brand contact',
  },
  {
    host: 'messaging',
    match: 'POST /v1/Services/{MessagingServiceSid}/Compliance/Usa2p',
    class: 'money_unpriced',
    note: 'A2P campaign vetting and monthly campaign fees',
  },
  {
    host: 'messaging',
    match: 'POST /v1/Services/{MessagingServiceSid}/Compliance/Usa2p/{Sid}',
    class: 'money_unpriced',
    note: 'resubmitting a campaign is vetted, and billed, again',
  },
  {
    host: 'notify',
    match: 'POST /v1/Services/{ServiceSid}/Notifications',
    class: 'money_unpriced',
    note: 'sends to every binding it targets',
  },
  {
    host: 'numbers',
    match: 'POST /v1/Porting/PortIn',
    class: 'money_unpriced',
    note: 'ported numbers are billed monthly',
  },
  {
    host: 'numbers',
    match: 'POST /v2/HostedNumber/Orders',
    class: 'money_unpriced',
    note: 'hosted numbers are billed monthly',
  },
  {
    host: 'numbers',
    match: 'POST /v2/HostedNumber/Orders/Bulk',
    class: 'money_unpriced',
    note: 'hosted numbers are billed monthly',
  },
  {
    host: 'preview',
    match: 'POST /HostedNumbers/HostedNumberOrders',
    class: 'money_unpriced',
    note: 'hosted numbers are billed monthly',
  },
  {
    host: 'preview',
    match: 'POST /wireless/Commands',
    class: 'money_unpriced',
    note: 'SMS commands to SIMs are billed',
  },
  {
    host: 'preview',
    match: 'POST /wireless/Sims/{Sid}',
    class: 'money_unpriced',
    note: 'activating a SIM starts its monthly fee',
  },
  {
    host: 'preview',
    match: 'POST /wireless/RatePlans',
    class: 'money_unpriced',
    note: 'what its SIMs may use and are billed for: data limits, roaming, voice and messaging',
  },
  {
    host: 'wireless',
    match: 'POST /v1/Commands',
    class: 'money_unpriced',
    note: 'SMS commands to SIMs are billed',
  },
  {
    host: 'wireless',
    match: 'POST /v1/Sims/{Sid}',
    class: 'money_unpriced',
    note: 'activating a SIM starts its monthly fee',
  },
  {
    host: 'wireless',
    match: 'POST /v1/RatePlans',
    class: 'money_unpriced',
    note: 'what its SIMs may use and are billed for: data limits, roaming, voice and messaging',
  },
  {
    host: 'supersim',
    match: 'POST /v1/IpCommands',
    class: 'money_unpriced',
    note: 'data to a SIM is billed',
  },
  {
    host: 'supersim',
    match: 'POST /v1/SmsCommands',
    class: 'money_unpriced',
    note: 'SMS commands to SIMs are billed',
  },
  {
    host: 'supersim',
    match: 'POST /v1/Sims/{Sid}',
    class: 'money_unpriced',
    note: 'activating a SIM starts its monthly fee',
  },
  {
    host: 'supersim',
    match: 'POST /v1/Fleets',
    class: 'money_unpriced',
    note: 'DataEnabled and DataLimit (up to 2 TB a month): the data its SIMs may use, billed per MB',
  },
  {
    host: 'supersim',
    match: 'POST /v1/Fleets/{Sid}',
    class: 'money_unpriced',
    note: 'DataLimit (up to 2 TB a month): the data every SIM of the fleet may use, billed per MB',
  },
  {
    host: 'proxy',
    match: 'POST /v1/Services/{ServiceSid}/Sessions',
    class: 'money_unpriced',
    note: 'a Proxy session is billed, and relays calls and messages',
  },
  {
    host: 'proxy',
    match: 'POST /v1/Services/{ServiceSid}/Sessions/{SessionSid}/Participants',
    class: 'money_unpriced',
    note: 'a participant is reached by calls and messages',
  },
  {
    host: 'proxy',
    match:
      'POST /v1/Services/{ServiceSid}/Sessions/{SessionSid}/Participants/{ParticipantSid}/MessageInteractions',
    class: 'money_unpriced',
    note: 'sends a message to the participant',
  },
  {
    host: 'studio',
    match: 'POST /*/Flows/{FlowSid}/Executions',
    class: 'money_unpriced',
    note: 'runs a flow, which may call and message anyone',
  },
  {
    host: 'studio',
    match: 'POST /v1/Flows/{FlowSid}/Engagements',
    class: 'money_unpriced',
    note: 'runs a flow, which may call and message anyone',
  },
  {
    host: 'chat|ip-messaging',
    match: 'POST /*/Services/{ServiceSid}/Channels/{ChannelSid}/Messages',
    class: 'money_unpriced',
    note: 'a Chat channel is a conversation: the message reaches its SMS and WhatsApp participants, as Conversations messages priced above do',
  },
  {
    host: 'verify',
    match: 'POST /v2/Services/{ServiceSid}/Entities/{Identity}/Challenges',
    class: 'money_unpriced',
    note: 'a Verify Push or TOTP challenge, billed per verification',
  },
  {
    host: 'verify',
    match: 'POST /v2/Services/{ServiceSid}/Entities/{Identity}/Challenges/{ChallengeSid}/Notifications',
    class: 'money_unpriced',
    note: 'sends the push notification again',
  },
  {
    host: 'taskrouter',
    match: 'POST /v1/Workspaces/{WorkspaceSid}/*/{*}/Reservations/{Sid}',
    class: 'money_unpriced',
    note: 'the call, conference and dequeue instructions dial the numbers in CallTo and To',
  },
  { host: 'video', match: 'POST /v1/Rooms', class: 'money_unpriced', note: 'billed per participant minute' },
  {
    host: 'video',
    match: 'POST /v1/Compositions',
    class: 'money_unpriced',
    note: 'billed per composed minute',
  },
  {
    host: 'video',
    match: 'POST /v1/CompositionHooks',
    class: 'money_unpriced',
    note: 'an enabled hook composes every completed room of the account, billed per composed minute',
  },
  {
    host: 'video',
    match: 'POST /v1/CompositionHooks/{Sid}',
    class: 'money_unpriced',
    note: 'an enabled hook composes every completed room of the account, billed per composed minute',
  },
  {
    host: 'video',
    match: 'POST /v1/Rooms/{RoomSid}/RecordingRules',
    class: 'money_unpriced',
    note: 'starts recording, billed per participant minute',
  },
  {
    host: 'video',
    match: 'POST /v1/Rooms/{RoomSid}/Transcriptions',
    class: 'money_unpriced',
    note: 'billed per minute',
  },
  // Sixth round: the same shape as the api.twilio.com recordings above (stops.ts).
  {
    host: 'video',
    match: 'POST /v1/Rooms/{RoomSid}/Transcriptions/{Ttid}',
    class: 'money_unpriced',
    note: 'Status=started restarts a stopped transcription, billed per minute; stopping is a free write',
  },
  {
    host: 'video',
    match: 'POST /v1/Rooms/{Sid}',
    class: 'money_unpriced',
    note: 'a room is billed per participant minute: any Status but completed is read as keeping it going; ending it is a free write',
  },
  {
    host: 'video',
    match: 'POST /v1/Rooms/{RoomSid}/Participants/{Sid}',
    class: 'money_unpriced',
    note: 'billed per participant minute: any Status but disconnected is read as keeping the participant in; removing it is a free write',
  },
  {
    host: 'proxy',
    match: 'POST /v1/Services/{ServiceSid}/Sessions/{Sid}',
    class: 'money_unpriced',
    note: 'Status=in-progress re-opens a closed session, which relays billed calls and messages again (so may a new Ttl or DateExpiry); closing it is a free write',
  },
  {
    host: 'studio',
    match: 'POST /*/Flows/{FlowSid}/Executions/{Sid}',
    class: 'money_unpriced',
    note: 'an execution may call and message anyone: any Status but ended is read as keeping it going; ending it is a free write',
  },
  {
    host: 'frontline-api',
    match: 'POST /v1/Users/{Sid}',
    class: 'money_unpriced',
    note: 'State=active makes a deactivated user active again, billed per active user; deactivating is a free write',
  },

  // ── Destructive (exact allowlist entries only). ─────────────────────────────────────────────
  {
    host: 'accounts|verify',
    match: 'POST|DELETE /*/SafeList/Numbers**',
    class: 'destructive',
    note: 'numbers exempt from fraud protection (SMS pumping, Fraud Guard), or no longer',
  },
  {
    host: 'trunking',
    match: 'POST|DELETE /**',
    class: 'destructive',
    note: 'SIP trunks: where calls go and who may use them',
  },
  {
    host: 'voice',
    match: 'POST /v1/DialingPermissions/BulkCountryUpdates',
    class: 'destructive',
    note: 'the countries the account may call: the toll-fraud guard',
  },
  {
    host: 'voice',
    match: 'POST /v1/Settings',
    class: 'destructive',
    note: 'dialing permissions inheritance for subaccounts',
  },
  {
    host: 'voice',
    match: 'POST|DELETE /v1/ByocTrunks/**',
    class: 'destructive',
    note: 'BYOC trunks: where calls go',
  },
  {
    host: 'voice',
    match: 'POST|DELETE /v1/ConnectionPolicies/**',
    class: 'destructive',
    note: 'where BYOC calls go',
  },
  {
    host: 'routes',
    match: 'POST /v2/Trunks/{SipTrunkDomain}',
    class: 'destructive',
    note: 'where a trunk’s calls are processed',
  },
  {
    host: 'events',
    match: 'POST /v1/Sinks/{Sid}/*',
    class: 'write',
    note: 'sends a test event to, or validates, a sink',
  },
  {
    host: 'events',
    match: 'POST /v1/Sinks**',
    class: 'destructive',
    note: "sends the account's events (message and call data) to a destination of the caller's choosing",
  },
  // Sixteenth round (probe catalog16 finding 1): an account-wide switch, as the thirteenth round's
  // message-author and participant-identity writes and the event sinks above are. Turning a resource's
  // daily export on, or back-filling past days with a custom job, writes every message (call,
  // conference) of the account into export files, and names a webhook and an e-mail told of each; the
  // files themselves are sensitive to fetch (above), and a glob admitted both.
  {
    host: 'bulkexports',
    match: 'POST /v1/Exports/{ResourceType}/Configuration',
    class: 'destructive',
    note: 'turns the daily export of every message (call, conference) of the account on or off, and sets the webhook told of each',
  },
  {
    host: 'bulkexports',
    match: 'POST /v1/Exports/{ResourceType}/Jobs',
    class: 'destructive',
    note: "exports every message (call, conference) of the account for the days it names, told to a webhook and an e-mail address of the caller's choosing",
  },
  // Sixth probe round: an update answers with the whole configuration, which reading it is refused for.
  {
    host: 'marketplace',
    match: 'POST /v1/InstalledAddOns/{Sid}',
    class: 'destructive',
    note: "answers with the add-on's whole `configuration` (reading it is sensitive), whatever the update set",
  },
  {
    host: 'preview',
    match: 'POST /marketplace/InstalledAddOns/{Sid}',
    class: 'destructive',
    note: "answers with the add-on's whole `configuration` (reading it is sensitive), whatever the update set",
  },
  {
    host: 'events',
    match: 'POST /v1/Subscriptions**',
    class: 'destructive',
    note: "chooses which of the account's events go to a sink",
  },
  {
    host: 'conversations',
    match: 'POST /v1/Configuration/Webhooks',
    class: 'destructive',
    note: "sends every conversation's messages and events of the account to a URL of the caller's choosing",
  },
  {
    host: 'conversations',
    match: 'POST /v1/Services/{ChatServiceSid}/Configuration/Webhooks',
    class: 'destructive',
    note: "sends every conversation's messages and events of the service to a URL of the caller's choosing",
  },
  // A standing webhook: from now on the messages or events of a service, conversation, channel,
  // address, sender, workspace or domain go to a URL the call names. Status callbacks (the status
  // of what is sent, of one job, an alarm) stay writes, and instruction URLs (TwiML) are admitted
  // only from allow.twimlHosts (instructions.ts).
  {
    host: 'chat|ip-messaging',
    match: 'POST /*/Services/{Sid}',
    class: 'destructive',
    note: "PostWebhookUrl, PreWebhookUrl, Webhooks.*.Url: every channel's messages and events of the service (the IS… service Conversations shares) to a URL of the caller's choosing",
  },
  {
    host: 'chat|ip-messaging',
    match: 'POST /v2/Services/{ServiceSid}/Channels/{ChannelSid}/Webhooks**',
    class: 'destructive',
    note: "sends the channel's messages and events to a URL of the caller's choosing",
  },
  {
    host: 'conversations',
    match: 'POST /v1/Conversations/{ConversationSid}/Webhooks**',
    class: 'destructive',
    note: "sends the conversation's messages and events to a URL of the caller's choosing",
  },
  {
    host: 'conversations',
    match: 'POST /v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Webhooks**',
    class: 'destructive',
    note: "sends the conversation's messages and events to a URL of the caller's choosing",
  },
  {
    host: 'conversations',
    match: 'POST /v1/Configuration/Addresses**',
    class: 'destructive',
    note: "AutoCreation.WebhookUrl: every conversation an inbound message creates sends its messages to a URL of the caller's choosing",
  },
  {
    host: 'flex-api',
    match: 'POST /v1/FlexFlows**',
    class: 'destructive',
    note: "Integration.Url: an external Flex flow sends the channel's messages to a URL of the caller's choosing",
  },
  {
    host: 'messaging',
    match: 'POST /v2/Channels/Senders**',
    class: 'destructive',
    note: "webhook.callback_url: the messages the sender receives go to a URL of the caller's choosing",
  },
  {
    host: 'messaging',
    match: 'POST /v1/LinkShortening/Domains/{DomainSid}/Config',
    class: 'destructive',
    note: "CallbackUrl: who clicked which shortened link of the account's messages, to a URL of the caller's choosing",
  },
  {
    host: 'proxy',
    match: 'POST /v1/Services',
    class: 'destructive',
    note: "CallbackUrl, InterceptCallbackUrl: every interaction of the service, message bodies included, to a URL of the caller's choosing",
  },
  {
    host: 'proxy',
    match: 'POST /v1/Services/{Sid}',
    class: 'destructive',
    note: "CallbackUrl, InterceptCallbackUrl: every interaction of the service, message bodies included, to a URL of the caller's choosing",
  },
  {
    host: 'sync',
    match: 'POST /v1/Services',
    class: 'destructive',
    note: "WebhookUrl: every change to the service's documents, lists and maps, with their data, to a URL of the caller's choosing",
  },
  {
    host: 'sync',
    match: 'POST /v1/Services/{Sid}',
    class: 'destructive',
    note: "WebhookUrl: every change to the service's documents, lists and maps, with their data, to a URL of the caller's choosing",
  },
  {
    host: 'taskrouter',
    match: 'POST /v1/Workspaces',
    class: 'destructive',
    note: "EventCallbackUrl: every event of the workspace's tasks, with their attributes, to a URL of the caller's choosing",
  },
  {
    host: 'taskrouter',
    match: 'POST /v1/Workspaces/{Sid}',
    class: 'destructive',
    note: "EventCallbackUrl: every event of the workspace's tasks, with their attributes, to a URL of the caller's choosing",
  },
  // Fourth probe round: a worker's `contact_uri` (in its Attributes) is dialled for every voice task
  // routed to it, through reservations Flex accepts with its own token: calls Keybrake never sees.
  {
    host: 'taskrouter',
    match: 'POST /v1/Workspaces/{WorkspaceSid}/Workers',
    class: 'destructive',
    note: 'Attributes.contact_uri: every voice task routed to the worker dials it, outside Keybrake',
  },
  {
    host: 'taskrouter',
    match: 'POST /v1/Workspaces/{WorkspaceSid}/Workers/{Sid}',
    class: 'destructive',
    note: 'Attributes.contact_uri: every voice task routed to the worker dials it, outside Keybrake',
  },
  // Fourth probe round: a Notify binding's address (an SMS number) receives every later notification
  // sent to its identity or tags, by whoever sends them: sends Keybrake never sees.
  {
    host: 'notify',
    match: 'POST /v1/Services/{ServiceSid}/Bindings',
    class: 'destructive',
    note: 'Address: every later notification to its identity or tags reaches it, outside Keybrake',
  },
  // Eleventh probe round: the same standing fan-out as a Notify binding. An SMS or WhatsApp participant
  // (MessagingBinding.Address, or a Participant's messaging_binding.address) then receives every later
  // message of the conversation as a billed outbound message, also those its other participants, chat
  // and SDK users and Flex agents send, which never pass through Keybrake. The recipient is still
  // checked (contacts.ts), and the conversation still leased (ADR 0007 §5); an update cannot change
  // the address and stays a write.
  {
    host: 'conversations',
    match: 'POST /v1/Conversations/{ConversationSid}/Participants',
    class: 'destructive',
    locks: ['{ConversationSid}'],
    note: 'MessagingBinding.Address: every later message of the conversation, by anyone, reaches it, outside Keybrake',
  },
  {
    host: 'conversations',
    match: 'POST /v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Participants',
    class: 'destructive',
    locks: ['{ConversationSid}'],
    note: 'MessagingBinding.Address: every later message of the conversation, by anyone, reaches it, outside Keybrake',
  },
  {
    host: 'conversations',
    match: 'POST /v1/ConversationWithParticipants',
    class: 'destructive',
    note: "Participant's messaging_binding.address: every later message of the new conversation, by anyone, reaches it, outside Keybrake",
  },
  {
    host: 'conversations',
    match: 'POST /v1/Services/{ChatServiceSid}/ConversationWithParticipants',
    class: 'destructive',
    note: "Participant's messaging_binding.address: every later message of the new conversation, by anyone, reaches it, outside Keybrake",
  },
  // Eleventh probe round: Twilio sends a Messaging Service's messages from whatever its sender pool
  // holds, and Keybrake reads such a send's sender as the service (parties.ts). A sender added to the
  // pool (an alpha ID, a number, a short code, a WhatsApp or RCS sender) is what a send through an
  // allowed service then leaves from, for the merchant's own sends too. The sender stored and the
  // service are also checked against allow.senders (contacts.ts).
  {
    host: 'messaging',
    match: 'POST /v1/Services/{ServiceSid}/AlphaSenders',
    class: 'destructive',
    note: "adds an alpha sender ID to the service's sender pool: every later send through the service may leave from it",
  },
  {
    host: 'messaging',
    match: 'POST /v1/Services/{ServiceSid}/DestinationAlphaSenders',
    class: 'destructive',
    note: "adds an alpha sender ID for one country to the service's sender pool: every later send through the service may leave from it",
  },
  {
    host: 'messaging',
    match: 'POST /v1/Services/{ServiceSid}/PhoneNumbers',
    class: 'destructive',
    note: "adds a number to the service's sender pool: every later send through the service may leave from it",
  },
  {
    host: 'messaging',
    match: 'POST /v1/Services/{ServiceSid}/ShortCodes',
    class: 'destructive',
    note: "adds a short code to the service's sender pool: every later send through the service may leave from it",
  },
  {
    host: 'messaging',
    match: 'POST /v1/Services/{MessagingServiceSid}/ChannelSenders',
    class: 'destructive',
    note: "adds a WhatsApp, RCS or Messenger sender to the service's pool: every later send through the service may leave from it",
  },
  // Eleventh probe round (fixes probe): a Proxy service's pool is the same kind of standing sender.
  // Every later session's proxy number is taken from it, for the merchant's own sessions too, and
  // the messages and calls relayed through them never pass through Keybrake. The number stored
  // (`Sid` or `PhoneNumber`) and the service are checked against allow.senders (contacts.ts).
  {
    host: 'proxy',
    match: 'POST /v1/Services/{ServiceSid}/PhoneNumbers',
    class: 'destructive',
    note: "adds a number to the Proxy service's pool: every later session of the service may relay calls and messages through it",
  },
  // Twelfth probe round: a Verify service's Messaging Service for a country is what every later Verify
  // SMS to that country leaves from, the merchant's own verifications included, while a verification
  // names only the Verify service. The same standing sender as a pool; MessagingServiceSid is a
  // sender (contacts.ts, sender-choices.ts). The service's and a conversation's own sender fields
  // raise their writes to destructive only when set (sender-choices.ts).
  {
    host: 'verify',
    match: 'POST /v2/Services/{ServiceSid}/MessagingConfigurations',
    class: 'destructive',
    note: "MessagingServiceSid: every later Verify SMS of the service to the country leaves from that service's senders",
  },
  {
    host: 'verify',
    match: 'POST /v2/Services/{ServiceSid}/MessagingConfigurations/{Country}',
    class: 'destructive',
    note: "MessagingServiceSid: every later Verify SMS of the service to the country leaves from that service's senders",
  },
  // Eleventh probe round: a consent opt-in overrides the recipient's STOP, for the merchant's own sends
  // as well (Twilio refuses those with 21610 until then): like re-subscribing a Resend contact. A
  // contact record's zip code and country decide when quiet hours hold the account's messages back.
  // Each item's contact_id is a recipient (contacts.ts).
  {
    host: 'accounts',
    match: 'POST /v1/Consents/Bulk',
    class: 'destructive',
    note: "an opt-in overrides the recipient's STOP: every later message of the account reaches them, outside Keybrake",
  },
  {
    host: 'accounts',
    match: 'POST /v1/Contacts/Bulk',
    class: 'destructive',
    note: "a contact's zip code and country decide when quiet hours hold the account's messages to it back",
  },
  // Eleventh probe round: the other write naming an account in its body (an IncomingPhoneNumber's
  // AccountSid) is destructive too; a Twilio key acts on its own account only.
  {
    host: 'numbers',
    match: 'POST /v2/RegulatoryCompliance/Bundles/{BundleSid}/Clones',
    class: 'destructive',
    note: 'TargetAccountSid: copies an approved bundle, its identities and documents, into another account, which can buy numbers with it at once',
  },
  // Found by a probe of the standing-webhook rule: more places Twilio keeps sending content to.
  {
    host: 'numbers',
    match: 'POST /v1/Porting/Configuration/Webhook',
    class: 'destructive',
    note: "the account's port-in and port-out events to URLs of the caller's choosing",
  },
  {
    host: 'video',
    match: 'POST /v1/RecordingSettings/Default',
    class: 'destructive',
    note: "AwsS3Url: every later recording of the account written to a bucket of the caller's choosing",
  },
  {
    host: 'video',
    match: 'POST /v1/CompositionSettings/Default',
    class: 'destructive',
    note: "AwsS3Url: every later composition of the account written to a bucket of the caller's choosing",
  },
  {
    host: 'assistants',
    match: 'POST|PUT /v1/Tools**',
    class: 'destructive',
    note: "a WEBHOOK tool sends the assistant's conversations to meta.url, a URL of the caller's choosing",
  },
  {
    host: 'assistants',
    match: 'POST /v1/Assistants/{assistantId}/Tools/{id}',
    class: 'destructive',
    note: 'attaches a tool (a WEBHOOK one sends the conversations out) to an assistant',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/Calls/{CallSid}/UserDefinedMessageSubscriptions.json`,
    class: 'destructive',
    note: "Callback: the call's user-defined messages to a URL of the caller's choosing",
  },
  {
    host: 'verify',
    match: 'POST /v2/Services/{ServiceSid}/Webhooks**',
    class: 'destructive',
    note: "sends the service's verification and factor events to a URL of the caller's choosing",
  },
  {
    host: 'verify',
    match: 'POST /v2/Services/{ServiceSid}/Verifications/{Sid}',
    id: 'twilio.verify.verifications.update',
    class: 'destructive',
    note: "Status=approved approves an end user's verification without its code",
  },
  {
    host: 'studio',
    match: 'POST /v2/Flows',
    class: 'destructive',
    note: "a new flow's definition can dial or text anyone, and its executions are checked only for their To",
  },
  {
    host: 'studio',
    match: 'POST /v2/Flows/{Sid}',
    class: 'destructive',
    note: "a flow's new definition runs for every call and message already routed to it, and can dial or text anyone",
  },
  {
    host: 'messaging',
    match: 'POST /v1/LinkShortening/Domains/{DomainSid}/Certificate',
    class: 'destructive',
    note: 'replaces the TLS certificate and private key of a link-shortening domain',
  },
  {
    host: 'api',
    match: `POST ${ACCOUNT}/IncomingPhoneNumbers/{Sid}.json`,
    class: 'destructive',
    note: 'can move the number to another account (AccountSid), re-route it, or turn on paid caller-name lookups',
  },
  {
    host: 'api',
    match: `DELETE ${ACCOUNT}/IncomingPhoneNumbers/{Sid}.json`,
    class: 'destructive',
    note: 'releases the number: it may be gone for good',
  },
  {
    match: 'DELETE /**',
    class: 'destructive',
    note: 'deletes for good (numbers, services, recordings, logs…)',
  },

  // ── Writes: configuration, and updates that cost nothing by themselves. ────────────────────
  {
    host: 'api',
    match: `POST ${ACCOUNT}/Messages/{Sid}.json`,
    id: 'twilio.messages.update',
    class: 'write',
    note: 'redacts or cancels a message',
  },
  {
    host: 'verify',
    match: 'POST /v2/Services/{ServiceSid}/VerificationCheck',
    id: 'twilio.verify.verification_checks.create',
    class: 'write',
    note: 'billed with the verification it checks',
  },
  { host: 'verify', match: 'POST /v2/Services', id: 'twilio.verify.services.create', class: 'write' },
  {
    host: 'api',
    match: 'POST /2010-04-01/**',
    class: 'write',
    note: 'configuration and updates of calls, conferences, queues, numbers',
  },
  {
    host: 'assistants',
    match: 'POST|PUT /**',
    class: 'write',
    note: 'assistants, knowledge, tools, feedback',
  },
  {
    host: 'chat|ip-messaging',
    match: 'POST /**',
    class: 'write',
    note: 'Programmable Chat configuration, channels, members and users: channel messages are above',
  },
  { host: 'content', match: 'POST /**', class: 'write', note: 'message templates and their approval' },
  {
    host: 'conversations',
    match: 'POST /v1/Conversations/{ConversationSid}/Participants/{Sid}',
    class: 'write',
    locks: ['{ConversationSid}'],
    note: 'changes who a conversation message is priced for (ADR 0007 §5)',
  },
  {
    host: 'conversations',
    match: 'POST /v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Participants/{Sid}',
    class: 'write',
    locks: ['{ConversationSid}'],
    note: 'changes who a conversation message is priced for (ADR 0007 §5)',
  },
  {
    host: 'conversations',
    match: 'POST /**',
    class: 'write',
    note: 'conversations, participants, users: messages are priced above',
  },
  {
    host: 'flex-api',
    match: 'POST /**',
    class: 'write',
    note: 'Flex configuration, flows, plugins, quality management',
  },
  { host: 'insights', match: 'POST /**', class: 'write' },
  { host: 'intelligence', match: 'POST /**', class: 'write', note: 'custom operators' },
  { host: 'lookups', match: 'POST|PUT /**', class: 'write', note: 'rate limits and overrides' },
  { host: 'marketplace', match: 'POST /**', class: 'write', note: 'add-on configuration, listings' },
  {
    host: 'messaging',
    match: 'POST /**',
    class: 'write',
    note: 'Messaging Services, senders, toll-free verification: sends go through Messages.json, pool additions are above',
  },
  { host: 'monitor', match: 'POST|PUT /**', class: 'write', note: 'alarms' },
  { host: 'notify', match: 'POST /**', class: 'write', note: 'services and bindings' },
  {
    host: 'numbers',
    match: 'POST /**',
    class: 'write',
    note: 'regulatory bundles, documents, eligibility checks',
  },
  { host: 'preview', match: 'POST /**', class: 'write' },
  { host: 'proxy', match: 'POST /**', class: 'write', note: 'services, session updates; pool adds above' },
  { host: 'routes', match: 'POST /**', class: 'write', note: 'the region inbound traffic is processed in' },
  {
    host: 'serverless',
    match: 'POST /**',
    class: 'write',
    note: 'code, assets, builds and environments: nothing is live until deployed',
  },
  {
    host: 'studio',
    match: 'POST /**',
    class: 'write',
    note: 'flows and their test users; executions are above',
  },
  {
    host: 'supersim',
    match: 'POST /**',
    class: 'write',
    note: 'network access profiles, SIM registration',
  },
  { host: 'sync', match: 'POST /**', class: 'write' },
  { host: 'taskrouter', match: 'POST /**', class: 'write' },
  { host: 'trusthub', match: 'POST /**', class: 'write', note: 'compliance profiles and documents' },
  {
    host: 'verify',
    match: 'POST /**',
    class: 'write',
    note: 'services, factor updates, entities, rate limits',
  },
  {
    host: 'video',
    match: 'POST /**',
    class: 'write',
    note: 'room and participant updates, recording and composition storage settings',
  },
  { host: 'wireless', match: 'POST /**', class: 'write', note: 'rate plan names' },
];
