import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { InformerState } from '../sources/kubernetes/source.ts';
import {
  INFORMER_GRACE_MS,
  informerLagSeconds,
  informerProblems,
  registerInformerLag,
} from './informer-health.ts';

const NOW = 100_000;
const current: InformerState = { informer: 'Secret (all namespaces)', current: true };
const refused: InformerState = {
  informer: 'VaultKey (all namespaces)',
  current: false,
  since: NOW - 44_000,
  error: '403: Forbidden',
};

describe('informer health', () => {
  it('names an informer not current past the grace, with why, and none within it', () => {
    expect(informerProblems([current, refused], NOW)).toEqual([
      expect.stringMatching(
        /^informer VaultKey \(all namespaces\) has not been current for 44 s \(403: Forbidden\)/,
      ),
    ]);
    const restarting = { ...refused, since: NOW - INFORMER_GRACE_MS };
    expect(informerProblems([current, restarting], NOW)).toEqual([]);
  });

  it('leaves an informer that never listed to the start-up check', () => {
    expect(informerProblems([{ informer: 'x', current: false, since: undefined }], NOW)).toEqual([]);
    expect(informerLagSeconds({ informer: 'x', current: false, since: undefined }, NOW)).toBeUndefined();
  });

  it('exports seconds since each informer was last current, 0 while current', async () => {
    const registry = new Registry();
    registerInformerLag(
      registry,
      () => [current, refused],
      () => NOW,
    );
    const text = await registry.metrics();
    expect(text).toContain('keybrake_operator_informer_lag_seconds{informer="Secret (all namespaces)"} 0');
    expect(text).toContain('keybrake_operator_informer_lag_seconds{informer="VaultKey (all namespaces)"} 44');
  });
});
