import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifests } from './load.ts';
import { parseManifestFile, parseWithReference } from './parse-yaml.ts';
import { utf16Problem, utf16Text } from './utf16.ts';

// Fifteenth round (probe newuser, finding 2): a manifest saved as UTF-16 was refused for a carriage
// return, or as "not a Kubernetes object", never for its encoding.
const MANIFEST = 'apiVersion: v1\r\nkind: Secret\r\nmetadata: { name: t, namespace: agents }\r\n';

/** The file's bytes in an encoding, as the loader's UTF-8 reading of them gives them back. */
function asRead(encoding: 'utf16le' | 'utf16be', bom: boolean, text = MANIFEST): string {
  let bytes = Buffer.from(text, 'utf16le');
  if (encoding === 'utf16be') bytes = Buffer.from(bytes).swap16();
  const mark = encoding === 'utf16le' ? [0xff, 0xfe] : [0xfe, 0xff];
  return Buffer.concat([Buffer.from(bom ? mark : []), bytes]).toString('utf8');
}

describe('a manifest saved as UTF-16', () => {
  it.each([
    ['little-endian with its byte order mark (Notepad)', asRead('utf16le', true)],
    ['little-endian without one', asRead('utf16le', false)],
    ['big-endian with its byte order mark', asRead('utf16be', true)],
    ['big-endian without one', asRead('utf16be', false)],
  ])('is refused whole, named for its encoding: %s', (_, text) => {
    const parsed = parseManifestFile(text, 'key.yaml');
    expect(parsed.documents).toEqual([]);
    expect(parsed.errors).toEqual([
      {
        source: 'key.yaml',
        index: 0,
        path: '',
        line: 1,
        message:
          'YAML error at line 1, column 1: the file is saved as UTF-16 (a NUL byte beside every letter): save it as UTF-8',
      },
    ]);
    // One meaning, two readers.
    expect(parseWithReference(text, 'key.yaml')).toEqual(parsed);
  });

  it.each([MANIFEST, `\uFEFF${MANIFEST}`, '{"apiVersion":"v1"}', 'a: 1', '', 'é: ü\n'])(
    'leaves UTF-8 text to the readers: %j',
    (text) => {
      expect(utf16Problem(text)).toBeUndefined();
    },
  );

  it('says so through the loader, which reads the file as UTF-8', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keybrake-utf16-'));
    try {
      await writeFile(
        join(dir, 'key.yaml'),
        Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(MANIFEST, 'utf16le')]),
      );
      const loaded = await loadManifests([dir]);
      expect(loaded.documents).toEqual([]);
      expect(loaded.errors.map((e) => e.message)).toEqual([
        'YAML error at line 1, column 1: the file is saved as UTF-16 (a NUL byte beside every letter): save it as UTF-8',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// Probe fixes15 finding 1: a file refused for its encoding is still read for what it names
// (broken-names.ts). Its ASCII text survives the loader's UTF-8 reading, in either byte order.
describe('the text of a file saved as UTF-16', () => {
  it.each([
    ['little-endian with its byte order mark', asRead('utf16le', true)],
    ['little-endian without one', asRead('utf16le', false)],
    ['big-endian with its byte order mark', asRead('utf16be', true)],
    ['big-endian without one', asRead('utf16be', false)],
  ])('is its ASCII text back: %s', (_, text) => {
    expect(utf16Text(text)).toBe(MANIFEST);
  });

  // Fifteenth round (probe fixes15b, finding 2): `上` (0x4E0A) read back as a line break and an `N`.
  it.each([
    ['a Latin letter', '# café\nname: bot\n'],
    ['a Japanese comment', '# 上限 200ドル\nmetadata: { name: bot, namespace: tenant-a }\n'],
  ])('is nothing when a character is not ASCII (%s): the reading is not the file', (_, body) => {
    expect(utf16Text(asRead('utf16le', true, body))).toBeUndefined();
    expect(utf16Text(asRead('utf16be', false, body))).toBeUndefined();
  });
});
