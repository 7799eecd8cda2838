import { describe, expect, it } from 'vitest';
import { kubectlLineProblem } from './kubectl-lines.ts';

// What kubectl would cut into lines or documents otherwise than YAML 1.2 is found, at its line and
// column, with what to do (kubectl-reading.test.ts compares the readers with kubectl itself).

describe('kubectlLineProblem', () => {
  it.each([
    [
      'a lone CR',
      'a: 1\nb: 2 # off\r  c: 3\n',
      2,
      11,
      /carriage return \(U\+000D\).*LF or CRLF line endings/,
    ],
    ['a NEL', 'a: 1 #\u0085b: 2\n', 1, 7, /NEL \(U\+0085\).*LF or CRLF line endings.*\\N/],
    ['a LINE SEPARATOR', 'x: [a, # c\u2028 b]\n', 1, 11, /LINE SEPARATOR \(U\+2028\).*\\L/],
    ['a PARAGRAPH SEPARATOR', 'a: b\n\nc: d\u2029e\n', 3, 5, /PARAGRAPH SEPARATOR \(U\+2029\).*\\P/],
    ['a BOM after the start', 'a: 1\n\ufeff---\nb: 2\n', 2, 1, /byte order mark \(U\+FEFF\)/],
    ['a CR before CRLF', 'a: 1\r\r\n', 1, 5, /carriage return/],
    ['content after ---', 'a: 1\n--- b: 2\n', 2, 1, /`---` with more than spaces and a ` # comment`/],
    ['a comment without a space after ---', 'a: 1\n---#c\nb: 2\n', 2, 1, /`---` with more/],
    ['----', 'a: 1\n----\n', 2, 1, /`---` with more/],
    ['--- and a no-break space', 'a: 1\n---\u00a0\nb: 2\n', 2, 1, /`---` with more/],
    ['a ... end marker', 'a: 1\n...\nb: 2\n', 2, 1, /`\.\.\.` document end marker/],
    ['... and a comment', 'a: 1\n... # c\n', 2, 1, /`\.\.\.` document end marker/],
    ['a directive', '%YAML 1.1\n---\na: 1\n', 1, 1, /YAML directive/],
  ])('refuses %s at its line and column', (_name, text, line, column, message) => {
    expect(kubectlLineProblem(text)).toEqual({ line, column, message: expect.stringMatching(message) });
  });

  it('refuses a byte order mark anywhere (parse-yaml.ts drops the one a file may start with)', () => {
    expect(kubectlLineProblem('\ufeffa: 1\n')).toMatchObject({ line: 1, column: 1 });
  });

  it('reports the first problem of the file', () => {
    expect(kubectlLineProblem('a: 1\n...\nb: 2\r\n--- x\n')).toMatchObject({ line: 2 });
    expect(kubectlLineProblem('a: 1\nb: \u2028\n...\n')).toMatchObject({ line: 2, column: 4 });
  });

  it.each([
    ['LF', 'a: 1\n---\nb: 2\n'],
    ['CRLF', 'a: 1\r\n---\r\nb: 2\r\n'],
    ['--- then spaces, tabs and a comment', 'a: 1\n---  \n---\t# c\n--- # c\nb: 2\n'],
    ['markers that are not at the start of a line', 'a: "x --- y ... z"\n  # ---x\n  ...\n  %x\n'],
    ['scalars starting with dots or dashes', '...x: 1\n-- a\n'],
    ['no line end at the end', 'a: 1\n---'],
    ['an empty file', ''],
  ])('accepts %s', (_name, text) => {
    expect(kubectlLineProblem(text)).toBeUndefined();
  });
});
