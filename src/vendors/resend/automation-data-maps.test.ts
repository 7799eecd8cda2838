import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import type { Params } from '../types.ts';
import { withoutDataMaps } from './automation-data-maps.ts';
import { automationEventDataDenial } from './automation-event-data.ts';
import { automationRecipients, automationSenders } from './automations.ts';
import { UNSEEN_RECIPIENT } from './recipients.ts';

const trigger = { key: 't', type: 'trigger', config: { event_name: 'order.created' } };
const workflow = (...steps: object[]): Params => ({ name: 'a', steps: [trigger, ...steps], connections: [] });
const send = (variables: unknown, from = 'Acme <hello@acme.test>') => ({
  key: 's',
  type: 'send_email',
  config: { template: { id: 'tm_1', variables }, from },
});
const update = (properties: unknown) => ({ key: 'u', type: 'contact_update', config: { properties } });

// Thirteenth round (probe legit13 finding 1): a key the merchant names in a template's variables or
// a contact's properties was read as a step's `type` or `config`, and the automation refused.
describe('the data maps of automation steps', () => {
  it.each([
    [
      'a variable named TYPE beside an event variable',
      send({ TYPE: 'order', ID: { var: 'event.order_id' } }),
    ],
    [
      'a variable named type beside an event variable',
      send({ type: 'order', ID: { var: 'event.order_id' } }),
    ],
    ['a variable named type alone', send({ type: 'order' })],
    ['line items with a type', send({ ITEMS: [{ type: 'shirt', name: 'T-shirt', qty: 1 }] })],
    ['a variable named CONFIG', send({ CONFIG: 'basic', Type: 'x' })],
    ['a variable record typed like a step', send({ x: { type: 'send_sms', config: 'x' } })],
    ['a contact property named type', update({ type: 'customer', Config: 'x' })],
  ])('pass %s', (_name, step) => {
    const params = workflow(step);
    expect(automationEventDataDenial('resend.automations.create', params)).toBeUndefined();
    expect(automationEventDataDenial('resend.automations.update', params)).toBeUndefined();
    expect(isDenial(automationSenders(params))).toBe(false);
    expect(isDenial(automationRecipients(params))).toBe(false);
  });

  it('still judge the send step around them', () => {
    const params = workflow(send({ type: 'order' }, 'CEO <ceo@evil.test>'));
    expect(automationSenders(params)).toEqual(['ceo@evil.test']);
    expect(automationRecipients(params)).toEqual([UNSEEN_RECIPIENT]);
  });

  it.each([
    [
      'a contact property named type beside an event reference',
      update({ type: 'customer', c: { var: 'event.code' } }),
    ],
    [
      'a contact property named type beside a template expression',
      update({ type: 'x', c: '{{{event.code}}}' }),
    ],
  ])('still refuse %s (what the step copies into the contact)', (_name, step) => {
    expect(automationEventDataDenial('resend.automations.create', workflow(step))).toMatchObject({
      reason: 'body_invalid',
    });
  });

  it.each([
    [
      'template spelt Template',
      { key: 's', type: 'send_email', config: { Template: { variables: { type: 'x' } } } },
    ],
    [
      'variables spelt Variables',
      { key: 's', type: 'send_email', config: { template: { Variables: { type: 'x' } } } },
    ],
    [
      'properties spelt Properties',
      { key: 'u', type: 'contact_update', config: { Properties: { type: 'x' } } },
    ],
    [
      'properties of a step spelt contactUpdate',
      { key: 'u', type: 'contactUpdate', config: { properties: {} } },
    ],
  ])('are read as data only in Resend spelling: %s is read as before', (_name, step) => {
    expect(automationSenders(workflow(step))).toMatchObject({ reason: 'body_invalid' });
  });

  it('leaves the step itself unchanged and copies only along the path', () => {
    const step = send({ type: 'order' }) as Params;
    const read = withoutDataMaps(step, new Set(['send_email']));
    expect(read).toEqual({
      key: 's',
      type: 'send_email',
      config: { template: { id: 'tm_1' }, from: 'Acme <hello@acme.test>' },
    });
    expect(step).toEqual(send({ type: 'order' }));
    expect(withoutDataMaps(step, new Set(['contact_update']))).toBe(step);
  });
});
