import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDocumentError } from '../../api/resource-set.ts';
import { validate } from '../../api/validate.ts';
import { parseManifestFile } from './parse-yaml.ts';

// What serve logs and policy-check prints of a manifest file: every error line, formatted. A
// Secret's values must never be in them (docs/resources.md). A hand-written vault token may be any
// 24+ printable characters, so it may start with `*`, and written unquoted it is a YAML alias whose
// name is the secret: the tenth round's probe found it quoted whole ("the alias *SECRET… names no
// anchor before it").
const CANARY = 'CANARYsecretValue9f8e7d6c5b4a';

function printed(text: string): string {
  const parsed = parseManifestFile(text, 'secret.yaml');
  const { errors } = validate(parsed.documents);
  return [...parsed.errors, ...errors].map(formatDocumentError).join('\n');
}

const secret = (body: string) =>
  `apiVersion: v1\nkind: Secret\nmetadata:\n  name: stripe-live\n  namespace: agents\n${body}`;

describe('a Secret value read as YAML syntax', () => {
  it.each([
    ['stringData, unquoted', `stringData:\n  apiKey: *${CANARY}\n`],
    ['data, unquoted', `data:\n  apiKey: *${CANARY}\n`],
    ['in a flow mapping', `stringData: {apiKey: *${CANARY}}\n`],
    ['in a list', `stringData:\n  apiKey:\n    - *${CANARY}\n`],
    ['as a key', `stringData:\n  *${CANARY} : x\n`],
    ['anchored and named inside itself', `stringData:\n  apiKey: &${CANARY} [*${CANARY}]\n`],
    // The same class: the yaml package's own messages, and our tag refusals, quoted the text.
    ['a block scalar header', `stringData:\n  apiKey: |${CANARY}\n`],
    ['a folded block scalar header', `stringData:\n  apiKey: >-${CANARY}\n`],
    ['a tag of the YAML namespace', `stringData:\n  apiKey: !!${CANARY}\n`],
    ['a tag with an unknown handle', `stringData:\n  apiKey: !a!${CANARY} x\n`],
    ['a tag on a mapping', `stringData: !!${CANARY}\n  apiKey: x\n`],
    ['a value typed by its tag', `stringData:\n  apiKey: !!int ${CANARY}\n`],
    ['a bad escape', `stringData:\n  apiKey: "\\q${CANARY}"\n`],
  ])('%s: the file is refused, naming the field, never the value', (_, body) => {
    const out = printed(secret(body));
    expect(out).not.toBe('');
    expect(out).not.toContain(CANARY);
    expect(out).not.toContain(CANARY.slice(0, 12));
  });

  it('a value starting with *, |, > or !! refuses the file without showing it', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('*', '|', '>', '!!', '!x!'),
        fc.stringMatching(/^[A-Za-z0-9_.~-]{24,40}$/),
        (lead, token) => {
          const out = printed(secret(`stringData:\n  token: ${lead}${token}\n`));
          expect(out).not.toBe('');
          expect(out).not.toContain(token);
        },
      ),
    );
  });
});
