import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type DefinedOperation, type Definition, DefinitionMissing, snakeCase } from './definition.ts';

/**
 * Resend publishes no API definition on the registries this project uses, so its SDK is the
 * definition: every method of every resource object of a `new Resend(key, { baseUrl })` is called
 * with plausible dummy arguments against a local recording server, and the method + path of each
 * request it makes is an operation. Ids passed in are `{name}` strings, so the recorded paths come
 * back as templates (`/emails/{email_id}`). An SDK method this file has no call for fails the
 * generation, so a new SDK version cannot add an endpoint unnoticed.
 */
export const RESEND_PACKAGE = 'resend';
export const RESEND_PACKAGE_VERSION = '6.38.0';

const EMAIL = { from: 'a@example.com', to: 'b@example.com', subject: 's', text: 't' };
const INBOX = { inboxId: '{inbox_id}' };
const THREAD = { ...INBOX, threadId: '{thread_id}' };

/**
 * The calls made per SDK method (`<resource path>.<method>`): each entry is one argument list; an
 * empty list of calls marks a method that makes no request of its own.
 */
export const RESEND_SDK_CALLS: Readonly<Record<string, readonly (readonly unknown[])[]>> = {
  'segments.create': [[{ name: 'n' }]],
  'segments.list': [[]],
  'segments.get': [['{segment_id}']],
  'segments.update': [['{segment_id}', { name: 'n' }]],
  'segments.remove': [['{segment_id}']],
  'apiKeys.create': [[{ name: 'n' }]],
  'apiKeys.list': [[]],
  'apiKeys.update': [['{api_key_id}', { name: 'n' }]],
  'apiKeys.remove': [['{api_key_id}']],
  'automations.create': [[{ name: 'n', steps: [], connections: [] }]],
  'automations.list': [[]],
  'automations.get': [['{automation_id}']],
  'automations.remove': [['{automation_id}']],
  'automations.update': [['{automation_id}', { name: 'n', steps: [], connections: [] }]],
  'automations.duplicate': [['{automation_id}']],
  'automations.stop': [['{automation_id}']],
  'automations.runs.get': [[{ automationId: '{automation_id}', runId: '{run_id}' }]],
  'automations.runs.list': [[{ automationId: '{automation_id}' }]],
  'batch.send': [[[EMAIL]]],
  'batch.create': [[[EMAIL]]],
  'broadcasts.create': [[{ from: 'a@example.com', segmentId: 's', html: 'h' }]],
  'broadcasts.send': [['{broadcast_id}']],
  'broadcasts.list': [[]],
  'broadcasts.get': [['{broadcast_id}']],
  'broadcasts.recipients': [['{broadcast_id}', { type: 'delivered' }]],
  'broadcasts.clickedLinks': [['{broadcast_id}']],
  'broadcasts.remove': [['{broadcast_id}']],
  'broadcasts.cancel': [['{broadcast_id}']],
  'broadcasts.duplicate': [['{broadcast_id}']],
  'broadcasts.update': [['{broadcast_id}', { name: 'n' }]],
  'contactProperties.create': [[{ key: 'k', type: 'string' }]],
  'contactProperties.list': [[]],
  'contactProperties.get': [['{contact_property_id}']],
  'contactProperties.update': [[{ id: '{contact_property_id}', fallbackValue: 'x' }]],
  'contactProperties.remove': [['{contact_property_id}']],
  'contacts.create': [
    [{ email: 'c@example.com' }],
    [{ email: 'c@example.com', audienceId: '{audience_id}' }],
  ],
  'contacts.list': [[], [{ segmentId: '{segment_id}' }]],
  'contacts.get': [['{contact_id}'], [{ id: '{contact_id}', audienceId: '{audience_id}' }]],
  'contacts.update': [[{ id: '{contact_id}' }], [{ id: '{contact_id}', audienceId: '{audience_id}' }]],
  'contacts.remove': [['{contact_id}'], [{ id: '{contact_id}', audienceId: '{audience_id}' }]],
  'contacts.imports.create': [[{ file: new Blob(['email\nc@example.com\n']) }]],
  'contacts.imports.list': [[]],
  'contacts.imports.get': [['{import_id}']],
  'contacts.imports.buildCreateFormData': [],
  'contacts.imports.buildColumnMap': [],
  'contacts.imports.appendField': [],
  'contacts.topics.update': [[{ id: '{contact_id}', topics: [] }]],
  'contacts.topics.list': [[{ id: '{contact_id}' }]],
  'contacts.segments.list': [[{ contactId: '{contact_id}' }]],
  'contacts.segments.add': [[{ contactId: '{contact_id}', segmentId: '{segment_id}' }]],
  'contacts.segments.remove': [[{ contactId: '{contact_id}', segmentId: '{segment_id}' }]],
  'domains.create': [[{ name: 'example.com' }]],
  'domains.list': [[]],
  'domains.get': [['{domain_id}']],
  'domains.update': [[{ id: '{domain_id}', openTracking: true }]],
  'domains.remove': [['{domain_id}']],
  'domains.verify': [['{domain_id}']],
  'domains.claims.create': [[{ name: 'example.com' }]],
  'domains.claims.get': [['{domain_id}']],
  'domains.claims.verify': [['{domain_id}']],
  'emails.send': [[EMAIL]],
  'emails.create': [[EMAIL]],
  'emails.get': [['{email_id}']],
  'emails.list': [[]],
  'emails.update': [[{ id: '{email_id}', scheduledAt: 'in 1 hour' }]],
  'emails.cancel': [['{email_id}']],
  'emails.share': [['{email_id}']],
  'emails.metrics': [[]],
  'emails.attachments.get': [[{ emailId: '{email_id}', id: '{attachment_id}' }]],
  'emails.attachments.list': [[{ emailId: '{email_id}' }]],
  'emails.receiving.get': [['{email_id}']],
  'emails.receiving.list': [[]],
  // Reads the received email, then sends it with POST /emails (emails.send) when it has content.
  'emails.receiving.forward': [[{ emailId: '{email_id}', to: 'b@example.com', from: 'a@example.com' }]],
  'emails.receiving.forwardPassthrough': [],
  'emails.receiving.forwardWrapped': [],
  'emails.receiving.downloadRaw': [],
  'emails.receiving.attachments.get': [[{ emailId: '{email_id}', id: '{attachment_id}' }]],
  'emails.receiving.attachments.list': [[{ emailId: '{email_id}' }]],
  'events.send': [[{ event: 'e', contactId: 'c' }]],
  'events.create': [[{ name: 'e' }]],
  'events.get': [['{event_id}']],
  'events.list': [[]],
  'events.update': [['{event_id}', { name: 'e' }]],
  'events.remove': [['{event_id}']],
  'inboxes.create': [[{ emailAddress: 'a@example.com' }]],
  'inboxes.list': [[]],
  'inboxes.get': [['{inbox_id}']],
  'inboxes.update': [['{inbox_id}', { name: 'n' }]],
  'inboxes.remove': [['{inbox_id}']],
  'inboxes.threads.list': [[INBOX]],
  'inboxes.threads.search': [[{ ...INBOX, query: 'q' }]],
  'inboxes.threads.get': [[THREAD]],
  'inboxes.threads.update': [[{ ...THREAD, read: true }]],
  'inboxes.threads.remove': [[THREAD]],
  'inboxes.threads.emails.list': [[THREAD]],
  'inboxes.threads.emails.get': [[{ ...THREAD, emailId: '{email_id}' }]],
  'inboxes.threads.emails.reply': [[{ ...THREAD, emailId: '{email_id}', text: 't' }]],
  'inboxes.threads.emails.forward': [[{ ...THREAD, emailId: '{email_id}', to: 'b@example.com' }]],
  'inboxes.threads.labels.add': [[{ ...THREAD, labels: ['l'] }]],
  'inboxes.threads.labels.set': [[{ ...THREAD, labels: ['l'] }]],
  'inboxes.threads.labels.remove': [[{ ...THREAD, labelId: '{label_id}' }]],
  'inboxes.labels.list': [[INBOX]],
  'inboxes.labels.create': [[{ ...INBOX, name: 'n' }]],
  'inboxes.labels.update': [[{ ...INBOX, labelId: '{label_id}', name: 'n' }]],
  'inboxes.labels.remove': [[{ ...INBOX, labelId: '{label_id}' }]],
  'inboxes.drafts.list': [[INBOX]],
  'inboxes.drafts.create': [[{ ...INBOX, text: 't' }]],
  'inboxes.drafts.get': [[{ ...INBOX, draftId: '{draft_id}' }]],
  'inboxes.drafts.update': [[{ ...INBOX, draftId: '{draft_id}', text: 't' }]],
  'inboxes.drafts.remove': [[{ ...INBOX, draftId: '{draft_id}' }]],
  'inboxes.drafts.send': [[{ ...INBOX, draftId: '{draft_id}' }]],
  'inboxes.agent.get': [[INBOX]],
  'inboxes.agent.update': [[{ ...INBOX, instructions: 'i' }]],
  'logs.list': [[]],
  'logs.get': [['{log_id}']],
  'oauthGrants.list': [[]],
  'oauthGrants.revoke': [['{grant_id}']],
  'suppressions.add': [[{ email: 'c@example.com' }]],
  'suppressions.list': [[]],
  'suppressions.get': [['{suppression_id}']],
  'suppressions.remove': [['{suppression_id}']],
  'suppressions.batch.add': [[{ emails: ['c@example.com'] }]],
  'suppressions.batch.remove': [[{ emails: ['c@example.com'] }]],
  'templates.create': [[{ name: 'n', html: 'h' }]],
  // Sends its request through `create`/`duplicate` and then `publish`: no request of its own.
  'templates.performCreate': [],
  'templates.remove': [['{template_id}']],
  'templates.get': [['{template_id}']],
  'templates.list': [[]],
  'templates.duplicate': [['{template_id}']],
  'templates.publish': [['{template_id}']],
  'templates.update': [['{template_id}', { name: 'n' }]],
  'topics.create': [[{ name: 'n', defaultSubscription: 'opt_in' }]],
  'topics.list': [[]],
  'topics.get': [['{topic_id}']],
  'topics.update': [[{ id: '{topic_id}', name: 'n' }]],
  'topics.remove': [['{topic_id}']],
  'usage.get': [[]],
  'webhooks.create': [[{ endpoint: 'https://example.com/hook', events: ['email.sent'] }]],
  'webhooks.get': [['{webhook_id}']],
  'webhooks.list': [[]],
  'webhooks.update': [['{webhook_id}', { status: 'disabled' }]],
  'webhooks.remove': [['{webhook_id}']],
  'webhooks.rotateSigningSecret': [['{webhook_id}']],
  // Checks a webhook signature locally.
  'webhooks.verify': [],
  'webhooks.events.list': [[{ webhookId: '{webhook_id}' }]],
  'webhooks.events.get': [[{ webhookId: '{webhook_id}', eventId: '{event_id}' }]],
  'webhooks.events.replay': [[{ webhookId: '{webhook_id}', eventId: '{event_id}' }]],
  'webhooks.events.attempts.list': [[{ webhookId: '{webhook_id}', eventId: '{event_id}' }]],
};

/** What the recorder answers: enough of a list and of an object for the SDK to read it back. */
const ANSWER = JSON.stringify({ object: 'list', id: 'rec_1', data: [], has_more: false });

/** One request the SDK made: which method made it, and its method and path template. */
export interface SdkRequest {
  readonly sdkMethod: string;
  readonly method: string;
  readonly path: string;
}

interface ResendClient {
  new (key: string, options: { baseUrl: string }): object;
}

/** Loads the definition by driving the installed SDK; throws DefinitionMissing when it is not installed. */
export async function loadResendDefinition(root: string): Promise<Definition> {
  const requests = await recordResendSdk(root);
  const operations = new Map<string, DefinedOperation>();
  const ids = new Set<string>();
  for (const r of requests) {
    const key = `${r.method} ${r.path}`;
    // The first SDK method to reach an endpoint names it (emails.send before emails.create).
    if (operations.has(key)) continue;
    let id = resendId(r.sdkMethod);
    // A method reaching a second endpoint (contacts.create with an audience) is named after its path.
    if (ids.has(id)) id = resendPathId(r.path, r.sdkMethod);
    ids.add(id);
    operations.set(key, { method: r.method, path: r.path, id });
  }
  return {
    source: `${RESEND_PACKAGE}@${RESEND_PACKAGE_VERSION} (the SDK's requests, recorded)`,
    operations: [...operations.values()],
  };
}

/** Every request every SDK method makes, in SDK order; fails on a method without calls above. */
export async function recordResendSdk(root: string): Promise<SdkRequest[]> {
  const Resend = await importSdk(root);
  const seen: SdkRequest[] = [];
  let current = '';
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://recorder').pathname);
      seen.push({ sdkMethod: current, method: req.method ?? 'GET', path });
      res.writeHead(200, { 'content-type': 'application/json' }).end(ANSWER);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const client = new Resend('re_catalog_recorder', { baseUrl: `http://127.0.0.1:${port}` });
    const missing: string[] = [];
    for (const [name, method] of sdkMethods(client)) {
      const calls = RESEND_SDK_CALLS[name];
      if (calls === undefined) {
        missing.push(name);
        continue;
      }
      current = name;
      for (const args of calls) {
        const before = seen.length;
        try {
          await method(...args);
        } catch (err) {
          // Reading our dummy answer may fail after the request was made; failing before it may not.
          if (seen.length === before) throw new Error(`resend SDK ${name} made no request: ${String(err)}`);
        }
      }
    }
    if (missing.length > 0) {
      throw new Error(
        `resend SDK methods without a recorded call (add them to RESEND_SDK_CALLS): ${missing.join(', ')}`,
      );
    }
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return seen;
}

async function importSdk(root: string): Promise<ResendClient> {
  const dir = join(root, 'node_modules', RESEND_PACKAGE);
  const fix = `run \`npm ci\` (package.json pins ${RESEND_PACKAGE}@${RESEND_PACKAGE_VERSION} as a devDependency)`;
  const manifest = join(dir, 'package.json');
  if (!existsSync(manifest)) throw new DefinitionMissing(`${RESEND_PACKAGE} is not installed: ${fix}.`);
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
  if (version !== RESEND_PACKAGE_VERSION) {
    throw new DefinitionMissing(
      `${RESEND_PACKAGE} ${version} is installed, not ${RESEND_PACKAGE_VERSION}: ${fix}.`,
    );
  }
  const sdk = (await import(RESEND_PACKAGE)) as { Resend: ResendClient };
  return sdk.Resend;
}

type Method = (...args: readonly unknown[]) => unknown;

/**
 * `[path, bound method]` for every method of every resource object reachable from the client
 * (`emails.receiving.attachments.list`), each object once (`audiences` is `segments`), in the
 * order the SDK defines them.
 */
export function sdkMethods(client: object): [string, Method][] {
  const found: [string, Method][] = [];
  const visited = new Set<object>([client]);
  const walk = (object: object, prefix: string): void => {
    for (const [key, value] of Object.entries(object)) {
      if (typeof value !== 'object' || value === null || visited.has(value)) continue;
      // The client itself (every resource holds it) and its request headers are not resources.
      if (value.constructor === client.constructor || value instanceof Headers) continue;
      const proto = Object.getPrototypeOf(value) as object | null;
      if (!proto || proto === Object.prototype || Array.isArray(value)) continue;
      visited.add(value);
      const path = prefix ? `${prefix}.${key}` : key;
      for (const name of Object.getOwnPropertyNames(proto)) {
        const member = (value as Record<string, unknown>)[name];
        if (name !== 'constructor' && typeof member === 'function') {
          found.push([`${path}.${name}`, (member as Method).bind(value)]);
        }
      }
      walk(value, path);
    }
  };
  walk(client, '');
  return found;
}

/** `/audiences/{audience_id}/contacts` reached by `contacts.create` → `resend.audiences.contacts.create`. */
function resendPathId(path: string, sdkMethod: string): string {
  const literals = path.split('/').filter((s) => s !== '' && !s.startsWith('{'));
  return ['resend', ...literals.map(snakeCase), snakeCase(sdkMethod.split('.').at(-1) ?? '')].join('.');
}

/** `inboxes.threads.emails.reply` → `resend.inboxes.threads.emails.reply`; `apiKeys.create` → `resend.api_keys.create`. */
export function resendId(sdkMethod: string): string {
  return ['resend', ...sdkMethod.split('.').map(snakeCase)].join('.');
}
