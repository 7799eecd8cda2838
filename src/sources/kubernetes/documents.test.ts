import { describe, expect, it } from 'vitest';
import { slim, toRawDocument } from './documents.ts';
import { terminating } from './reflector.ts';

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

describe('slim', () => {
  // The reflector drops an object marked for deletion: the mark must survive the slimming.
  it.each(['VaultKey', 'Secret'] as const)('keeps the deletion mark of a %s', (kind) => {
    const o = {
      metadata: {
        name: 'k',
        namespace: 'agents',
        deletionTimestamp: '2026-11-30T12:00:00Z',
        finalizers: ['x/y'],
      },
    };
    expect(terminating(slim(kind, o))).toBe(true);
    expect(terminating(slim(kind, { metadata: { name: 'k', namespace: 'agents' } }))).toBe(false);
  });

  // Of keys naming one token Secret nobody owns, the earliest created holds it (ADR 0009).
  it("keeps a VaultKey's creationTimestamp, not a Secret's", () => {
    const metadata = { name: 'k', namespace: 'agents', creationTimestamp: '2026-11-30T10:00:00Z' };
    expect(slim('VaultKey', { metadata }).metadata?.['creationTimestamp']).toBe('2026-11-30T10:00:00Z');
    expect(slim('Secret', { metadata }).metadata).not.toHaveProperty('creationTimestamp');
  });
});
