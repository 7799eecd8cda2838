import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Denial, isDenial } from '../../decision/reasons.ts';
import { readTwiml } from './twiml.ts';

/**
 * Properties of the TwiML reader (ADR 0007 §7): nothing escapes as an exception; any input is a
 * reading or a named Denial (body_invalid or price_unknown); and however a number is written into a
 * `<Dial>` (a character reference, CDATA, comments around it), a document that is read names it as a
 * destination: an instruction is never silently dropped.
 */

const RUNS = { numRuns: 2000 };

const markup = fc.constantFrom(
  '<Response>',
  '</Response>',
  '<Dial>',
  '</Dial>',
  '<Number>',
  '</Number>',
  '<Sms to="+447911123456">',
  '</Sms>',
  '<Redirect>',
  '</Redirect>',
  '<Say>',
  '</Say>',
  '<![CDATA[',
  ']]>',
  '<!--',
  '-->',
  '<?xml version="1.0"?>',
  '<!DOCTYPE r>',
  '&#43;',
  '&amp;',
  '&',
  '<',
  '>',
  '"',
  '/>',
  ' action="https://a.example/x"',
  '+447911123456',
  'https://a.example/',
  ' ',
);

const xmlish = fc.array(markup, { maxLength: 30 }).map((parts) => parts.join(''));

/** A phone number written one of the ways XML allows. */
const writtenNumber = fc
  .tuple(
    fc.constantFrom('+447911123456', '+33612345678', '+14155550123'),
    fc.constantFrom('plain', 'decimal', 'hex', 'cdata', 'comment', 'spaces'),
  )
  .map(([number, how]) => {
    const rest = number.slice(1);
    const written = {
      plain: number,
      decimal: `&#43;${rest}`,
      hex: `&#x2B;${rest}`,
      cdata: `<![CDATA[${number}]]>`,
      comment: `${number.slice(0, 4)}<!-- x -->${number.slice(4)}`,
      spaces: `\n  ${number}  \n`,
    }[how];
    return { number, written };
  });

describe('readTwiml properties', () => {
  it('never throws: any text is a reading or a named Denial', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), xmlish), (text) => {
        const r = readTwiml(text);
        if (isDenial(r)) {
          expect(r).toBeInstanceOf(Denial);
          expect(['body_invalid', 'price_unknown']).toContain(r.reason);
        } else {
          expect(Array.isArray(r.dials) && Array.isArray(r.sms) && Array.isArray(r.remote)).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('finds every number in a <Dial>, however it is written', () => {
    fc.assert(
      fc.property(
        fc.array(writtenNumber, { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        (numbers, asNouns) => {
          const inner = asNouns
            ? `<Dial>${numbers.map((n) => `<Number>${n.written}</Number>`).join('')}</Dial>`
            : numbers.map((n) => `<Dial>${n.written}</Dial>`).join('<Pause/>');
          const r = readTwiml(`<Response>${inner}</Response>`);
          if (isDenial(r)) throw new Error(`${r.reason}: ${r.message}`);
          expect(r.dials.map((d) => d.to.address)).toEqual(numbers.map((n) => n.number));
        },
      ),
      RUNS,
    );
  });

  it('reports every remote URL attribute, wherever the verb sits', () => {
    const verb = fc.constantFrom(
      (u: string) => `<Redirect>${u}</Redirect>`,
      (u: string) => `<Gather action="${u}"/>`,
      (u: string) => `<Dial action="${u}">+14155550100</Dial>`,
      (u: string) => `<Dial><Number url="${u}">+14155550100</Number></Dial>`,
      (u: string) => `<Enqueue waitUrl="${u}">q</Enqueue>`,
      (u: string) => `<Connect><Stream url="${u}"/></Connect>`,
    );
    fc.assert(
      fc.property(fc.array(verb, { minLength: 1, maxLength: 6 }), (verbs) => {
        const urls = verbs.map((_, i) => `https://h${i}.example/x`);
        const r = readTwiml(`<Response>${verbs.map((v, i) => v(urls[i]!)).join('')}</Response>`);
        if (isDenial(r)) throw new Error(`${r.reason}: ${r.message}`);
        expect(r.remote.map((i) => (i.kind === 'url' ? i.url : i.kind)).sort()).toEqual([...urls].sort());
      }),
      RUNS,
    );
  });
});
