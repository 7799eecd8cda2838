import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { policyFromJson } from '../snapshot/serialize.ts';
import type { CompiledKey, Snapshot } from '../snapshot/types.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { createSnapshotServer, type SnapshotServer } from './server.ts';

const policy = policyFromJson({ ref: 'ns/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: false });
const table = (version: number, n: number): Snapshot => {
  const keys = new Map<string, CompiledKey>();
  for (let i = 0; i < n; i++)
    keys.set(createHash('sha256').update(`${version}/${i}`).digest('hex'), {
      uid: `u${i}`,
      namespace: 'ns',
      name: `k${i}`,
      vendor: 'stripe',
      tokenFingerprint: 'kb_stripe_…abcd',
      upstream: { kind: 'bearer', token: `sk_test_${i}` },
      suspended: false,
      policy,
    });
  return { version, compiledAt: version, keys };
};
/** Whether the key's wire text is remembered with it (keyWireText's memo, a symbol property). */
const written = (k: CompiledKey) =>
  Object.getOwnPropertySymbols(k).some((s) => s.description === 'key wire text');

const servers: SnapshotServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});
const serverLeading = (leading: boolean) => {
  const s = createSnapshotServer({
    authenticate: async () => ({ ok: true, user: 'test/proxy' }),
    isLeader: () => leading,
    heartbeatMs: 60_000,
    log: silentLogger(),
  });
  servers.push(s);
  return s;
};

describe("the operator writes its keys' texts once a table is published, before any proxy connects", () => {
  it('writes every key of the latest table, a slice per turn, and a newer table supersedes an older one', async () => {
    const server = serverLeading(true);
    const first = table(1, 5_000);
    server.publish(first);
    // Nothing in the publishing turn: the writing is off the path of whatever published.
    expect([...first.keys.values()].some(written)).toBe(false);
    const second = table(2, 20_000);
    server.publish(second);
    await server.textsWritten();
    expect([...second.keys.values()].every(written)).toBe(true);
  });

  it('writes nothing on a standby (it serves no stream until it leads)', async () => {
    const server = serverLeading(false);
    const t = table(1, 100);
    server.publish(t);
    await server.textsWritten();
    await new Promise((resolve) => setImmediate(resolve));
    expect([...t.keys.values()].some(written)).toBe(false);
  });
});
