import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Denial, isDenial } from '../decision/reasons.ts';
import { parseForm } from './form.ts';
import { parseMultipart } from './multipart.ts';

/**
 * Properties of the multipart/form-data reader (ADR 0007 §2): nothing escapes as an exception; every
 * input is a reading or a named Denial; a body written the way stripe-node writes one reads back to
 * exactly its fields (as the same pairs form-encoded read) and its file's bytes; a field given twice
 * is always refused; and a body cut short or with a byte changed in its framing never reads as a
 * different set of fields silently: it is refused, or reads to what was written.
 */

const limits = { maxBytes: 1 << 20, maxDepth: 5, maxParams: 1000 };
const spec = { fileFields: new Set(['file']) };
const RUNS = { numRuns: 500 };

const BCHAR = "0123456789abcdefABCDEF'()+_,-./:=?";
const boundary = fc.oneof(
  fc.uuid(),
  fc.string({ unit: fc.constantFrom(...BCHAR), minLength: 1, maxLength: 70 }),
);
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype', 'file']);
/** A flat field name stripe-node could write (it turns `"` into %22 and CR/LF into spaces). */
const name = fc
  .string({
    unit: fc.constantFrom(...'abcxyzAZ09_-. é€😀%&=+#/?:,!*'.match(/./gu)!),
    minLength: 1,
    maxLength: 8,
  })
  .filter((s) => !/^\d+$/.test(s) && !FORBIDDEN.has(s) && s.toLowerCase() !== '_method');
const value = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  fc.constant(''),
);
const fileBytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));

interface Upload {
  readonly boundary: string;
  readonly fields: readonly (readonly [string, string])[];
  readonly file?: {
    readonly filename: string;
    readonly type: string;
    readonly data: Buffer;
    readonly at: number;
  };
}

const upload: fc.Arbitrary<Upload> = fc
  .record({
    boundary,
    fields: fc.uniqueArray(fc.tuple(name, value), { selector: ([n]) => n, maxLength: 8 }),
    file: fc.option(
      fc.record({
        filename: fc.string({
          unit: fc.constantFrom(...'abc. -_é'.match(/./gu)!),
          minLength: 1,
          maxLength: 12,
        }),
        type: fc.constantFrom('text/plain', 'application/pdf', 'image/png', 'application/octet-stream'),
        data: fileBytes,
        at: fc.nat(),
      }),
      { nil: undefined },
    ),
  })
  .map((u) => (u.file === undefined ? { boundary: u.boundary, fields: u.fields } : (u as Upload)));

/** The bytes stripe-node's multipart generator writes for these fields and file. */
function encode(u: Upload): Buffer {
  const parts: Buffer[] = [];
  const push = (x: string | Buffer) => parts.push(Buffer.from(x), Buffer.from('\r\n'));
  const quote = (s: string) => `"${s.replace(/"/g, '%22').replace(/\r\n|\r|\n/g, ' ')}"`;
  const entries: (readonly [string, string] | 'file')[] = [...u.fields];
  if (u.file) entries.splice(u.file.at % (entries.length + 1), 0, 'file');
  for (const e of entries) {
    push(`--${u.boundary}`);
    if (e === 'file') {
      push(`Content-Disposition: form-data; name="file"; filename=${quote(u.file!.filename)}`);
      push(`Content-Type: ${u.file!.type}`);
      push('');
      push(u.file!.data);
    } else {
      push(`Content-Disposition: form-data; name=${quote(e[0])}`);
      push('');
      push(e[1]);
    }
  }
  push(`--${u.boundary}--`);
  return Buffer.concat(parts);
}

/** A client picks a boundary its content does not contain; a generated one that collides is skipped. */
function framed(u: Upload): boolean {
  const delimiter = Buffer.from(`\r\n--${u.boundary}`);
  return (
    u.fields.every(([, v]) => !Buffer.from(`\r\n${v}\r\n`).includes(delimiter)) &&
    (!u.file || !Buffer.concat([Buffer.from('\r\n'), u.file.data, Buffer.from('\r\n')]).includes(delimiter))
  );
}

const contentType = (b: string) =>
  /^[0-9A-Za-z'+_.-]+$/.test(b)
    ? `multipart/form-data; boundary=${b}`
    : `multipart/form-data; boundary="${b}"`;

describe('multipart/form-data properties', () => {
  it('never throws: any bytes under any Content-Type are a reading or a named Denial', () => {
    const ct = fc.oneof(boundary.map(contentType), fc.string({ maxLength: 60 }));
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
      upload.map(encode),
      fc
        .tuple(upload.map(encode), fc.string({ maxLength: 20 }))
        .map(([b, s]) => Buffer.concat([Buffer.from(s), b])),
    );
    fc.assert(
      fc.property(ct, bytes, (type, b) => {
        const r = parseMultipart(type, b, limits, spec);
        if (isDenial(r)) {
          expect(r).toBeInstanceOf(Denial);
          expect(['body_invalid', 'body_too_large']).toContain(r.reason);
          expect(r.message).toMatch(/\S/);
        } else expect(typeof r.params).toBe('object');
      }),
      { numRuns: 2000 },
    );
  });

  it('reads what stripe-node writes: the fields as the same pairs form-encoded, the file byte for byte', () => {
    fc.assert(
      fc.property(upload.filter(framed), (u) => {
        const r = parseMultipart(contentType(u.boundary), encode(u), limits, spec);
        if (isDenial(r)) throw new Error(`${r.reason}: ${r.message}`);
        const stripped = u.fields.map(([n, v]) => [n.replace(/"/g, '%22'), v] as const);
        const oracle = parseForm(
          stripped.map(([n, v]) => `${encodeURIComponent(n)}=${encodeURIComponent(v)}`).join('&'),
          limits,
        );
        expect(r.params).toEqual(oracle);
        for (const [n, v] of stripped) expect(r.params[n]).toBe(v);
        if (u.file) {
          expect(r.files).toHaveLength(1);
          expect(r.files[0]!.data.equals(u.file.data)).toBe(true);
          expect(r.files[0]!.filename).toBe(u.file.filename);
          expect(r.files[0]!.contentType).toBe(u.file.type);
        } else expect(r.files).toEqual([]);
      }),
      RUNS,
    );
  });

  it('refuses every body that gives a field twice, wherever the copy sits', () => {
    fc.assert(
      fc.property(
        upload.filter((u) => u.fields.length > 0 && framed(u)),
        fc.nat(),
        fc.nat(),
        value,
        (u, pick, at, again) => {
          const copy = [u.fields[pick % u.fields.length]![0], again] as const;
          const fields = [...u.fields];
          fields.splice(at % (fields.length + 1), 0, copy);
          const twice = { ...u, fields };
          fc.pre(framed(twice));
          const r = parseMultipart(contentType(u.boundary), encode(twice), limits, spec);
          expect(isDenial(r) && r.reason).toBe('body_invalid');
        },
      ),
      RUNS,
    );
  });

  it('a body cut short anywhere before its closing boundary is refused', () => {
    fc.assert(
      fc.property(upload.filter(framed), fc.nat(), (u, where) => {
        const good = encode(u);
        const end = good.length - 2; // `--B--` stands without its final CRLF
        const r = parseMultipart(contentType(u.boundary), good.subarray(0, where % end), limits, spec);
        expect(isDenial(r) && r.reason).toBe('body_invalid');
      }),
      { numRuns: 1000 },
    );
  });

  it('a body with a framing byte changed is refused, or reads as a plain RFC 2046 split of it reads', () => {
    fc.assert(
      fc.property(
        upload.filter(framed),
        fc.nat(),
        fc.constantFrom('flip', 'drop', 'insert'),
        fc.integer({ min: 0, max: 255 }),
        (u, where, how, byte) => {
          const good = encode(u);
          // Only bytes outside field values and file content: the delimiters and part headers.
          const framing = framingOffsets(u, good);
          const at = framing[where % framing.length]!;
          let bad: Buffer;
          if (how === 'drop') bad = Buffer.concat([good.subarray(0, at), good.subarray(at + 1)]);
          else if (how === 'insert')
            bad = Buffer.concat([good.subarray(0, at), Buffer.from([byte]), good.subarray(at)]);
          else {
            bad = Buffer.from(good);
            bad[at] = byte;
          }
          const r = parseMultipart(contentType(u.boundary), bad, limits, spec);
          if (isDenial(r)) return;
          // Accepted: then every field and file is what the naive reading finds, no more, no less.
          const ref = reference(bad, u.boundary);
          if (!ref) throw new Error('accepted a body the reference cannot split');
          const oracle = parseForm(
            ref.fields.map(([n, v]) => `${encodeURIComponent(n)}=${encodeURIComponent(v)}`).join('&'),
            limits,
          );
          expect(r.params).toEqual(oracle);
          expect(r.files.map((f) => [f.name, f.data.toString('latin1')])).toEqual(ref.files);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

/**
 * The plainest RFC 2046 reading, independent of the reader: split on CRLF + `--boundary`, each part's
 * head up to the first empty line, `name` and `filename` from the disposition. Undefined when it cannot.
 */
function reference(
  body: Buffer,
  b: string,
): { fields: [string, string][]; files: [string, string][] } | undefined {
  const text = `\r\n${body.toString('latin1')}`;
  const pieces = text.split(`\r\n--${b}`);
  if (pieces[0] !== '') return undefined;
  const fields: [string, string][] = [];
  const files: [string, string][] = [];
  for (const piece of pieces.slice(1, -1)) {
    if (!piece.startsWith('\r\n')) return undefined;
    const split = piece.indexOf('\r\n\r\n', 2);
    if (split === -1) return undefined;
    const head = Buffer.from(piece.slice(2, split), 'latin1').toString('utf8');
    const content = piece.slice(split + 4);
    // Parameter names are case-insensitive (RFC 2045 §5.1).
    const name = /;\s*name="([^"]*)"/i.exec(head)?.[1];
    if (name === undefined) return undefined;
    if (/;\s*filename="/i.test(head)) files.push([name, content]);
    else fields.push([name, Buffer.from(content, 'latin1').toString('utf8')]);
  }
  if (!pieces.at(-1)?.startsWith('--')) return undefined;
  return { fields, files };
}

/** Offsets of `good` that are framing: every byte but those inside field values and file content. */
function framingOffsets(u: Upload, good: Buffer): number[] {
  const content = new Set<number>();
  let from = 0;
  const mark = (bytes: Buffer) => {
    if (bytes.length === 0) return;
    const at = good.indexOf(Buffer.concat([Buffer.from('\r\n\r\n'), bytes, Buffer.from('\r\n')]), from);
    if (at === -1) return;
    for (let i = at + 4; i < at + 4 + bytes.length; i++) content.add(i);
    from = at + 4 + bytes.length;
  };
  const entries: (readonly [string, string] | 'file')[] = [...u.fields];
  if (u.file) entries.splice(u.file.at % (entries.length + 1), 0, 'file');
  for (const e of entries) mark(e === 'file' ? u.file!.data : Buffer.from(e[1]));
  const out: number[] = [];
  for (let i = 0; i < good.length; i++) if (!content.has(i)) out.push(i);
  return out;
}
