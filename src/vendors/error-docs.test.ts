import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { RESEND_ERROR_NAMES } from './resend/errors.ts';
import { TWILIO_ERROR_CODES } from './twilio/errors.ts';

// The vendor pages' error tables are what clients branch on ("the codes are stable"), and they fell
// behind the code: twilio.md left out 11 codes, resend.md 12 reasons (new-user walkthrough, fifth
// round). Each table is held to its vendor's map here, as docs/reasons.md is to the registry.

/** The rows of the table under `## Errors` of a vendor page: each row's reasons and what it answers. */
async function errorTable(vendor: string): Promise<{ reasons: string[]; answer: string }[]> {
  const doc = await readFile(new URL(`../../docs/vendors/${vendor}.md`, import.meta.url), 'utf8');
  const section = doc.split(/^## /m).find((s) => s.startsWith('Errors\n'));
  if (section === undefined) throw new Error(`docs/vendors/${vendor}.md has no Errors section`);
  return [...section.matchAll(/^\| (`[a-z_]+`(?:, `[a-z_]+`)*) \| (.+) \|$/gm)].map((m) => ({
    reasons: [...m[1]!.matchAll(/`([a-z_]+)`/g)].map((r) => r[1]!),
    answer: m[2]!,
  }));
}

describe('docs/vendors error tables', () => {
  it("twilio.md gives every reason its code, a row's codes in its reasons' order", async () => {
    const documented: Record<string, number> = {};
    for (const { reasons, answer } of await errorTable('twilio')) {
      const codes = [...answer.matchAll(/\b\d{5}\b/g)].map((c) => Number(c[0]));
      // One code for the whole row, or one per reason.
      expect([1, reasons.length], reasons.join()).toContain(codes.length);
      reasons.forEach((r, i) => {
        documented[r] = codes[codes.length === 1 ? 0 : i]!;
      });
    }
    expect(documented).toEqual(TWILIO_ERROR_CODES);
  });

  it('resend.md gives every reason its name', async () => {
    const documented: Record<string, string> = {};
    for (const { reasons, answer } of await errorTable('resend')) {
      for (const r of reasons) documented[r] = answer.replace(/^`|`$/g, '');
    }
    expect(documented).toEqual(RESEND_ERROR_NAMES);
  });
});
