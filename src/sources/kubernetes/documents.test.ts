import { describe, expect, it } from 'vitest';
import { toRawDocument } from './documents.ts';

describe('toRawDocument', () => {
  const object = () => ({ apiVersion: 'v1', kind: 'Secret', metadata: { namespace: 'agents', name: 'tok' } });

  it('names the document after the object, and makes it once per object', () => {
    const o = object();
    const first = toRawDocument('Secret', o);
    expect(first).toEqual({ source: 'kubernetes:Secret/agents/tok', index: 0, doc: o });
    expect(toRawDocument('Secret', o)).toBe(first);
  });

  it('makes a new document for a replaced object (the informer replaces what changed)', () => {
    const before = object();
    const after = { ...object(), metadata: { namespace: 'agents', name: 'tok2' } };
    toRawDocument('Secret', before);
    expect(toRawDocument('Secret', after)).toEqual({
      source: 'kubernetes:Secret/agents/tok2',
      index: 0,
      doc: after,
    });
  });

  it('names the kind it was asked for', () => {
    const o = object();
    toRawDocument('Secret', o);
    expect(toRawDocument('VaultKey', o).source).toBe('kubernetes:VaultKey/agents/tok');
  });

  it('leaves the object as it was to JSON', () => {
    const o = object();
    toRawDocument('Secret', o);
    expect(JSON.parse(JSON.stringify(o))).toEqual(object());
  });
});
