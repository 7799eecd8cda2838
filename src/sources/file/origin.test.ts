import { describe, expect, it } from 'vitest';
import type { DocumentError } from '../../api/resource-set.ts';
import type { Verdict } from '../../api/validate.ts';
import { manifestOrigin } from './origin.ts';

const error = (source: string): DocumentError => ({ source, index: 0, path: '', message: 'x' });

describe('manifestOrigin failed', () => {
  it.each([
    ['a file with a document error', ['keys/a.yaml'], [], 'keys/a.yaml', true],
    ['another file than the one with an error', ['keys/a.yaml'], [], 'keys/b.yaml', false],
    ['a file under a directory that could not be listed', ['./keys'], [], 'keys/team/a.yaml', true],
    ['a file under a directory of a longer name', ['keys'], [], 'keys2/a.yaml', false],
    ['a file given by name that is gone', ['keys/a.yaml'], ['keys/a.yaml'], 'keys/a.yaml', false],
  ])('%s', (_, errors, missing, file, failed) => {
    const origin = manifestOrigin([], errors.map(error), new Set(missing));
    expect(origin.failed(file)).toBe(failed);
  });
});

describe('manifestOrigin failed, for a name defined twice', () => {
  // Tenth round: the duplicate error `assemble` files under the later file held that file at its last
  // good version, so a key deleted from it stayed served when another file reused one of its names.
  const caps = (source: string, index: number) =>
    ({
      type: 'resource',
      kind: 'SpendPolicy',
      value: { metadata: { name: 'caps', namespace: 'agents' } },
      source,
      index,
    }) as unknown as Verdict;
  const duplicate: DocumentError = {
    source: 'team-b.yaml',
    index: 0,
    kind: 'SpendPolicy',
    namespace: 'agents',
    name: 'caps',
    path: 'metadata.name',
    message: 'duplicate SpendPolicy: also defined in a-team.yaml document 1',
  };

  it('is not an error of the file it is filed under', () => {
    const origin = manifestOrigin(
      [[caps('a-team.yaml', 0)], [caps('team-b.yaml', 0)]],
      [duplicate],
      new Set(),
    );
    expect(origin.failed('team-b.yaml')).toBe(false);
    expect(origin.failed('a-team.yaml')).toBe(false);
  });

  it('beside an error of its own, the file is read with an error', () => {
    const own: DocumentError = { source: 'team-b.yaml', index: 1, path: '', message: 'YAML syntax error' };
    const origin = manifestOrigin(
      [[caps('a-team.yaml', 0)], [caps('team-b.yaml', 0)]],
      [duplicate, own],
      new Set(),
    );
    expect(origin.failed('team-b.yaml')).toBe(true);
  });

  it('at a document that is not a resource of that name, it counts', () => {
    const origin = manifestOrigin([[caps('a-team.yaml', 0)]], [duplicate], new Set());
    expect(origin.failed('team-b.yaml')).toBe(true);
  });
});
