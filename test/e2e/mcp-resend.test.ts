// The real resend-mcp 2.22.0 server, spawned over stdio and driven by the MCP SDK client exactly as an
// agent host drives it, with only RESEND_API_KEY (the vault token) and RESEND_BASE_URL (Keybrake)
// changed: an allowed send-email reaches the Resend emulator with the real key; a denied one comes
// back to the model as an isError tool result carrying Keybrake's message.
//
// Then every tool the server lists, one by one, under a caps-only policy (reads, writes and priced
// money pass; money is priced, audit costUsd > 0; destructive, unpriced and unknown operations need
// an exact entry; sensitive ones never pass), again under a policy that names those operations
// exactly, and each money tool once more under a cap too low for it.
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESEND_EMULATOR_KEY, type ResendEmulator, startResendEmulator } from '../../src/emulators/resend.ts';
import { formatUsd } from '../../src/money/micro-usd.ts';
import { newToken } from '../../src/tokens/token.ts';
import { DEFAULT_RESEND_PRICES } from '../../src/vendors/resend/index.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { connectMcpServer, type McpServer } from '../env/mcp.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const RESEND_MCP = realpathSync(path.join(ROOT, 'node_modules/.bin/resend-mcp'));
const SENDER = 'Support Bot <bot@acme.test>';
const PER_EMAIL = DEFAULT_RESEND_PRICES.perEmail;
const tokens = {
  mailer: newToken('resend'),
  caps: newToken('resend'),
  exact: newToken('resend'),
  low: newToken('resend'),
};

/**
 * What a policy must name exactly for the tools that reach destructive, unpriced or unknown
 * operations, as `keybrake catalog resend` prints them (the editor endpoints resend-mcp calls with
 * its own client are not in the resend SDK the catalog is generated from: unknown to Keybrake).
 */
const EXACT_ENTRIES = [
  'POST /automations',
  'PATCH /automations/{automation_id}',
  'POST /automations/{automation_id}/duplicate',
  'DELETE /automations/{automation_id}',
  'DELETE /contact-properties/{contact_property_id}',
  'DELETE /contacts/{contact_id}',
  'DELETE /domains/{domain_id}',
  'POST /events/send',
  'DELETE /events/{event_id}',
  'DELETE /segments/{segment_id}',
  'DELETE /suppressions/{suppression_id}',
  'POST /suppressions/batch/remove',
  'DELETE /templates/{template_id}',
  'PATCH /templates/{template_id}',
  'POST /templates/{template_id}/publish',
  'DELETE /topics/{topic_id}',
  'DELETE /webhooks/{webhook_id}',
  'POST /editor/connections',
  'DELETE /editor/connections',
  'GET /editor/content',
  'POST /editor/content',
];

function key(name: string, policy: string, token: string): string {
  return `
apiVersion: v1
kind: Secret
metadata: { name: ${name}-token, namespace: agents }
stringData: { token: ${token} }
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: ${name}, namespace: agents }
spec:
  vendor: resend
  policyRef: { name: ${policy} }
  upstreamSecretRef: { name: resend-live, key: apiKey }
  tokenSecretRef: { name: ${name}-token, key: token }
`;
}

const MANIFESTS = `
apiVersion: v1
kind: Secret
metadata: { name: resend-live, namespace: agents }
stringData: { apiKey: ${RESEND_EMULATOR_KEY} }
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: mcp-mailer, namespace: agents }
spec:
  vendor: resend
  limits: { perDayUsd: "1" }
  allow:
    endpoints: ["POST /emails", "GET /emails/**"]
    recipients: ["*@example.com"]
    senders: ["*@acme.test"]
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: caps-only, namespace: agents }
spec:
  vendor: resend
  limits: { perDayUsd: "5", perCallUsd: "1" }
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: named-exactly, namespace: agents }
spec:
  vendor: resend
  limits: { perDayUsd: "5" }
  allow:
    endpoints: ${JSON.stringify(['* /**', ...EXACT_ENTRIES])}
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: low-cap, namespace: agents }
spec:
  vendor: resend
  limits: { perDayUsd: "0.0005" }
---
${key('mcp-mailer', 'mcp-mailer', tokens.mailer)}
---
${key('mcp-caps', 'caps-only', tokens.caps)}
---
${key('mcp-exact', 'named-exactly', tokens.exact)}
---
${key('mcp-low', 'low-cap', tokens.low)}
`;

let emulator: ResendEmulator;
let kb: KeybrakeProcess;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let mcp: McpServer;
const servers: Record<'caps' | 'exact' | 'low', McpServer> = {} as never;
/** Every tool result text the model would have seen. */
const seen: string[] = [];
const seenByTools: string[] = [];

type ToolResult = { isError?: boolean; content: { type: string; text?: string }[] };

function text(result: ToolResult): string {
  return result.content.map((c) => c.text ?? '').join('\n');
}

async function sendEmail(to: string[]): Promise<ToolResult> {
  const result = (await mcp.client.callTool({
    name: 'send-email',
    arguments: { to, subject: 'Your order', text: 'It has shipped.' },
  })) as ToolResult;
  seen.push(text(result));
  return result;
}

function spawnMcp(token: string): Promise<McpServer> {
  return connectMcpServer({
    args: [RESEND_MCP],
    env: {
      RESEND_API_KEY: token,
      RESEND_BASE_URL: `${kb.urls['main']}/resend`,
      SENDER_EMAIL_ADDRESS: SENDER,
      // The editor's schema lives on the dashboard, not the API: keep even that off the network.
      RESEND_DASHBOARD_URL: emulator.url,
    },
    cwd: dir.dir,
  });
}

beforeAll(async () => {
  emulator = await startResendEmulator();
  dir = await manifestDir({ 'keys.yaml': MANIFESTS });
  kb = await startKeybrake(serveArgs(dir.dir, { resend: emulator.url }));
  mcp = await spawnMcp(tokens.mailer);
  [servers.caps, servers.exact, servers.low] = await Promise.all([
    spawnMcp(tokens.caps),
    spawnMcp(tokens.exact),
    spawnMcp(tokens.low),
  ]);
});

afterAll(async () => {
  await Promise.all([mcp, ...Object.values(servers)].map((s) => s?.close()));
  await kb?.stop();
  await emulator?.close();
  await dir?.remove();
});

describe('resend-mcp through Keybrake', () => {
  it('lists send-email among its tools, taking recipients as `to`', async () => {
    const { tools } = await mcp.client.listTools();
    const send = tools.find((t) => t.name === 'send-email');
    expect(send?.inputSchema.properties).toHaveProperty('to');
  });

  it('sends an allowed email that reaches Resend with the real key', async () => {
    const before = emulator.requests.length;

    const result = await sendEmail(['ann@example.com']);

    expect(result.isError).toBeFalsy();
    expect(text(result)).toContain('Email sent successfully');
    const arrived = emulator.requests.slice(before);
    expect(arrived).toHaveLength(1);
    expect(arrived[0]).toMatchObject({ method: 'POST', path: '/emails' });
    expect(arrived[0]!.headers.authorization).toBe(`Bearer ${RESEND_EMULATOR_KEY}`);
    // It really is the MCP server's own Resend client talking, not this test.
    expect(arrived[0]!.headers['user-agent']).toBe('resend-mcp:2.22.0');
    expect(JSON.parse(arrived[0]!.body)).toMatchObject({ to: ['ann@example.com'], from: SENDER });
    expect(
      await kb.waitForAudit((r) => r['vaultKey'] === 'agents/mcp-mailer' && r['decision'] === 'allow'),
    ).toMatchObject({ operation: 'resend.emails.send', costUsd: formatUsd(DEFAULT_RESEND_PRICES.perEmail) });
  });

  it('returns a denied send to the model as an isError result with our message, without reaching Resend', async () => {
    const before = emulator.requests.length;

    const result = await sendEmail(['ann@example.com', 'bob@other.test']);

    expect(result.isError).toBe(true);
    expect(text(result)).toContain("Recipient bob@other.test is not in this key's recipient allowlist.");
    expect(text(result)).toContain('restricted_api_key');
    expect(emulator.requests.length).toBe(before);
    expect(
      await kb.waitForAudit((r) => r['vaultKey'] === 'agents/mcp-mailer' && r['decision'] === 'deny'),
    ).toMatchObject({ reason: 'recipient_not_allowed', costUsd: '0.00' });
  });

  it('keeps the real key out of everything the agent side sees, and both secrets out of the proxy output', () => {
    expect(seen).toHaveLength(2);
    expect(seen.join('\n')).not.toContain(RESEND_EMULATOR_KEY);
    expect(mcp.stderr()).not.toContain(RESEND_EMULATOR_KEY);
    expect(kb.output()).not.toContain(tokens.mailer);
    expect(kb.output()).not.toContain(RESEND_EMULATOR_KEY);
  });
});

// ── Every tool ──────────────────────────────────────────────────────────────────────────────────

/** Objects Resend already holds when the agent starts: ids the tool calls name. */
interface Fixtures {
  readonly segment: string;
  readonly segmentToRemove: string;
  readonly contact: string;
  readonly contactToRemove: string;
  readonly domain: string;
  readonly template: string;
  readonly topic: string;
  readonly property: string;
  readonly automation: string;
  readonly event: string;
  readonly suppression: string;
  readonly contactImport: string;
  readonly received: string;
  readonly receivedAttachment: string;
  readonly scheduledEmail: string;
  readonly emailAttachment: string;
  readonly webhook: string;
  readonly webhookEvent: string;
  readonly broadcast: string;
  readonly broadcastToRemove: string;
  readonly lowCapBroadcast: string;
  readonly log: string;
}

/** The contacts of the segment broadcasts go to: a broadcast to it is 3 deliveries. */
const AUDIENCE = ['ann@example.com', 'ben@example.com', 'cat@example.com'];

function seedFixtures(e: ResendEmulator): Fixtures {
  const now = new Date().toISOString();
  const segment = e.seedSegment('Customers', AUDIENCE);
  const broadcast = (name: string) =>
    e.seed('/broadcasts', {
      name,
      segment_id: segment,
      audience_id: segment,
      from: SENDER,
      subject: name,
      status: 'draft',
      html: '<p>News</p>',
      text: null,
      preview_text: null,
      reply_to: null,
      scheduled_at: null,
      sent_at: null,
    });
  const automation = e.seed('/automations', {
    name: 'Onboarding',
    status: 'disabled',
    steps: [{ key: 'start', type: 'trigger', config: { event_name: 'user.created' } }],
    connections: [],
  });
  e.seed(`/automations/${automation}/runs`, {
    status: 'completed',
    started_at: now,
    completed_at: now,
    steps: [],
  });
  const received = e.seed('/emails/receiving', {
    from: 'customer@example.com',
    to: ['bot@acme.test'],
    subject: 'Where is my order?',
    text: 'Hello',
    html: null,
    attachments: [],
  });
  const scheduledEmail = e.seed('/emails', {
    from: SENDER,
    to: ['ann@example.com'],
    subject: 'Later',
    text: 'Later',
    last_event: 'scheduled',
    scheduled_at: new Date(Date.now() + 3_600_000).toISOString(),
  });
  const attachment = {
    filename: 'order.txt',
    content_type: 'text/plain',
    size: 5,
    download_url: 'https://attachments.invalid/order.txt',
    expires_at: now,
  };
  const webhook = e.seed('/webhooks', { endpoint: 'https://hooks.acme.test/resend', events: ['email.sent'] });
  const webhookEvent = e.seed(`/webhooks/${webhook}/events`, {
    type: 'email.sent',
    status: 'delivered',
    payload: {},
  });
  e.seed(`/webhooks/${webhook}/events/${webhookEvent}/attempts`, {
    http_status_code: 200,
    response: 'ok',
    sent_at: now,
  });
  return {
    segment,
    segmentToRemove: e.seedSegment('Old', []),
    contact: e.seed('/contacts', { email: 'dan@example.com' }),
    contactToRemove: e.seed('/contacts', { email: 'gone@example.com' }),
    domain: e.seed('/domains', { name: 'acme.test' }),
    template: e.seed('/templates', { name: 'Welcome', html: '<p>Hi</p>', subject: 'Hi', alias: 'welcome' }),
    topic: e.seed('/topics', { name: 'News' }),
    property: e.seed('/contact-properties', { key: 'plan', type: 'string', fallback_value: 'free' }),
    automation,
    event: e.seed('/events', { name: 'user.created', schema: null }),
    suppression: e.seed('/suppressions', { email: 'bounced@example.com' }),
    contactImport: e.seed('/contacts/imports', {
      status: 'completed',
      counts: { total: 2, created: 2, updated: 0, skipped: 0, failed: 0 },
      completed_at: now,
    }),
    received,
    receivedAttachment: e.seed(`/emails/receiving/${received}/attachments`, attachment),
    scheduledEmail,
    emailAttachment: e.seed(`/emails/${scheduledEmail}/attachments`, attachment),
    webhook,
    webhookEvent,
    broadcast: broadcast('Launch'),
    broadcastToRemove: broadcast('Draft to remove'),
    lowCapBroadcast: broadcast('Too expensive'),
    log: e.seed('/logs', { endpoint: '/emails', method: 'POST', response_status: 200 }),
  };
}

/** What Keybrake decides for one call a tool makes: allowed, or denied with a reason. */
type Outcome = 'allow' | 'credential_operation' | 'endpoint_not_allowed' | 'price_unknown';

/**
 * One tool call: the tool, its arguments, and each operation it reaches in order with Keybrake's
 * decision under the caps-only policy. `cost` is the priced cost of an allowed money call.
 */
interface ToolCase {
  readonly tool: string;
  readonly args: (f: Fixtures) => Record<string, unknown>;
  readonly calls: readonly (readonly [operation: string | null, outcome: Outcome])[];
  readonly cost?: number;
  /** Names the call when a tool is called more than once (manage-events actions). */
  readonly as?: string;
}

const allow = (...ops: string[]) => ops.map((op) => [op, 'allow'] as const);
const UNKNOWN = 'resend.unknown';

/** Every tool resend-mcp 2.22.0 lists, in its order; some twice (editor sessions, event actions). */
const CAPS_ONLY: readonly ToolCase[] = [
  {
    tool: 'get-tiptap-json-content',
    args: (f) => ({ resource_type: 'broadcast', resource_id: f.broadcast, include_schema: false }),
    calls: [
      [UNKNOWN, 'price_unknown'],
      [UNKNOWN, 'price_unknown'],
    ],
  },
  {
    tool: 'connect-to-editor',
    args: (f) => ({ resource_type: 'broadcast', resource_id: f.broadcast }),
    calls: [[UNKNOWN, 'price_unknown']],
  },
  // Nothing to disconnect: the connection above was refused, so it calls nothing.
  { tool: 'disconnect-from-editor', args: () => ({}), calls: [] },
  {
    tool: 'create-api-key',
    args: () => ({ name: 'agent' }),
    calls: [['resend.api_keys.create', 'credential_operation']],
  },
  { tool: 'list-api-keys', args: () => ({}), calls: [['resend.api_keys.list', 'credential_operation']] },
  {
    tool: 'update-api-key',
    args: () => ({ id: '6a8a7c52-0f7e-4b0f-9a57-1c1e6f0c2b11', name: 'renamed' }),
    calls: [['resend.api_keys.update', 'credential_operation']],
  },
  {
    tool: 'remove-api-key',
    args: () => ({ id: '6a8a7c52-0f7e-4b0f-9a57-1c1e6f0c2b11' }),
    calls: [['resend.api_keys.remove', 'credential_operation']],
  },
  {
    tool: 'create-automation',
    args: () => ({
      name: 'Welcome flow',
      workflow: {
        steps: [{ key: 'start', type: 'trigger', config: { event_name: 'user.created' }, next: null }],
      },
    }),
    calls: [['resend.automations.create', 'price_unknown']],
  },
  {
    tool: 'update-automation',
    args: (f) => ({ id: f.automation, name: 'Renamed' }),
    calls: [['resend.automations.update', 'price_unknown']],
  },
  { tool: 'get-automation', args: (f) => ({ id: f.automation }), calls: allow('resend.automations.get') },
  {
    tool: 'duplicate-automation',
    args: (f) => ({ id: f.automation }),
    calls: [['resend.automations.duplicate', 'price_unknown']],
  },
  {
    tool: 'remove-automation',
    args: (f) => ({ id: f.automation }),
    calls: [['resend.automations.remove', 'endpoint_not_allowed']],
  },
  {
    tool: 'get-automation-runs',
    args: (f) => ({ automationId: f.automation }),
    calls: allow('resend.automations.runs.list'),
  },
  {
    tool: 'create-broadcast',
    args: (f) => ({ name: 'Spring', segmentId: f.segment, subject: 'Spring sale', text: 'Sale!' }),
    calls: allow('resend.broadcasts.create'),
  },
  {
    tool: 'send-broadcast',
    args: (f) => ({ broadcastId: f.broadcast }),
    calls: allow('resend.broadcasts.send'),
    cost: AUDIENCE.length * PER_EMAIL,
  },
  { tool: 'list-broadcasts', args: () => ({}), calls: allow('resend.broadcasts.list') },
  {
    tool: 'get-broadcast',
    args: (f) => ({ broadcastId: f.broadcast }),
    calls: allow('resend.broadcasts.get'),
  },
  {
    tool: 'list-broadcast-recipients',
    args: (f) => ({ broadcastId: f.broadcast, type: 'delivered' }),
    calls: allow('resend.broadcasts.recipients'),
  },
  {
    tool: 'list-broadcast-clicked-links',
    args: (f) => ({ broadcastId: f.broadcast }),
    calls: allow('resend.broadcasts.clicked_links'),
  },
  {
    tool: 'cancel-broadcast',
    args: (f) => ({ broadcastId: f.broadcast }),
    calls: allow('resend.broadcasts.cancel'),
  },
  {
    tool: 'duplicate-broadcast',
    args: (f) => ({ broadcastId: f.broadcast }),
    calls: allow('resend.broadcasts.duplicate'),
  },
  {
    tool: 'update-broadcast',
    args: (f) => ({ broadcastId: f.broadcast, subject: 'Launch, again' }),
    calls: allow('resend.broadcasts.get', 'resend.broadcasts.update'),
  },
  {
    tool: 'compose-broadcast',
    args: (f) => ({ broadcastId: f.broadcast, content: { type: 'doc', content: [] } }),
    calls: [
      [UNKNOWN, 'price_unknown'],
      [UNKNOWN, 'price_unknown'],
      [UNKNOWN, 'price_unknown'],
    ],
  },
  // A draft broadcast is deleted, not a sent one: Resend only deletes drafts (class write).
  {
    tool: 'remove-broadcast',
    args: (f) => ({ broadcastId: f.broadcastToRemove }),
    calls: allow('resend.broadcasts.remove'),
  },
  {
    tool: 'create-contact-import',
    args: (f) => ({ content: 'email\nfay@example.com\n', segmentIds: [f.segment] }),
    calls: allow('resend.contacts.imports.create'),
  },
  {
    tool: 'get-contact-import',
    args: (f) => ({ id: f.contactImport }),
    calls: allow('resend.contacts.imports.get'),
  },
  { tool: 'list-contact-imports', args: () => ({}), calls: allow('resend.contacts.imports.list') },
  {
    tool: 'create-contact-property',
    args: () => ({ key: 'tier', type: 'string' }),
    calls: allow('resend.contact_properties.create'),
  },
  { tool: 'list-contact-properties', args: () => ({}), calls: allow('resend.contact_properties.list') },
  {
    tool: 'get-contact-property',
    args: (f) => ({ contactPropertyId: f.property }),
    calls: allow('resend.contact_properties.get'),
  },
  {
    tool: 'update-contact-property',
    args: (f) => ({ contactPropertyId: f.property, fallbackValue: 'pro' }),
    calls: allow('resend.contact_properties.update'),
  },
  {
    tool: 'remove-contact-property',
    args: (f) => ({ contactPropertyId: f.property }),
    calls: [['resend.contact_properties.remove', 'endpoint_not_allowed']],
  },
  {
    tool: 'create-contact',
    args: (f) => ({ email: 'eve@example.com', segmentIds: [f.segment] }),
    calls: allow('resend.contacts.create'),
  },
  {
    tool: 'list-contacts',
    args: (f) => ({ segmentId: f.segment }),
    calls: allow('resend.segments.contacts.list'),
  },
  { tool: 'get-contact', args: (f) => ({ id: f.contact }), calls: allow('resend.contacts.get') },
  {
    tool: 'update-contact',
    args: (f) => ({ id: f.contact, firstName: 'Dan' }),
    calls: allow('resend.contacts.update'),
  },
  {
    tool: 'remove-contact',
    args: (f) => ({ id: f.contactToRemove }),
    calls: [['resend.contacts.remove', 'endpoint_not_allowed']],
  },
  {
    tool: 'add-contact-to-segment',
    args: (f) => ({ contactId: f.contact, segmentId: f.segment }),
    calls: allow('resend.contacts.segments.add'),
  },
  {
    tool: 'remove-contact-from-segment',
    args: (f) => ({ contactId: f.contact, segmentId: f.segment }),
    calls: allow('resend.contacts.segments.remove'),
  },
  {
    tool: 'list-contact-segments',
    args: (f) => ({ contactId: f.contact }),
    calls: allow('resend.contacts.segments.list'),
  },
  {
    tool: 'list-contact-topics',
    args: (f) => ({ id: f.contact }),
    calls: allow('resend.contacts.topics.list'),
  },
  {
    tool: 'update-contact-topics',
    // An opt-out: an opt-in subscribes the contact again, destructive (an exact entry).
    args: (f) => ({ id: f.contact, topics: [{ id: f.topic, subscription: 'opt_out' }] }),
    calls: allow('resend.contacts.topics.update'),
  },
  { tool: 'create-domain', args: () => ({ name: 'mail.acme.test' }), calls: allow('resend.domains.create') },
  { tool: 'list-domains', args: () => ({}), calls: allow('resend.domains.list') },
  { tool: 'get-domain', args: (f) => ({ id: f.domain }), calls: allow('resend.domains.get') },
  {
    tool: 'update-domain',
    args: (f) => ({ id: f.domain, openTracking: true }),
    calls: allow('resend.domains.update'),
  },
  {
    tool: 'remove-domain',
    args: (f) => ({ id: f.domain }),
    calls: [['resend.domains.remove', 'endpoint_not_allowed']],
  },
  { tool: 'verify-domain', args: (f) => ({ id: f.domain }), calls: allow('resend.domains.verify') },
  {
    tool: 'create-domain-claim',
    args: () => ({ name: 'moved.acme.test' }),
    calls: allow('resend.domains.claims.create'),
  },
  { tool: 'get-domain-claim', args: (f) => ({ id: f.domain }), calls: allow('resend.domains.claims.get') },
  {
    tool: 'verify-domain-claim',
    args: (f) => ({ id: f.domain }),
    calls: allow('resend.domains.claims.verify'),
  },
  {
    tool: 'send-email',
    args: () => ({ to: ['ann@example.com'], subject: 'Your order', text: 'It has shipped.' }),
    calls: allow('resend.emails.send'),
    cost: PER_EMAIL,
  },
  { tool: 'list-emails', args: () => ({}), calls: allow('resend.emails.list') },
  { tool: 'get-email', args: (f) => ({ id: f.scheduledEmail }), calls: allow('resend.emails.get') },
  { tool: 'list-received-emails', args: () => ({}), calls: allow('resend.emails.receiving.list') },
  {
    tool: 'get-received-email',
    args: (f) => ({ id: f.received }),
    calls: allow('resend.emails.receiving.get'),
  },
  {
    tool: 'list-received-email-attachments',
    args: (f) => ({ emailId: f.received }),
    calls: allow('resend.emails.receiving.attachments.list'),
  },
  {
    tool: 'get-received-email-attachment',
    args: (f) => ({ emailId: f.received, id: f.receivedAttachment }),
    calls: allow('resend.emails.receiving.attachments.get'),
  },
  {
    tool: 'update-email',
    args: (f) => ({ id: f.scheduledEmail, scheduledAt: 'in 2 hours' }),
    calls: allow('resend.emails.update'),
  },
  { tool: 'cancel-email', args: (f) => ({ id: f.scheduledEmail }), calls: allow('resend.emails.cancel') },
  {
    tool: 'share-email',
    args: (f) => ({ id: f.scheduledEmail }),
    calls: [['resend.emails.share', 'credential_operation']],
  },
  { tool: 'get-email-metrics', args: () => ({}), calls: allow('resend.emails.metrics') },
  {
    tool: 'list-sent-email-attachments',
    args: (f) => ({ emailId: f.scheduledEmail }),
    calls: allow('resend.emails.attachments.list'),
  },
  {
    tool: 'get-sent-email-attachment',
    args: (f) => ({ emailId: f.scheduledEmail, id: f.emailAttachment }),
    calls: allow('resend.emails.attachments.get'),
  },
  {
    tool: 'send-batch-emails',
    args: () => ({
      emails: [
        { to: ['ann@example.com'], subject: 'One', text: 'One' },
        { to: ['ben@example.com', 'cat@example.com'], subject: 'Two', text: 'Two' },
      ],
    }),
    calls: allow('resend.emails.batch'),
    cost: 3 * PER_EMAIL,
  },
  {
    tool: 'send-event',
    args: (f) => ({ event: 'user.created', contactId: f.contact }),
    calls: [['resend.events.send', 'price_unknown']],
  },
  {
    tool: 'manage-events',
    as: 'create',
    args: () => ({ action: 'create', name: 'order.paid' }),
    calls: allow('resend.events.create'),
  },
  { tool: 'manage-events', as: 'list', args: () => ({ action: 'list' }), calls: allow('resend.events.list') },
  {
    tool: 'manage-events',
    as: 'get',
    args: (f) => ({ action: 'get', identifier: f.event }),
    calls: allow('resend.events.get'),
  },
  {
    tool: 'manage-events',
    as: 'update',
    args: (f) => ({ action: 'update', identifier: f.event, schema: { amount: 'number' } }),
    calls: allow('resend.events.update'),
  },
  {
    tool: 'manage-events',
    as: 'remove',
    args: (f) => ({ action: 'remove', identifier: f.event }),
    calls: [['resend.events.remove', 'endpoint_not_allowed']],
  },
  { tool: 'list-logs', args: () => ({}), calls: allow('resend.logs.list') },
  {
    tool: 'get-log',
    args: (f) => ({ logId: f.log }),
    calls: [['resend.logs.get', 'credential_operation']],
  },
  { tool: 'list-oauth-grants', args: () => ({}), calls: allow('resend.oauth_grants.list') },
  {
    tool: 'revoke-oauth-grant',
    args: () => ({ id: '0c9f3f55-52f5-4d43-9a0a-4f2de4bb2b11' }),
    calls: [['resend.oauth_grants.revoke', 'credential_operation']],
  },
  { tool: 'create-segment', args: () => ({ name: 'VIP' }), calls: allow('resend.segments.create') },
  { tool: 'list-segments', args: () => ({}), calls: allow('resend.segments.list') },
  { tool: 'get-segment', args: (f) => ({ id: f.segment }), calls: allow('resend.segments.get') },
  {
    tool: 'update-segment',
    args: (f) => ({ id: f.segment, name: 'All customers' }),
    calls: allow('resend.segments.update'),
  },
  {
    tool: 'remove-segment',
    args: (f) => ({ id: f.segmentToRemove }),
    calls: [['resend.segments.remove', 'endpoint_not_allowed']],
  },
  {
    tool: 'add-suppression',
    args: () => ({ email: 'stop@example.com' }),
    calls: allow('resend.suppressions.add'),
  },
  { tool: 'list-suppressions', args: () => ({}), calls: allow('resend.suppressions.list') },
  {
    tool: 'get-suppression',
    args: (f) => ({ idOrEmail: f.suppression }),
    calls: allow('resend.suppressions.get'),
  },
  {
    tool: 'remove-suppression',
    args: (f) => ({ idOrEmail: f.suppression }),
    calls: [['resend.suppressions.remove', 'endpoint_not_allowed']],
  },
  {
    tool: 'batch-add-suppressions',
    args: () => ({ emails: ['x1@example.com', 'x2@example.com'] }),
    calls: allow('resend.suppressions.batch.add'),
  },
  {
    tool: 'batch-remove-suppressions',
    args: () => ({ emails: ['x1@example.com'] }),
    calls: [['resend.suppressions.batch.remove', 'endpoint_not_allowed']],
  },
  {
    tool: 'create-template',
    args: () => ({ name: 'Receipt', html: '<p>Thanks</p>' }),
    calls: allow('resend.templates.create'),
  },
  { tool: 'list-templates', args: () => ({}), calls: allow('resend.templates.list') },
  { tool: 'get-template', args: (f) => ({ id: f.template }), calls: allow('resend.templates.get') },
  {
    tool: 'compose-template',
    args: (f) => ({ id: f.template, content: { type: 'doc', content: [] } }),
    calls: [
      [UNKNOWN, 'price_unknown'],
      [UNKNOWN, 'price_unknown'],
      [UNKNOWN, 'price_unknown'],
    ],
  },
  {
    tool: 'update-template',
    args: (f) => ({ id: f.template, subject: 'Welcome aboard' }),
    // Destructive since the thirteenth round: it rewrites mail the app sends from the template.
    calls: [['resend.templates.update', 'endpoint_not_allowed']],
  },
  // Before remove-template: named exactly, it is published (and then removed) for real.
  {
    tool: 'publish-template',
    args: (f) => ({ id: f.template }),
    calls: [['resend.templates.publish', 'endpoint_not_allowed']],
  },
  {
    tool: 'remove-template',
    args: (f) => ({ id: f.template }),
    calls: [['resend.templates.remove', 'endpoint_not_allowed']],
  },
  {
    tool: 'duplicate-template',
    args: (f) => ({ id: f.template }),
    calls: allow('resend.templates.duplicate'),
  },
  {
    tool: 'create-topic',
    args: () => ({ name: 'Product', defaultSubscription: 'opt_in' }),
    calls: allow('resend.topics.create'),
  },
  { tool: 'list-topics', args: () => ({}), calls: allow('resend.topics.list') },
  { tool: 'get-topic', args: (f) => ({ id: f.topic }), calls: allow('resend.topics.get') },
  {
    tool: 'update-topic',
    args: (f) => ({ id: f.topic, name: 'Newsletter' }),
    calls: allow('resend.topics.update'),
  },
  {
    tool: 'remove-topic',
    args: (f) => ({ id: f.topic }),
    calls: [['resend.topics.remove', 'endpoint_not_allowed']],
  },
  {
    tool: 'create-webhook',
    args: () => ({ endpoint: 'https://evil.test/collect', events: ['email.sent'] }),
    calls: [['resend.webhooks.create', 'credential_operation']],
  },
  { tool: 'list-webhooks', args: () => ({}), calls: allow('resend.webhooks.list') },
  {
    tool: 'get-webhook',
    args: (f) => ({ webhookId: f.webhook }),
    calls: [['resend.webhooks.get', 'credential_operation']],
  },
  {
    tool: 'update-webhook',
    args: (f) => ({ webhookId: f.webhook, endpoint: 'https://evil.test/collect' }),
    calls: [['resend.webhooks.update', 'credential_operation']],
  },
  {
    tool: 'list-webhook-events',
    args: (f) => ({ webhookId: f.webhook }),
    calls: allow('resend.webhooks.events.list'),
  },
  {
    tool: 'get-webhook-event',
    args: (f) => ({ webhookId: f.webhook, eventId: f.webhookEvent }),
    calls: allow('resend.webhooks.events.get'),
  },
  {
    tool: 'replay-webhook-event',
    args: (f) => ({ webhookId: f.webhook, eventId: f.webhookEvent }),
    calls: allow('resend.webhooks.events.replay'),
  },
  {
    tool: 'rotate-webhook-signing-secret',
    args: (f) => ({ webhookId: f.webhook }),
    calls: [['resend.webhooks.rotate_signing_secret', 'credential_operation']],
  },
  {
    tool: 'list-webhook-event-attempts',
    args: (f) => ({ webhookId: f.webhook, eventId: f.webhookEvent }),
    calls: allow('resend.webhooks.events.attempts.list'),
  },
  {
    tool: 'remove-webhook',
    args: (f) => ({ webhookId: f.webhook }),
    calls: [['resend.webhooks.remove', 'endpoint_not_allowed']],
  },
];

/**
 * The tools refused under caps only for a destructive, unpriced or unknown operation, under the
 * policy that names those operations exactly (`EXACT_ENTRIES`): every call allowed. The editor
 * tools run as one session: get-tiptap-json-content connects, compose-* reuses and ends it.
 */
const NAMED_EXACTLY: readonly ToolCase[] = [
  {
    tool: 'connect-to-editor',
    args: (f) => ({ resource_type: 'broadcast', resource_id: f.broadcast }),
    calls: allow(UNKNOWN),
  },
  { tool: 'disconnect-from-editor', args: () => ({}), calls: allow(UNKNOWN) },
  {
    tool: 'get-tiptap-json-content',
    args: (f) => ({ resource_type: 'broadcast', resource_id: f.broadcast, include_schema: false }),
    calls: allow(UNKNOWN, UNKNOWN),
  },
  {
    tool: 'compose-broadcast',
    args: (f) => ({ broadcastId: f.broadcast, content: { type: 'doc', content: [] } }),
    calls: allow(UNKNOWN, UNKNOWN, 'resend.broadcasts.get'),
  },
  {
    tool: 'compose-template',
    args: (f) => ({ id: f.template, content: { type: 'doc', content: [] } }),
    calls: allow(UNKNOWN, UNKNOWN, UNKNOWN, 'resend.templates.get'),
  },
  ...CAPS_ONLY.filter(
    (c) =>
      !c.tool.includes('editor') &&
      !c.tool.startsWith('compose-') &&
      !c.tool.startsWith('get-tiptap') &&
      c.calls.some(([, outcome]) => outcome === 'endpoint_not_allowed' || outcome === 'price_unknown'),
  ).map((c) => ({ ...c, calls: allow(...c.calls.map(([op]) => op!)) })),
];

/** The Resend message a refusal carries to the model, by reason. */
const REFUSAL_TEXT: Record<Exclude<Outcome, 'allow'>, RegExp> = {
  credential_operation: /Keybrake never forwards it/,
  endpoint_not_allowed: /is destructive: name it exactly in allow\.endpoints/,
  price_unknown: /name it exactly in allow\.endpoints/,
};

const fixtures = {} as Fixtures;
let auditedCalls = 0;

/**
 * Calls one tool on `server` and checks what it did: each call's audit record (operation and
 * decision, in order), what reached Resend, and what the model saw.
 */
async function runTool(server: McpServer, vaultKey: string, c: ToolCase) {
  const mark = kb.audit.length;
  const before = emulator.requests.length;

  const result = (await server.client.callTool({ name: c.tool, arguments: c.args(fixtures) })) as ToolResult;
  seenByTools.push(text(result));

  const mine = (r: Record<string, unknown>) => kb.audit.indexOf(r) >= mark && r['vaultKey'] === vaultKey;
  if (c.calls.length > 0) {
    await kb.waitForAudit(() => kb.audit.slice(mark).filter(mine).length >= c.calls.length);
  }
  const records = kb.audit.slice(mark).filter(mine);
  auditedCalls += c.calls.length;
  expect(records.map((r) => [r['operation'], r['decision'] === 'allow' ? 'allow' : r['reason']])).toEqual(
    c.calls,
  );
  const allowed = c.calls.filter(([, outcome]) => outcome === 'allow').length;
  expect(emulator.requests.length - before).toBe(allowed + lookups(c));
  const refusal = c.calls.find(([, outcome]) => outcome !== 'allow');
  if (refusal) {
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(REFUSAL_TEXT[refusal[1] as Exclude<Outcome, 'allow'>]);
  } else {
    expect(result.isError, text(result)).toBeFalsy();
  }
  if (c.cost !== undefined) {
    expect(records.at(-1)).toMatchObject({ decision: 'allow', costUsd: formatUsd(c.cost) });
    expect(c.cost).toBeGreaterThan(0);
  }
  return { result, records };
}

/** The upstream reads a call's price took (a broadcast send reads the broadcast and its segment). */
function lookups(c: ToolCase): number {
  return c.calls.some(([op, outcome]) => op === 'resend.broadcasts.send' && outcome === 'allow') ? 2 : 0;
}

describe('every resend-mcp tool through Keybrake', () => {
  beforeAll(() => {
    Object.assign(fixtures, seedFixtures(emulator));
  });

  it('covers every tool the server lists', async () => {
    const { tools } = await servers.caps.client.listTools();
    expect(new Set(CAPS_ONLY.map((c) => c.tool))).toEqual(new Set(tools.map((t) => t.name)));
    expect(tools).toHaveLength(105);
  });

  describe('under a caps-only policy', () => {
    it.each(CAPS_ONLY.map((c) => [c.as ? `${c.tool} (${c.as})` : c.tool, c] as const))(
      '%s',
      async (_name, c) => {
        await runTool(servers.caps, 'agents/mcp-caps', c);
      },
    );

    it('priced the broadcast by its segment as Resend delivered it: one email per contact', () => {
      expect(emulator.deliveries).toEqual([
        { broadcastId: fixtures.broadcast, segmentId: fixtures.segment, contacts: AUDIENCE },
      ]);
    });
  });

  describe('under a policy that names the destructive, unpriced and unknown operations exactly', () => {
    it.each(NAMED_EXACTLY.map((c) => [c.as ? `${c.tool} (${c.as})` : c.tool, c] as const))(
      '%s',
      async (_name, c) => {
        await runTool(servers.exact, 'agents/mcp-exact', c);
      },
    );

    it.each(
      CAPS_ONLY.filter((c) => c.calls.some(([, outcome]) => outcome === 'credential_operation')).map(
        (c) => [c.tool, c] as const,
      ),
    )('still refuses %s, whatever the policy names', async (_name, c) => {
      await runTool(servers.exact, 'agents/mcp-exact', c);
    });
  });

  describe('under a cap lower than one email', () => {
    it.each<[string, (f: Fixtures) => Record<string, unknown>, string, number, string[]]>([
      [
        'send-email',
        () => ({ to: ['ann@example.com'], subject: 'Hi', text: 'Hi' }),
        'resend.emails.send',
        PER_EMAIL,
        [],
      ],
      [
        'send-batch-emails',
        () => ({
          emails: [
            { to: ['ann@example.com'], subject: 'One', text: 'One' },
            { to: ['ben@example.com'], subject: 'Two', text: 'Two' },
          ],
        }),
        'resend.emails.batch',
        2 * PER_EMAIL,
        [],
      ],
      [
        'send-broadcast',
        (f) => ({ broadcastId: f.lowCapBroadcast }),
        'resend.broadcasts.send',
        // The segment as it is now: the caps-only run added eve@ and dan@ came and went.
        (AUDIENCE.length + 1) * PER_EMAIL,
        ['GET /broadcasts/{broadcast}', 'GET /segments/{segment}/contacts?limit=100'],
      ],
    ])('denies %s once, before it reaches Resend', async (tool, args, operation, cost, reads) => {
      const mark = kb.audit.length;
      const before = emulator.requests.length;
      const delivered = emulator.deliveries.length;

      const result = (await servers.low.client.callTool({
        name: tool,
        arguments: args(fixtures),
      })) as ToolResult;
      seenByTools.push(text(result));

      expect(result.isError).toBe(true);
      expect(text(result)).toContain('daily_quota_exceeded');
      // A cost Keybrake read from the vendor (a broadcast's segment) is not quoted (tenth round).
      expect(text(result)).toContain(
        `Keybrake: daily spend cap of $0.0005 would be exceeded ($0.00 used, ${
          reads.length > 0
            ? "this call's amount, which Keybrake read from the object it acts on"
            : `this call $${formatUsd(cost)}`
        }).`,
      );
      const record = await kb.waitForAudit(
        (r) => kb.audit.indexOf(r) >= mark && r['vaultKey'] === 'agents/mcp-low',
      );
      auditedCalls += 1;
      expect(record).toMatchObject({
        operation,
        decision: 'deny',
        reason: 'daily_cap_exceeded',
        costUsd: '0.00',
      });
      // Only the price lookups reached Resend, never the send.
      expect(
        emulator.requests
          .slice(before)
          .map((r) =>
            `${r.method} ${r.path}`
              .replace(fixtures.lowCapBroadcast, '{broadcast}')
              .replace(fixtures.segment, '{segment}'),
          ),
      ).toEqual(reads);
      expect(emulator.deliveries).toHaveLength(delivered);
    });
  });

  it('audited exactly the calls above, and kept every secret out of what the model saw', () => {
    const toolKeys = new Set(['agents/mcp-caps', 'agents/mcp-exact', 'agents/mcp-low']);
    expect(kb.audit.filter((r) => toolKeys.has(r['vaultKey'] as string))).toHaveLength(auditedCalls);
    const visible = seenByTools.join('\n');
    expect(visible).not.toContain(RESEND_EMULATOR_KEY);
    for (const s of Object.values(servers)) expect(s.stderr()).not.toContain(RESEND_EMULATOR_KEY);
    for (const t of Object.values(tokens)) expect(kb.output()).not.toContain(t);
  });
});
