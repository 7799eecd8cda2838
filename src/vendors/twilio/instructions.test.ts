import { describe, expect, it } from 'vitest';
import { TWILIO_REQUEST_BODIES } from './bodies.ts';
import {
  instructionParams,
  NOT_INSTRUCTION_PATTERNS,
  NOT_INSTRUCTIONS,
  TWILIO_INSTRUCTION_PARAMS,
} from './instructions.ts';
import { TWILIO_OPERATIONS } from './operations.ts';

/** A parameter name that could point Twilio somewhere: a URL, an application or flow, inline TwiML. */
const URL_LIKE = /(?:url|uri)$|applicationsid$|flowsid$|twiml/i;

describe('the instruction parameters table', () => {
  it('names only operations and parameters of the definitions', () => {
    const ids = new Set(TWILIO_OPERATIONS.map((r) => r.id));
    for (const [id, entry] of Object.entries(TWILIO_INSTRUCTION_PARAMS)) {
      expect(ids.has(id), id).toBe(true);
      const names = TWILIO_REQUEST_BODIES[id]?.names ?? [];
      for (const name of [...(entry.urls ?? []), ...(entry.opaque ?? []).map(([n]) => n)]) {
        expect(names, `${id} ${name}`).toContain(name);
      }
    }
  });

  it('accounts for every URL-like parameter of every operation (a new one fails here until reviewed)', () => {
    const unreviewed: string[] = [];
    for (const [id, body] of Object.entries(TWILIO_REQUEST_BODIES)) {
      const entry = TWILIO_INSTRUCTION_PARAMS[id];
      const listed = new Set([...(entry?.urls ?? []), ...(entry?.opaque ?? []).map(([n]) => n)]);
      for (const name of body.names.filter((n) => URL_LIKE.test(n))) {
        // Inline TwiML is read as destinations by classify (twiml.ts), not fetched.
        if (name === 'Twiml') continue;
        if (listed.has(name) || /callback/i.test(name) || Object.hasOwn(NOT_INSTRUCTIONS, name)) continue;
        if (NOT_INSTRUCTION_PATTERNS.some(([pattern]) => pattern.test(name))) continue;
        unreviewed.push(`${id} ${name}`);
      }
    }
    expect(unreviewed).toEqual([]);
  });

  it('takes inline TwiML only on the two Calls operations classify reads it for', () => {
    const withTwiml = Object.entries(TWILIO_REQUEST_BODIES)
      .filter(([, body]) => body.names.includes('Twiml'))
      .map(([id]) => id)
      .sort();
    expect(withTwiml).toEqual(['twilio.calls.create', 'twilio.calls.update']);
  });
});

describe('instructionParams', () => {
  it('reads the URLs and application SIDs a call carries, trimmed, skipping empty ones', () => {
    expect(
      instructionParams('twilio.calls.create', {
        Url: ' https://a.example/x ',
        FallbackUrl: '',
        ApplicationSid: 'AP1',
        StatusCallback: 'https://s.example',
      }),
    ).toEqual([
      { kind: 'url', where: 'Url', url: 'https://a.example/x' },
      { kind: 'opaque', where: 'ApplicationSid', what: 'a TwiML application' },
    ]);
  });

  // Fifth round: String.trim made `\u00a0https://allowed…` the allowed URL, and a lone no-break space
  // an empty value that clears the setting; Twilio receives the raw value.
  it('judges a value with blank or invisible characters around it raw, and never as empty', () => {
    expect(
      instructionParams('twilio.calls.create', {
        Url: '\u00a0https://a.example/x',
        FallbackUrl: '\u00a0',
        ApplicationSid: '\ufeff',
      }),
    ).toEqual([
      { kind: 'url', where: 'Url', url: '\u00a0https://a.example/x' },
      { kind: 'url', where: 'FallbackUrl', url: '\u00a0' },
      { kind: 'opaque', where: 'ApplicationSid', what: 'a TwiML application' },
    ]);
  });

  it('reads nothing for an operation outside the table', () => {
    expect(instructionParams('twilio.messages.create', { Url: 'https://a.example' })).toEqual([]);
  });
});
