import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { readPlainYaml } from './plain-yaml.ts';

// What the documents read from a file keep alive: `serve`'s compile thread holds the documents of
// every file (ADR 0018), so anything they drag along is held for 100 000 keys at once.

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap bytes still in use once `make`'s text is dropped and only what it returned is kept. */
function retainedBytes(make: () => unknown): number {
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept = make();
  gc();
  gc();
  const retained = process.memoryUsage().heapUsed - before;
  expect(kept).toBeDefined(); // `kept` stays alive to here
  return retained;
}

const MiB = 2 ** 20;

/** `count` VaultKey-like documents, each with a long comment the documents never hold. */
function manifest(count: number, comment: number): string {
  let text = '';
  for (let i = 0; i < count; i++) {
    text += `---
# ${'c'.repeat(comment)}
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: key-number-${i}, namespace: a-namespace-of-keys }
spec:
  tokenSecretRef: { name: key-number-${i}-token, key: token }
  note: "a quoted value that every document repeats"
`;
  }
  return text;
}

describe('readPlainYaml', () => {
  // Each test reads two texts that differ only in what the documents should not hold, so the
  // documents' own memory cancels out.

  it("returns values that are not views of the file's text", () => {
    // 2 000 documents; the second text has 8 MB more of comments. A value cut out of the text (as
    // V8 cuts strings of 13 characters or more) would keep all of it.
    const plain = retainedBytes(() => readPlainYaml(manifest(2_000, 0)));
    const commented = retainedBytes(() => readPlainYaml(manifest(2_000, 4_000)));
    expect(commented - plain).toBeLessThan(1 * MiB);
  });

  it('holds a value every document repeats once, not once per document', () => {
    // The second text's repeated value is 4 000 characters longer: 8 MB more, held once per document.
    const longer = (text: string) =>
      text.replaceAll('every document repeats', `every document repeats ${'x'.repeat(4_000)}`);
    const short = retainedBytes(() => readPlainYaml(manifest(2_000, 0)));
    const long = retainedBytes(() => readPlainYaml(longer(manifest(2_000, 0))));
    expect(long - short).toBeLessThan(1 * MiB);
  });

  it('reads the same values as the reference parser', () => {
    const text = manifest(50, 20);
    expect(readPlainYaml(text)).toEqual(parseAllDocuments(text).map((d) => d.toJS()));
  });
});
