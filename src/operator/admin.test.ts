import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createOperatorAdmin } from './admin.ts';

describe('operator admin /readyz', () => {
  let app: ReturnType<typeof createOperatorAdmin> | undefined;
  afterEach(async () => {
    await app?.close();
  });
  const admin = (leader: boolean, problems: string[] = []) => {
    app = createOperatorAdmin({
      registry: new Registry(),
      isLeader: () => leader,
      version: () => 42,
      problems: () => problems,
    });
    return app;
  };
  const get = async (a: ReturnType<typeof createOperatorAdmin>, url: string) => {
    const res = await a.inject({ method: 'GET', url });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  };

  it.each([
    ['the leader', true, '/readyz', 200, 'leading'],
    ['a standby', false, '/readyz', 503, 'standby'],
    ['a standby asked as the readiness probe asks', false, '/readyz?standby=ok', 200, 'standby'],
    ['the leader asked as the readiness probe asks', true, '/readyz?standby=ok', 200, 'leading'],
  ])('answers %s on %s', async (_n, leader, url, status, word) => {
    expect(await get(admin(leader), url)).toEqual({ status, body: { status: word, snapshotVersion: 42 } });
  });

  it('fails both forms with the problem, naming the missing Lease namespace', async () => {
    const problem = 'Lease namespace "keybrake-system" does not exist: create it';
    const a = admin(false, [problem]);
    for (const url of ['/readyz', '/readyz?standby=ok']) {
      expect(await get(a, url)).toEqual({
        status: 503,
        body: { status: 'not ready', problems: [problem], snapshotVersion: 42 },
      });
    }
    expect((await get(a, '/healthz')).status).toBe(200);
  });
});
