import { describe, expect, it } from 'vitest';
import type { DocumentError } from '../../api/resource-set.ts';
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
