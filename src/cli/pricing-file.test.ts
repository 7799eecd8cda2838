import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from './args.ts';
import { loadPricingFile } from './pricing-file.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pricing-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, text);
  return p;
}

describe('loadPricingFile', () => {
  it('is the built-in tables without a file', async () => {
    await expect(loadPricingFile(undefined)).resolves.toEqual({});
    await expect(loadPricingFile('')).resolves.toEqual({});
  });

  it('reads a YAML or JSON mapping of the three fields', async () => {
    const yaml = await file('p.yaml', 'exchangeRates: { eur: "1.08" }\nresend:\n  perEmail: "0.0009"\n');
    await expect(loadPricingFile(yaml)).resolves.toEqual({
      exchangeRates: { eur: '1.08' },
      resend: { perEmail: '0.0009' },
    });
    const json = await file('p.json', '{"twilio": {}}');
    await expect(loadPricingFile(json)).resolves.toEqual({ twilio: {} });
  });

  it.each([
    ['a list', '- exchangeRates: { eur: "1.08" }\n', 'expected a mapping'],
    ['a scalar', 'cheap\n', 'expected a mapping'],
    ['an empty file', '', 'expected a mapping'],
    ['a misspelt field', 'exchangeRate: { eur: "1.08" }\n', 'unknown field "exchangeRate"'],
    ['broken YAML', 'resend: { perEmail: [\n', '--pricing'],
    // Sixteenth round (probe newuser16 finding 2): a section that is not a mapping read as a mapping of
    // nothing, so the built-in table priced every call and caps admitted more than the operator priced.
    [
      'resend as a number',
      'resend: 2000\n',
      'resend: expected a mapping such as resend: { perEmail: 2000 }, got 2000',
    ],
    [
      'resend as a string',
      'resend: "0.002"\n',
      'resend: expected a mapping such as resend: { perEmail: 2000 }, got the string "0.002"',
    ],
    [
      'twilio as a number',
      'twilio: 5\n',
      'twilio: expected a mapping such as twilio: { verifyPerVerification: 60000 }, got 5',
    ],
    [
      'exchangeRates as a number',
      'exchangeRates: 5\n',
      'exchangeRates: expected a mapping such as exchangeRates: { eur: "1.08" }, got 5',
    ],
    [
      'exchangeRates as a list',
      'exchangeRates: [ "1.08" ]\n',
      'exchangeRates: expected a mapping such as exchangeRates: { eur: "1.08" }, got a list',
    ],
    [
      'an empty section',
      'resend:\n# perEmail: 2000\n',
      'resend: expected a mapping such as resend: { perEmail: 2000 }, got nothing (an empty section: give its fields or remove it)',
    ],
    [
      'a section as true',
      'twilio: yes\n',
      'twilio: expected a mapping such as twilio: { verifyPerVerification: 60000 }, got the string "yes"',
    ],
  ])('refuses %s, naming the file', async (name, text, message) => {
    const p = await file(`${name.replaceAll(' ', '-')}.yaml`, text);
    const err = await loadPricingFile(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toContain(`--pricing ${p}: `);
    expect((err as Error).message).toContain(message);
  });

  it('refuses a file it cannot read', async () => {
    const missing = path.join(dir, 'missing.yaml');
    await expect(loadPricingFile(missing)).rejects.toThrow(UsageError);
    await expect(loadPricingFile(missing)).rejects.toThrow(`--pricing ${missing}: ENOENT`);
  });
});
