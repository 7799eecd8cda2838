import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseManifestFile, parseWithReference } from './parse-yaml.ts';
import { readPlainYaml } from './plain-yaml.ts';

// One meaning, two readers (ADR 0015): whatever parseManifestFile returns must be exactly what the
// reference parser returns, documents and errors alike. The fast reader is only ever an optimisation.
const same = (text: string) =>
  expect(parseManifestFile(text, 'f.yaml')).toEqual(parseWithReference(text, 'f.yaml'));

const repo = join(import.meta.dirname, '../../..');

describe('parseManifestFile', () => {
  it('reads every YAML file of the repository as the reference parser does', () => {
    const files = execFileSync('git', ['ls-files', '*.yaml', '*.yml'], { cwd: repo, encoding: 'utf8' })
      .split('\n')
      .filter((f) => f !== '' && !f.includes('/templates/')); // Helm templates are not YAML yet
    expect(files.length).toBeGreaterThan(50);
    for (const f of files) same(readFileSync(join(repo, f), 'utf8'));
  });

  it.each([
    // Where the two readers disagree when both accept: each must take the reference path.
    ['a YAML 1.1 directive', '%YAML 1.1\n---\na: yes\n'],
    ['a null key', 'null: a\n'],
    ['a tilde key', '{~: d}\n'],
    ['an explicit tag', 'a: !!float 1\n'],
    ['a custom tag', 'a: !custom x\n'],
    ['an anchor and alias', 'a: &x 1\nb: *x\n'],
    ['a complex key', '? [a, b]\n: c\n'],
    ['a flow complex key', '[a, b]: c\n'],
    ['a timestamp tag', 'a: !!timestamp 2001-12-14\n'],
    // Scalars of the core schema the readers must resolve alike.
    ['numbers', 'a: [012, 0o17, 0x1F, 1e3, .inf, -.Inf, .nan, +12, 1., .5, -0, 1_000, 0b101, 00, 08]\n'],
    ['nulls and booleans', 'a: [~, Null, NULL, nULL, True, TRUE, yes, on, "", null]\n'],
    ['dates stay strings', 'a: 2001-12-14\nb: 2001-12-14T21:59:43.10-05:00\n'],
    // The fuzz found the fast path naming a JSON number past a float64 before a mid-file BOM.
    ['a JSON number past a float64, then a byte order mark', '{1e32001-12-14\ufeff'],
    ['big integers', 'a: 12345678901234567890\nb: 9007199254740993\n'],
    ['prototype keys', '__proto__: {x: 1}\nb: {__proto__: 1, constructor: 2}\n'],
    ['numeric and boolean keys', '1: a\ntrue: b\n1.5: c\n0x10: d\n'],
    ['block scalars', 'a: |\n  x\n  y\nb: >-\n  x\n\n  y\nc: |+\n  z\n\n'],
    ['escapes', "a: \"\\u00e9\\x41\\t\\/\\N\\_\"\nb: 'it''s'\n"],
    ['multi-line flow and plain scalars', 'a: "multi\n  line"\nb: plain\n  continued\n'],
    ['a byte order mark', '\ufeffa: 1\n'],
    ['comments', 'a: 1 # c\nb: 1#c\n# end\n'],
    ['document markers', 'a: 1\n...\n---\nb: 2\n---\n'],
    ['empty documents', '---\n---\n# only a comment\n'],
    ['an empty file', ''],
    ['keys with a hash, or a space before the colon', 'a#b: c\nd : e\nf: {g : h, i#j: k}\n'],
    ['a list of objects', 'apiVersion: v1\nkind: List\nitems:\n- {kind: Secret, stringData: {a: b}}\n'],
    // Errors: both must report the reference parser's message and line.
    ['a duplicate key', 'a: 1\na: 2\n'],
    ['a duplicate flow key', 'a:\n  - {b: 1, b: 2}\n'],
    ['an unclosed flow sequence', 'a: [1, 2\nb: 3\n'],
    ['a tab indentation', 'a:\n\tb: 1\n'],
    ['a mapping in a plain scalar', 'a: b: c\n'],
    ['an unclosed quote', 'a: "x\n'],
  ])('reads %s as the reference parser does', (_name, text) => {
    same(text);
  });

  it('refuses a file nested deeper than the stack with a YAML error, not a crash', () => {
    // Which reader overflows, and where, depends on the depth: yaml's parser catches its own
    // overflow (a syntax error), its conversion to objects does not (then our own message).
    for (const depth of [20_000, 50_000]) {
      for (const text of [`${'- '.repeat(depth)}x\n`, `a: ${'['.repeat(depth)}${']'.repeat(depth)}\n`]) {
        const { documents, errors } = parseManifestFile(text, 'deep.yaml');
        expect(documents).toEqual([]);
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatchObject({
          source: 'deep.yaml',
          index: 0,
          message: expect.stringMatching(/^YAML /),
        });
      }
    }
  });

  it('reads documents written every way the yaml package writes them as the reference parser does', () => {
    const key = fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.constantFrom('__proto__', 'null', '~', '1', 'true', '-', ':'),
    );
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.string({ maxLength: 12 }),
        fc.constantFrom(
          'yes',
          'no',
          'null',
          '~',
          '0x1F',
          '012',
          '1e3',
          '.inf',
          'true',
          '2001-12-14',
          '- a',
          'a: b',
          '#',
        ),
        fc.integer(),
        fc.double({ noNaN: true }),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('node'), { maxLength: 4 }),
        fc.dictionary(key, tie('node'), { maxKeys: 4 }),
      ),
    })).node;
    const options = fc.record({
      collectionStyle: fc.constantFrom('any', 'block', 'flow') as fc.Arbitrary<'any' | 'block' | 'flow'>,
      defaultStringType: fc.constantFrom(
        'PLAIN',
        'QUOTE_DOUBLE',
        'QUOTE_SINGLE',
        'BLOCK_LITERAL',
        'BLOCK_FOLDED',
      ) as fc.Arbitrary<'PLAIN' | 'QUOTE_DOUBLE' | 'QUOTE_SINGLE' | 'BLOCK_LITERAL' | 'BLOCK_FOLDED'>,
      indent: fc.integer({ min: 1, max: 4 }),
    });
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 3 }), options, (docs, opts) => {
        same(docs.map((d) => stringify(d, opts)).join('---\n'));
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 2000) },
    );
  });

  it('reads manifest-shaped documents, written every way by hand, as the reference parser does', () => {
    fc.assert(
      fc.property(manifestShaped, (text) => {
        same(text);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 5000) },
    );
  });

  it('is fast because the plain reader reads most such documents itself', () => {
    // A guard on the fuzzer above as much as on the reader: if the reader gave up on everything, the
    // fuzzer would compare the reference with itself.
    const texts = fc.sample(manifestShaped, { numRuns: 2000, seed: 1 });
    const read = texts.filter((text) => readPlainYaml(text) !== undefined).length;
    expect(read / texts.length).toBeGreaterThan(0.3);
    for (const f of [
      'examples/quickstart/spend-policy.yaml',
      'examples/kubernetes/30-vault-keys.yaml',
      'test/fixtures/compiler/valid-stripe-key.in.yaml',
    ])
      expect(readPlainYaml(readFileSync(join(repo, f), 'utf8'))).toBeDefined();
  });

  it('reads text made of YAML fragments as the reference parser does, errors included', () => {
    const fragment = fc.constantFrom(
      'a',
      'b',
      ':',
      ': ',
      ' ',
      '  ',
      '\n',
      '\n  ',
      '- ',
      '"',
      "'",
      '[',
      ']',
      '{',
      '}',
      ', ',
      '#',
      '\t',
      '|',
      '>',
      '-',
      '!',
      '!!str ',
      '&x ',
      '*x',
      '? ',
      '%YAML 1.1\n',
      '---\n',
      '...\n',
      '~',
      'null',
      'Null',
      'true',
      'yes',
      '0x1F',
      '012',
      '1e3',
      '.inf',
      '2001-12-14',
      '\\',
      '\\n',
      '__proto__',
      '<<',
      '=',
      '@',
      '`',
      '\r\n',
      '\ufeff',
    );
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 30 }), (parts) => {
        same(parts.join(''));
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 5000) },
    );
  });
});

/** A document tree, and how it is written: block or one-line flow, sequences compact or indented. */
type Shape =
  | { readonly scalar: string }
  | { readonly seq: readonly Shape[]; readonly flow: boolean; readonly compact: boolean }
  | { readonly map: readonly (readonly [string, Shape])[]; readonly flow: boolean };

// Scalars written raw whatever they hold (yaml would quote most of these), among the ordinary ones
// that manifests hold; keys of every kind.
const scalarText = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.oneof(
      fc.stringMatching(/^[a-z][a-z0-9_./-]{0,8}$/),
      fc.integer().map(String),
      fc.stringMatching(/^[a-z ]{0,6}$/).map((t) => `"${t}"`),
    ),
  },
  fc.constantFrom(
    'a',
    'b c',
    '-1',
    '--x',
    '1.5',
    '0x1F',
    '012',
    '.nan',
    '-.inf',
    'null',
    'Null',
    'True',
    'no',
    '~',
    'a #c',
    'a#c',
    'a:b',
    'a: b',
    "'q''s'",
    '"d q"',
    '"x" y',
    "'a' b",
    '"\\n"',
    '[a, "b", 1]',
    '{a: 1, "b": [x]}',
    '{a: http://x}',
    '[a, ]',
    '{a}',
    '[a',
    '?x',
    ':x',
    '- a',
    '@x',
    '!x',
    '&x',
    '*x',
    '|',
    '>-',
    '2001-12-14',
    'POST /v1/**',
  ),
  fc.string({
    // With spaces YAML does not cut off a plain scalar (no-break, ideographic): go-yaml v2 neither.
    unit: fc.constantFrom(
      'a',
      ' ',
      '-',
      ':',
      '#',
      ',',
      '[',
      ']',
      '{',
      '}',
      '"',
      "'",
      '1',
      '.',
      'e',
      '\u00a0',
      '\u3000',
    ),
    maxLength: 6,
  }),
);
const keyText = fc.constantFrom(
  'a',
  'b',
  'kind',
  '"q"',
  "'s'",
  '"a b"',
  'a b',
  '1',
  'null',
  'true',
  'a:b',
  '-k',
  '__proto__',
  '"__proto__"',
  'x.y/z',
  '"b"',
  '?k',
  '""',
);
const shape: fc.Arbitrary<Shape> = fc.letrec<{ node: Shape }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small' },
    scalarText.map((scalar): Shape => ({ scalar })),
    fc.record({ seq: fc.array(tie('node'), { maxLength: 3 }), flow: fc.boolean(), compact: fc.boolean() }),
    fc.record({ map: fc.array(fc.tuple(keyText, tie('node')), { maxLength: 4 }), flow: fc.boolean() }),
  ),
})).node;

function flowText(s: Shape): string {
  if ('scalar' in s) return s.scalar;
  if ('seq' in s) return `[${s.seq.map(flowText).join(', ')}]`;
  return `{${s.map.map(([k, v]) => `${k}: ${flowText(v)}`).join(', ')}}`;
}

const isBlock = (s: Shape): boolean =>
  !('scalar' in s) && !s.flow && ('seq' in s ? s.seq.length : s.map.length) > 0;

function blockLines(s: Shape, indent: number, step: number): string[] {
  const pad = ' '.repeat(indent);
  if (!isBlock(s)) return [pad + flowText(s)];
  const lines: string[] = [];
  if ('map' in s) {
    for (const [k, v] of s.map) {
      if (!isBlock(v)) lines.push(`${pad}${k}: ${flowText(v)}`);
      else
        lines.push(`${pad}${k}:`, ...blockLines(v, 'seq' in v && v.compact ? indent : indent + step, step));
    }
  } else if ('seq' in s) {
    for (const item of s.seq) {
      if (!isBlock(item)) lines.push(`${pad}- ${flowText(item)}`);
      else if ('map' in item) {
        const inner = blockLines(item, indent + 2, step);
        lines.push(`${pad}- ${inner[0]!.slice(indent + 2)}`, ...inner.slice(1));
      } else lines.push(`${pad}-`, ...blockLines(item, indent + step, step));
    }
  }
  return lines;
}

const manifestShaped = fc
  .tuple(
    fc.array(shape, { minLength: 1, maxLength: 3 }),
    fc.integer({ min: 1, max: 4 }),
    fc.array(fc.tuple(fc.nat(), fc.constantFrom('# c', '', '   # c', 'indent', 'outdent')), { maxLength: 2 }),
  )
  .map(([docs, step, noise]) => {
    const lines = docs.flatMap((doc, i) => [...(i > 0 ? ['---'] : []), ...blockLines(doc, 0, step)]);
    for (const [at, what] of noise) {
      const i = at % (lines.length + 1);
      if (what === 'indent' && i < lines.length) lines[i] = ` ${lines[i]}`;
      else if (what === 'outdent' && i < lines.length) lines[i] = lines[i]!.replace(/^ /, '');
      else if (what !== 'indent' && what !== 'outdent') lines.splice(i, 0, what);
    }
    return `${lines.join('\n')}\n`;
  });
