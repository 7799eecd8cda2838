import { describe, expect, it } from 'vitest';
import { parseManifestFile, parseWithReference } from './parse-yaml.ts';

// What a document that cannot be read, or a file refused whole, still names of itself (fifteenth
// round, probe fixes15 findings 1, 3 and 6): the keys a refused change takes out, the policy expiries
// it applies. The file's documents and errors are never changed by it.

const key = (name = 'bot', extra = '') => `apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: ${name}, namespace: agents }
spec:
  vendor: stripe
${extra}`;
const policy = (extra = '') => `apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata:
  name: cap
spec:
  vendor: stripe
${extra}`;
const BOT = { kind: 'VaultKey', name: 'bot', namespace: 'agents' };

/** The bytes of `text` saved as UTF-16, as the loader's UTF-8 reading gives them back. */
function asUtf16(text: string, order: 'le' | 'be', bom: boolean): string {
  const bytes = Buffer.from(text.replaceAll('\n', '\r\n'), 'utf16le');
  if (order === 'be') bytes.swap16();
  const mark = order === 'le' ? [0xff, 0xfe] : [0xfe, 0xff];
  return Buffer.concat([Buffer.from(bom ? mark : []), bytes]).toString('utf8');
}

describe('a file refused whole', () => {
  it.each([
    ['UTF-16LE with its BOM', asUtf16(key('bot', '  suspended: true\n'), 'le', true)],
    ['UTF-16BE without one', asUtf16(key('bot', '  suspended: true\n'), 'be', false)],
    ['lone CR line endings', key().replaceAll('\n', '\r')],
    ['NEL line endings', key().replaceAll('\n', '\x85')],
    ['LINE SEPARATOR line endings', key().replaceAll('\n', '\u2028')],
    ['a `...` end marker', `${key()}...\n`],
    ['a `%YAML` directive', `%YAML 1.1\n---\n${key()}`],
    ['a BOM mid-file', `a: 1\n---\n\uFEFF${key()}`],
    [
      'a JSON number beyond a float64',
      `{"apiVersion":"keybrake.dev/v1alpha1","kind":"VaultKey","metadata":{"name":"bot","namespace":"agents"},"spec":{"n":1e400}}`,
    ],
  ])('names its VaultKey, and stays refused whole with its error (%s)', (_, text) => {
    const parsed = parseManifestFile(text, 'key.yaml');
    expect(parsed.documents).toEqual([]);
    expect(parsed.errors).toEqual([expect.objectContaining({ source: 'key.yaml', index: 0, path: '' })]);
    expect(parsed.errors[0]!.message).toMatch(/^YAML error at line \d+, column \d+: /);
    expect(parsed.broken).toEqual([BOT]);
    expect(parseWithReference(text, 'key.yaml')).toEqual(parsed);
  });

  // Fifteenth round (probe fixes15b, findings 1 and 2): what cannot be read as the file says, and
  // what is too big to read, names nothing (held back, as before c90843f).
  it.each([
    [
      'UTF-16 with a character that is not ASCII',
      asUtf16(`# 上限 200ドル\n${key('bot', '  suspended: true\n')}`, 'le', true),
    ],
    [
      'a namespace given by a merge key',
      `base: &b { namespace: other }\n${key()}`.replace(
        'metadata: { name: bot, namespace: agents }',
        'metadata: { <<: *b, name: bot }',
      ) + '\r',
    ],
    ['a merge key at the top', `${key()}<<: { kind: VaultKey }\n\r`],
    ['more than 1 MiB of text', `${key()}${'# padding\n'.repeat(110_000)}\r`],
  ])('names nothing: %s', (_, text) => {
    const parsed = parseManifestFile(text, 'key.yaml');
    expect(parsed.errors).toHaveLength(1);
    expect(parsed.broken).toBeUndefined();
  });

  it('names every key and every policy with a valid expiry it holds, once each', () => {
    const text = `${key('one')}---\n${key('two')}---\n${policy('  expiresAt: "2030-01-01T00:00:00Z"\n')}---\n${policy().replace('cap', 'other')}\r`;
    expect(parseManifestFile(text, 'f.yaml').broken).toEqual([
      { kind: 'VaultKey', name: 'one', namespace: 'agents' },
      { kind: 'VaultKey', name: 'two', namespace: 'agents' },
      { kind: 'SpendPolicy', name: 'cap', expiresAt: '2030-01-01T00:00:00Z' },
    ]);
  });

  it('names nothing that is not a VaultKey or SpendPolicy of keybrake.dev, or a v1 Secret', () => {
    const text = `${key().replace('keybrake.dev/v1alpha1', 'keybrake.dev/v1')}---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: bot }\n\r`;
    const parsed = parseManifestFile(text, 'f.yaml');
    expect(parsed.errors).toHaveLength(1);
    expect(parsed.broken).toBeUndefined();
  });

  // Fifteenth round (probe fixes15b, finding 3): a rotation written in a broken Secret file was held.
  it('names a v1 Secret, whose keys a refused change takes out', () => {
    const text = `apiVersion: v1\nkind: Secret\nmetadata: { name: bot-token, namespace: agents }\nstringData: { token: x }\n\r`;
    expect(parseManifestFile(text, 'f.yaml').broken).toEqual([
      { kind: 'Secret', name: 'bot-token', namespace: 'agents' },
    ]);
  });
});

describe('a document with a YAML error', () => {
  it('names the items of a broken `kind: List`, nested ones too', () => {
    const item = (name: string) =>
      `${key(name, '  suspended: false\n  suspended: true\n')
        .split('\n')
        .filter(Boolean)
        .map((l, i) => (i === 0 ? `- ${l}` : `  ${l}`))
        .join('\n')}\n`;
    const text = `apiVersion: v1\nkind: List\nitems:\n${item('bot')}- apiVersion: v1\n  kind: List\n  items: [{ apiVersion: keybrake.dev/v1alpha1, kind: VaultKey, metadata: { name: inner } }]\n`;
    const parsed = parseManifestFile(text, 'list.yaml');
    expect(parsed.errors.map((e) => e.message)).toEqual([expect.stringMatching(/^YAML syntax error/)]);
    expect(parsed.broken).toEqual([BOT, { kind: 'VaultKey', name: 'inner' }]);
  });

  it.each([
    ['a second key appended without `---`', `${key('bot')}${key('bot2')}`],
    ['metadata written twice', `${key('bot')}metadata: { name: bot2 }\n`],
    ['kind written twice', `${key('bot', '  x: 1\n  x: 2\n')}kind: VaultKey\n`],
    [
      'a name written twice',
      key('bot', '  x: 1\n  x: 2\n').replace('{ name: bot,', '{ name: bot, name: bot2,'),
    ],
    [
      'a namespace written twice',
      key('bot', '  x: 1\n  x: 2\n').replace('namespace: agents', 'namespace: agents, namespace: b'),
    ],
  ])('names nothing when it names more than one object (%s)', (_, text) => {
    const parsed = parseManifestFile(text, 'key.yaml');
    expect(parsed.errors).toHaveLength(1);
    expect(parsed.broken).toBeUndefined();
  });

  it.each([
    [
      'an earlier second line',
      '  expiresAt: "2099-01-01T00:00:00Z"\n  expiresAt: "2020-01-01T00:00:00Z"\n',
      '2020-01-01T00:00:00Z',
    ],
    [
      'an earlier first line',
      '  expiresAt: "2020-01-01T00:00:00+02:00"\n  expiresAt: "2099-01-01T00:00:00Z"\n',
      '2020-01-01T00:00:00+02:00',
    ],
    [
      'an invalid one beside it',
      '  expiresAt: "2020-01-01"\n  expiresAt: "2031-01-01T00:00:00Z"\n',
      '2031-01-01T00:00:00Z',
    ],
    [
      'a tab-indented line beside it',
      '  expiresAt: 2030-01-01T00:00:00Z\n\tnote: x\n',
      '2030-01-01T00:00:00Z',
    ],
  ])('names a SpendPolicy with the earliest valid expiry it writes (%s)', (_, extra, at) => {
    expect(parseManifestFile(policy(extra), 'p.yaml').broken).toEqual([
      { kind: 'SpendPolicy', name: 'cap', expiresAt: at },
    ]);
  });

  it.each([
    ['no expiry', '  vendor: stripe\n'],
    ['only invalid ones', '  expiresAt: "2020-01-01"\n  expiresAt: soon\n'],
    ['one outside its spec', '  x: 1\n  x: 2\nstatus: { expiresAt: "2020-01-01T00:00:00Z" }\n'],
  ])('names no SpendPolicy without a valid expiry (%s)', (_, extra) => {
    const parsed = parseManifestFile(policy(extra), 'p.yaml');
    expect(parsed.errors.length).toBeGreaterThan(0);
    expect(parsed.broken).toBeUndefined();
  });

  it('leaves a file without errors as it was', () => {
    expect(parseManifestFile(key(), 'key.yaml')).not.toHaveProperty('broken');
    expect(parseWithReference(key(), 'key.yaml')).not.toHaveProperty('broken');
  });
});
