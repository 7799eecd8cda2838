import { describe, expect, it } from 'vitest';
import { parseManifestFile } from './parse-yaml.ts';

// Seventh round: a key given twice said only "Map keys must be unique", where kubectl would have taken
// the last: the error says what to write instead.
describe('YAML syntax errors serve refuses where kubectl reads on', () => {
  it('says to remove one of two equal keys, and that kubectl would take the last', () => {
    const { documents, errors } = parseManifestFile(
      'apiVersion: v1\nkind: Secret\nmetadata: { name: s }\nstringData:\n  apiKey: a\n  apiKey: b\n',
      'f.yaml',
    );
    expect(documents).toEqual([]);
    expect(errors).toEqual([
      expect.objectContaining({
        line: 6,
        message:
          'YAML syntax error at line 6, column 3: Map keys must be unique: remove one of the two (kubectl would silently take the last; serve does not guess)',
      }),
    ]);
  });

  it('leaves other syntax errors as the yaml package words them', () => {
    const { errors } = parseManifestFile('a:\n\tb: 1\n', 'f.yaml');
    expect(errors.map((e) => e.message)).toEqual([
      'YAML syntax error at line 2, column 1: Tabs are not allowed as indentation',
    ]);
  });
});
