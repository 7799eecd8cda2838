// KEYBRAKE_LOG_LEVEL, the operational log's level, is checked as a flag is: a bad value exits 2
// naming the variable and the levels, before anything starts (sixteenth round: pino threw on it and
// `serve` exited 1 with "default level:verbose must be included in custom levels"). Every test spawns
// the real `node cmd/keybrake.ts`.
import { describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import { manifestDir, runKeybrake, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const EXPECTED = 'expected one of fatal, error, warn, info, debug, trace, silent';

describe.concurrent('KEYBRAKE_LOG_LEVEL', () => {
  it.each([
    ['serve', ['serve', '--manifests', 'examples/quickstart']],
    // proxy and operator exit on it before reading their own flags, which they are not given here.
    ['proxy', ['proxy']],
    ['operator', ['operator']],
  ])('a bad value makes %s exit 2 naming the variable and the levels', async (command, args) => {
    const r = await runKeybrake(args, { env: { KEYBRAKE_LOG_LEVEL: 'verbose' } });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`keybrake ${command}: KEYBRAKE_LOG_LEVEL="verbose": ${EXPECTED}`);
    expect(r.stderr).not.toContain('custom levels');
    expect(r.stdout).toBe('');
  });

  it('sets the level: debug lines appear at debug, none at info', async () => {
    const dir = await manifestDir({
      'keys.yaml': yamlDocuments(
        ...stripeKey({ name: 'levels', token: newToken('stripe'), upstreamKey: 'sk_test_loglevels00000000' }),
      ),
    });
    try {
      const levelsAt = async (level: string) => {
        const serve = await startKeybrake(serveArgs(dir.dir, { stripe: 'http://127.0.0.1:9' }), {
          env: { KEYBRAKE_LOG_LEVEL: level },
        });
        await serve.stop();
        return new Set(
          serve
            .output()
            .split('\n')
            .flatMap((l) => (l.startsWith('{"level":') ? [(JSON.parse(l) as { level: number }).level] : [])),
        );
      };
      // Not a level above info: startKeybrake waits for the `listening` line, which is info.
      const [debug, info] = await Promise.all([levelsAt('debug'), levelsAt('info')]);
      expect(debug.has(20)).toBe(true);
      expect([...info].every((n) => n >= 30)).toBe(true);
    } finally {
      await dir.remove();
    }
  });
});
