import { describe, expect, it } from 'vitest';
import type { Params } from '../types.ts';
import { automationEventDataDenial } from './automation-event-data.ts';

const trigger = { key: 't', type: 'trigger', config: { event_name: 'password.reset' } };
const workflow = (...steps: object[]): Params => ({ name: 'a', steps: [trigger, ...steps], connections: [] });
const update = (config: Params) => ({ key: 'u', type: 'contact_update', config });
const rule = (field: unknown) => ({ type: 'rule', field, operator: 'eq', value: '1' });
const send = (config: Params) => ({
  key: 's',
  type: 'send_email',
  config: { template: { id: 'tm_1' }, ...config },
});

// Thirteenth round (fixes13r finding 1): a step other than send_email copying or branching on the
// app's event payload puts it into records any key reads.
describe('automationEventDataDenial', () => {
  it.each([
    ['a contact_update copying event data', workflow(update({ first_name: { var: 'event.reset_url' } }))],
    ['a property copied from event data', workflow(update({ properties: { code: { var: 'event.code' } } }))],
    ['a reference in another case', workflow(update({ first_name: { var: 'EVENT.reset_url' } }))],
    ['a reference with a blank', workflow(update({ first_name: { var: ' contact.x' } }))],
    ['a reference that is no string', workflow(update({ first_name: { var: ['event.code'] } }))],
    ['a var key spelt VAR', workflow(update({ first_name: { VAR: 'event.code' } }))],
    ['a template expression', workflow(update({ first_name: 'x {{event.code}}' }))],
    ['a condition on event data', workflow({ key: 'c', type: 'condition', config: rule('event.code') })],
    [
      'a rule nested in an or',
      workflow({
        key: 'c',
        type: 'condition',
        config: { type: 'or', rules: [rule('contact.a'), rule('event.b')] },
      }),
    ],
    [
      'a field key spelt Field',
      workflow({ key: 'c', type: 'condition', config: { ...rule('contact.a'), Field: 'event.b' } }),
    ],
    [
      'a wait_for_event filter on event data',
      workflow({
        key: 'w',
        type: 'wait_for_event',
        config: { event_name: 'x', filter_rule: rule('event.code') },
      }),
    ],
    [
      'a delay read from the event',
      workflow({ key: 'd', type: 'delay', config: { duration: { var: 'event.wait' } } }),
    ],
    [
      'a step nested in a send_email step',
      workflow(send({ x: update({ first_name: { var: 'event.code' } }) })),
    ],
    ['a send_email from filled from the event', workflow(send({ from: '{{{event.code}}} <bot@acme.test>' }))],
    ['a send_email reply_to filled from the event', workflow(send({ reply_to: ['{{event.to}}@acme.test'] }))],
    [
      'steps nested elsewhere',
      { name: 'a', workflow: { steps: [update({ last_name: { var: 'event.x' } })] } },
    ],
    // Thirteenth round (fixes13x finding 2): a `type` inside a step is no step.
    [
      'a property named type holding send_email beside event references',
      workflow(update({ properties: { type: 'send_email', code: { var: 'event.code' } } })),
    ],
    [
      'a property named type holding send_email beside a template expression',
      workflow(update({ properties: { type: 'send_email', code: '{{{event.code}}}' } })),
    ],
    [
      'a send_email-typed object with a config inside a contact_update',
      workflow(update({ first_name: { type: 'send_email', config: {}, v: { var: 'event.reset_url' } } })),
    ],
    [
      'a send_email-typed rule in a condition',
      workflow({ key: 'c', type: 'condition', config: { type: 'send_email', field: 'event.code' } }),
    ],
    [
      'a send_email-typed object in a step nested in a send_email step',
      workflow(send({ x: update({ p: { type: 'send_email', code: { var: 'event.code' } } }) })),
    ],
  ])('refuses %s', (_name, params) => {
    expect(automationEventDataDenial('resend.automations.create', params)).toMatchObject({
      reason: 'body_invalid',
    });
    expect(automationEventDataDenial('resend.automations.update', params)).toMatchObject({
      reason: 'body_invalid',
    });
  });

  it.each([
    ['a rename', { name: 'welcome (old)' }],
    [
      'contact references and literals',
      workflow(update({ last_name: { var: 'contact.last_name' }, properties: { vip: true } })),
    ],
    ['a condition on the contact', workflow({ key: 'c', type: 'condition', config: rule('contact.plan') })],
    [
      'a send_email step filling its template from the event',
      workflow(
        send({
          from: 'bot@acme.test',
          subject: 'Hi {{{event.name}}}',
          template: { id: 't', variables: { link: { var: 'event.reset_url' } } },
        }),
      ),
    ],
    [
      'a property named type holding send_email beside literals and contact references',
      workflow(update({ properties: { type: 'send_email', plan: 'pro', l: { var: 'contact.last_name' } } })),
    ],
  ])('passes %s', (_name, params) => {
    expect(automationEventDataDenial('resend.automations.create', params)).toBeUndefined();
  });

  it('reads only automation creates and updates (a copy or another write is not read here)', () => {
    const params = workflow(update({ first_name: { var: 'event.reset_url' } }));
    expect(automationEventDataDenial('resend.automations.duplicate', params)).toBeUndefined();
    expect(automationEventDataDenial('resend.contacts.update', params)).toBeUndefined();
  });
});
