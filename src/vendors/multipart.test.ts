import { describe, expect, it } from 'vitest';
import { isDenial } from '../decision/reasons.ts';
import { MAX_PART_HEAD_BYTES, type MultipartForm, multipartBoundary, parseMultipart } from './multipart.ts';
import { parseStripe } from './stripe/parse.ts';

const limits = { maxBytes: 64 * 1024, maxDepth: 5, maxParams: 50 };
const spec = { fileFields: new Set(['file']) };
const B = 'a1b2c3d4-e5f6-4788-9900-aabbccddeeff';
const CT = `multipart/form-data; boundary=${B}`;

/** A part as stripe-node writes it (`name="…"`, a file with `filename` and `Content-Type`). */
const field = (name: string, value: string) =>
  `--${B}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
const file = (data: string | Buffer, name = 'file', filename = 'receipt.txt', type = 'text/plain') =>
  Buffer.concat([
    Buffer.from(
      `--${B}\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: ${type}\r\n\r\n`,
    ),
    Buffer.from(data),
    Buffer.from('\r\n'),
  ]);
const close = `--${B}--\r\n`;
const body = (...parts: (string | Buffer)[]) => Buffer.concat(parts.map((p) => Buffer.from(p)));

function read(b: Buffer, contentType = CT): MultipartForm {
  const r = parseMultipart(contentType, b, limits, spec);
  if (isDenial(r)) throw new Error(`${r.reason}: ${r.message}`);
  return r;
}

describe('multipart/form-data, as stripe-node sends an upload', () => {
  it('reads the fields as form parameters and keeps the file as its bytes', () => {
    const bytes = Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x2d, 0x2d, 0x41, 0xfe, 0x0d, 0x0a]);
    const r = read(
      body(
        field('purpose', 'dispute_evidence'),
        field('expand[0]', 'links'),
        field('expand[1]', 'purpose'),
        field('file_link_data[create]', 'false'),
        field('file_link_data[metadata][note]', 'café & co\r\nsecond line'),
        file(bytes),
        close,
      ),
    );
    expect(r.params).toEqual({
      purpose: 'dispute_evidence',
      expand: ['links', 'purpose'],
      file_link_data: { create: 'false', metadata: { note: 'café & co\r\nsecond line' } },
    });
    expect(r.files).toHaveLength(1);
    expect(r.files[0]).toMatchObject({ name: 'file', filename: 'receipt.txt', contentType: 'text/plain' });
    expect(r.files[0]!.data.equals(bytes)).toBe(true);
  });

  it('keeps file content that looks like a boundary, as long as it is not a delimiter line', () => {
    const tricky = `x--${B}y\r\n-${B}\n--${B}`;
    const r = read(body(field('purpose', 'identity_document'), file(tricky), close));
    expect(r.files[0]!.data.toString('latin1')).toBe(tricky);
  });

  it.each([
    ['a quoted boundary', `multipart/form-data; boundary="${B}"`],
    ['upper-case media type and parameter name', `Multipart/Form-Data; BOUNDARY=${B}`],
    ['spaces around the parameter', `multipart/form-data ;  boundary=${B}`],
  ])('accepts %s', (_name, contentType) => {
    expect(read(body(field('purpose', 'x'), close), contentType).params).toEqual({ purpose: 'x' });
  });

  it('accepts a body without the final CRLF, a token name and a part with no field', () => {
    const r = read(
      body(`--${B}\r\nContent-Disposition: form-data; name=purpose\r\n\r\nbusiness_logo\r\n`, `--${B}--`),
    );
    expect(r).toEqual({ params: { purpose: 'business_logo' }, files: [] });
    expect(read(Buffer.from(`--${B}--\r\n`))).toEqual({ params: {}, files: [] });
  });

  it('keeps a field part that says text/plain; charset=utf-8', () => {
    const r = read(
      body(
        `--${B}\r\ncontent-disposition: form-data; name="purpose"\r\ncontent-type: text/plain; charset=UTF-8\r\n\r\nx\r\n`,
        close,
      ),
    );
    expect(r.params).toEqual({ purpose: 'x' });
  });
});

describe('what the reader refuses (body_invalid, never forwarded)', () => {
  it.each([
    ['no Content-Type', undefined],
    ['a form-encoded Content-Type', 'application/x-www-form-urlencoded'],
    ['no boundary', 'multipart/form-data'],
    ['two boundaries', `multipart/form-data; boundary=${B}; boundary=other`],
    ['a charset beside the boundary', `multipart/form-data; charset=utf-8; boundary=${B}`],
    ['an empty boundary', 'multipart/form-data; boundary=""'],
    ['a boundary of 71 characters', `multipart/form-data; boundary=${'b'.repeat(71)}`],
    ['a boundary ending in a space', 'multipart/form-data; boundary="abc "'],
    ['a boundary with a character RFC 2046 does not allow', 'multipart/form-data; boundary="a@b"'],
    ['an unquoted boundary that is not a token', 'multipart/form-data; boundary=a:b'],
    ['multipart/mixed', `multipart/mixed; boundary=${B}`],
    // Only spaces and tabs are HTTP whitespace: a vendor may not take these as multipart/form-data.
    ['a no-break space after the media type', `multipart/form-data\u00a0; boundary=${B}`],
    ['a no-break space before the media type', `\u00a0multipart/form-data; boundary=${B}`],
    ['a byte-order mark before the media type', `\ufeffmultipart/form-data; boundary=${B}`],
  ])('a Content-Type with %s', (_name, contentType) => {
    expect(multipartBoundary(contentType)).toMatchObject({ reason: 'body_invalid' });
  });

  const ok = field('purpose', 'x');
  it.each<[string, string | Buffer]>([
    ['a preamble', body('preamble\r\n', ok, close)],
    ['data after the closing boundary', body(ok, close, 'epilogue')],
    [
      'transport padding after a boundary',
      body(`--${B} \r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n`, close),
    ],
    ['no closing boundary', ok],
    ['a closing boundary not on its own line', body(ok.slice(0, -2), `--${B}--`)],
    [
      'a bare LF after a boundary',
      body(`--${B}\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n`, close),
    ],
    [
      'a bare LF inside the part headers',
      body(`--${B}\r\nContent-Disposition: form-data; name="a"\nX: y\r\n\r\nx\r\n`, close),
    ],
    ['a part without Content-Disposition', body(`--${B}\r\nContent-Type: text/plain\r\n\r\nx\r\n`, close)],
    [
      'a disposition that is not form-data',
      body(`--${B}\r\nContent-Disposition: attachment; name="a"\r\n\r\nx\r\n`, close),
    ],
    ['a part without a name', body(`--${B}\r\nContent-Disposition: form-data\r\n\r\nx\r\n`, close)],
    ['an empty name', body(`--${B}\r\nContent-Disposition: form-data; name=""\r\n\r\nx\r\n`, close)],
    [
      'a name given twice in one part',
      body(`--${B}\r\nContent-Disposition: form-data; name="a"; name="b"\r\n\r\nx\r\n`, close),
    ],
    [
      "an RFC 5987 filename* (RFC 7578 §4.2 says don't)",
      body(
        `--${B}\r\nContent-Disposition: form-data; name="file"; filename*=UTF-8''a.txt\r\n\r\nx\r\n`,
        close,
      ),
    ],
    [
      'a backslash in a quoted name',
      body(`--${B}\r\nContent-Disposition: form-data; name="a\\"b"\r\n\r\nx\r\n`, close),
    ],
    [
      'an unterminated quoted name',
      body(`--${B}\r\nContent-Disposition: form-data; name="a\r\n\r\nx\r\n`, close),
    ],
    ['a trailing semicolon', body(`--${B}\r\nContent-Disposition: form-data; name="a";\r\n\r\nx\r\n`, close)],
    [
      'two Content-Disposition headers',
      body(
        `--${B}\r\nContent-Disposition: form-data; name="a"\r\nContent-Disposition: form-data; name="b"\r\n\r\nx\r\n`,
        close,
      ),
    ],
    [
      'a Content-Transfer-Encoding',
      body(
        `--${B}\r\nContent-Disposition: form-data; name="a"\r\nContent-Transfer-Encoding: base64\r\n\r\neA==\r\n`,
        close,
      ),
    ],
    ['a folded header', body(`--${B}\r\nContent-Disposition: form-data;\r\n name="a"\r\n\r\nx\r\n`, close)],
    [
      'two Content-Type headers',
      body(
        `--${B}\r\nContent-Disposition: form-data; name="a"\r\nContent-Type: text/plain\r\nContent-Type: text/plain\r\n\r\nx\r\n`,
        close,
      ),
    ],
    [
      'a field that is not text/plain',
      body(
        `--${B}\r\nContent-Disposition: form-data; name="amount"\r\nContent-Type: application/json\r\n\r\n5\r\n`,
        close,
      ),
    ],
    [
      'a field in latin-1',
      body(`--${B}\r\nContent-Disposition: form-data; name="a"\r\n\r\n`, Buffer.from([0xe9]), '\r\n', close),
    ],
    ['a field starting with a byte-order mark', body(field('a', '\ufeffx'), close)],
    [
      'part headers that are not UTF-8',
      body(`--${B}\r\nContent-Disposition: form-data; name="`, Buffer.from([0xff]), '"\r\n\r\nx\r\n', close),
    ],
    [
      'part headers longer than the bound',
      body(
        `--${B}\r\nContent-Disposition: form-data; name="${'n'.repeat(MAX_PART_HEAD_BYTES)}"\r\n\r\nx\r\n`,
        close,
      ),
    ],
    ['a file in a field that takes none', body(file('x', 'purpose'), close)],
    ['the file without a filename', body(field('file', 'x'), close)],
    ['the file with an empty filename', body(file('x', 'file', ''), close)],
    ['two files', body(file('x'), file('y'), close)],
    ['a field named like the file beside it', body(file('x'), field('file[name]', 'y'), close)],
    ['a field given twice', body(field('purpose', 'a'), field('purpose', 'b'), close)],
    [
      'a field given twice, once as an object key',
      body(field('metadata[k]', 'a'), field('metadata[k]', 'b'), close),
    ],
    ['a method override', body(field('_method', 'DELETE'), close)],
    ['a malformed part Content-Type', body(file('x', 'file', 'a.txt', 'text'), close)],
    [
      'a no-break space after form-data',
      body(`--${B}\r\nContent-Disposition: form-data\u00a0; name="a"\r\n\r\nx\r\n`, close),
    ],
    [
      'a no-break space before form-data',
      body(`--${B}\r\nContent-Disposition:\u00a0form-data; name="a"\r\n\r\nx\r\n`, close),
    ],
    [
      'a field whose Content-Type ends in a no-break space',
      body(
        `--${B}\r\nContent-Disposition: form-data; name="a"\r\nContent-Type: text/plain\u00a0\r\n\r\nx\r\n`,
        close,
      ),
    ],
    [
      'a file whose Content-Type ends in a no-break space',
      body(file('x', 'file', 'a.txt', 'text/plain\u00a0'), close),
    ],
  ])('a body with %s', (_name, b) => {
    const r = parseMultipart(CT, Buffer.from(b), limits, spec);
    expect(isDenial(r) && r.reason).toBe('body_invalid');
    if (isDenial(r)) expect(r.message).toMatch(/\S/);
  });

  it('refuses more parts than the parameter limit', () => {
    const many = body(
      ...Array.from({ length: limits.maxParams + 1 }, (_, i) => field(`m[k${i}]`, 'x')),
      close,
    );
    expect(parseMultipart(CT, many, limits, spec)).toMatchObject({ reason: 'body_invalid' });
  });

  it('refuses a body over the size limit as body_too_large', () => {
    const big = body(field('purpose', 'x'), file(Buffer.alloc(limits.maxBytes)), close);
    expect(parseMultipart(CT, big, limits, spec)).toMatchObject({ reason: 'body_too_large' });
  });

  it('never quotes a field value in its message', () => {
    const secret = 'sk_live_do_not_echo';
    const r = parseMultipart(
      CT,
      body(field('purpose', secret), field('purpose', secret), close),
      limits,
      spec,
    );
    expect(isDenial(r) && r.message).not.toContain(secret);
  });
});

describe('Stripe uploads in the parse stage (parseStripe)', () => {
  const upload = (b: Buffer, contentType = CT, path = '/v1/files', query = '') =>
    parseStripe({ method: 'POST', path, query, headers: { 'content-type': contentType } }, b, limits);

  it('reads POST /v1/files as multipart: its fields are the parameters, the file is not one', () => {
    expect(upload(body(field('purpose', 'dispute_evidence'), file('receipt #42\n'), close))).toEqual({
      purpose: 'dispute_evidence',
    });
  });

  it('refuses a form-encoded upload: Stripe takes this operation only as multipart', () => {
    expect(
      upload(Buffer.from('purpose=dispute_evidence'), 'application/x-www-form-urlencoded'),
    ).toMatchObject({
      reason: 'body_invalid',
    });
  });

  it('refuses multipart everywhere else (other operations take form bodies)', () => {
    expect(upload(body(field('amount', '500'), close), CT, '/v1/charges')).toMatchObject({
      reason: 'body_invalid',
    });
  });

  it('refuses upload parameters in the query string', () => {
    expect(upload(body(field('purpose', 'x'), close), CT, '/v1/files', 'purpose=y')).toMatchObject({
      reason: 'body_invalid',
    });
  });

  it.each([
    ['file_link_data[create]=true', [['file_link_data[create]', 'true']]],
    ['file_link_data[create]=1', [['file_link_data[create]', '1']]],
    ['file_link_data without create', [['file_link_data[expires_at]', '1900000000']]],
    ['file_link_data as a scalar', [['file_link_data', 'true']]],
  ])('refuses an upload that creates a file link (%s) as credential_operation', (_name, pairs) => {
    const fields = pairs.map(([n, v]) => field(n!, v!));
    expect(upload(body(field('purpose', 'x'), ...fields, file('x'), close))).toMatchObject({
      reason: 'credential_operation',
    });
  });

  it('allows file_link_data[create]=false: no link is made', () => {
    expect(upload(body(field('file_link_data[create]', 'false'), file('x'), close))).toEqual({
      file_link_data: { create: 'false' },
    });
  });
});
