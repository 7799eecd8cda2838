import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseManifestFile, parseWithReference } from './parse-yaml.ts';

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
