// A proxy holding a version above everything its leader serves (sixth round: a leader whose clock ran
// 25 h ahead, then a normal one): the decision, and the follower against a scripted operator whose
// every line the test writes, acknowledged stops marking how far the proxy has read.
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/env/wait-for.ts';
import { fixedClock } from '../clock.ts';
import { SnapshotHolder } from '../snapshot/holder.ts';
import type { Snapshot } from '../snapshot/types.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { type Follower, followSnapshots } from './follower.ts';
import { type OutOfStep, takesLowerVersion } from './out-of-step.ts';
import { ACK_PATH, fullSnapshotLines, LEADER_TERM_HEADER, NDJSON, WATCH_PATH, withLag } from './protocol.ts';

describe('takesLowerVersion', () => {
  const stale: OutOfStep = { heldTerm: 4, streamTerm: 5, ageMs: 30_001, maxStalenessMs: 30_000 };
  it.each<[string, Partial<OutOfStep>, boolean]>([
    ['a newer term once the table in force is stale', {}, true],
    ['not before the table in force is stale', { ageMs: 30_000 }, false],
    ['never from the same term', { streamTerm: 4 }, false],
    ['never from an older term (a former leader resumed)', { streamTerm: 3 }, false],
    ['never from an operator that names no term', { streamTerm: undefined }, false],
    ['never over a table whose term is unknown', { heldTerm: undefined }, false],
    ['never without a --max-staleness', { maxStalenessMs: undefined }, false],
    ['never without a table in force', { ageMs: undefined }, false],
  ])('takes it: %s', (_what, change, expected) => {
    expect(takesLowerVersion({ ...stale, ...change })).toBe(expected);
  });
});

const MAX_STALENESS_MS = 30_000;
/** A version from a leader whose clock ran 25 h ahead: the operator disbelieves it (more than a day). */
const AHEAD = Date.now() + 25 * 3_600_000;
const LEADER = Date.now();

const snapshot = (version: number): Snapshot => ({ version, compiledAt: 1_750_000_000_000, keys: new Map() });

/** An operator the test scripts: each stream gets `term`, and every line is written by the test. */
async function scriptedOperator() {
  let stream: ServerResponse | undefined;
  let term = 1;
  let streams = 0;
  const stopAcks: number[] = [];
  const server = createServer((req, res) => {
    if (req.url === WATCH_PATH) {
      streams++;
      stream = res;
      res.writeHead(200, { 'content-type': NDJSON, [LEADER_TERM_HEADER]: String(term) });
      res.flushHeaders();
      return;
    }
    if (req.url === ACK_PATH) {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        const ack = JSON.parse(body) as { stoppedRuns?: number };
        if (ack.stoppedRuns !== undefined) stopAcks.push(ack.stoppedRuns);
        res.writeHead(204).end();
      });
      return;
    }
    res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  let seq = 0;
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    set term(t: number) {
      term = t;
    },
    get streams() {
      return streams;
    },
    write(text: string) {
      stream!.write(text);
    },
    /** Ends the stream open now (the leader went away): the follower reconnects. */
    endStream() {
      stream?.end();
      stream = undefined;
    },
    /** Resolves once the follower has read every line written before it (it acknowledges a stop). */
    async barrier() {
      const s = ++seq;
      stream!.write(`${JSON.stringify({ type: 'stopped-runs', version: s, runs: [] })}\n`);
      await waitFor(() => expect(stopAcks).toContain(s));
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())).then(() => {}),
    closeAll: () => server.closeAllConnections(),
  };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function setUp() {
  const clock = fixedClock(LEADER);
  const op = await scriptedOperator();
  const holder = new SnapshotHolder(clock);
  const follower: Follower = followSnapshots({
    url: op.url,
    tokenFile: async () => 'token',
    holder,
    proxyId: 'proxy-a',
    log: silentLogger(),
    backoff: { initialMs: 10, maxMs: 50 },
    maxStalenessMs: MAX_STALENESS_MS,
  });
  cleanups.push(async () => {
    await follower.close();
    op.closeAll();
    await op.close();
  });
  // As the operator writes them: each vouching for tables current now (lagMs 0).
  const heartbeat = (version: number) =>
    op.write(`${JSON.stringify({ type: 'heartbeat', version, lagMs: 0 })}\n`);
  /** The fast leader (term 1) hands the proxy AHEAD; then a new leader of `term` serves LEADER. */
  const handOver = async (term: number) => {
    await waitFor(() => expect(op.streams).toBe(1));
    op.write(withLag(fullSnapshotLines(snapshot(AHEAD)), 0));
    heartbeat(AHEAD);
    await op.barrier();
    expect(holder.current?.version).toBe(AHEAD);
    op.term = term;
    op.endStream();
    await waitFor(() => expect(op.streams).toBe(2));
    op.write(withLag(fullSnapshotLines(snapshot(LEADER)), 0));
    heartbeat(LEADER);
    await op.barrier();
  };
  return { clock, op, holder, follower, heartbeat, handOver };
}

describe('a follower holding a version above what its leader serves', () => {
  it('ignores the lower table, and its heartbeats no longer keep the table fresh: it ages into policy_stale', async () => {
    const { clock, op, holder, follower, heartbeat, handOver } = await setUp();
    await handOver(1); // the same term: nothing tells a newer leader from the one it holds
    expect(holder.current?.version).toBe(AHEAD);
    expect(follower.outOfStep).toBe(true);
    clock.advance(MAX_STALENESS_MS + 1);
    heartbeat(LEADER);
    await op.barrier();
    // Refreshed, the table stayed fresh for good while every change, a revocation among them, was ignored.
    expect(holder.ageMs()).toBe(MAX_STALENESS_MS + 1);
    expect(holder.current?.version).toBe(AHEAD);
  });

  it("takes a newer leader term's lower version once its own table is stale, then follows that leader", async () => {
    const { clock, op, holder, follower, heartbeat, handOver } = await setUp();
    await handOver(2);
    // Not yet: the table in force is still fresh, and still enforced.
    expect(holder.current?.version).toBe(AHEAD);
    clock.advance(MAX_STALENESS_MS + 1);
    heartbeat(LEADER);
    // It resyncs: the new stream's whole table is taken, lower version and all.
    await waitFor(() => expect(op.streams).toBe(3));
    op.write(withLag(fullSnapshotLines(snapshot(LEADER)), 0));
    heartbeat(LEADER);
    await op.barrier();
    expect(holder.current?.version).toBe(LEADER);
    expect(holder.ageMs()).toBe(0);
    expect(follower.outOfStep).toBe(false);
  });

  it('does not take an older term’s table, however stale its own (a former leader cannot roll it back)', async () => {
    const { clock, op, holder, heartbeat } = await setUp();
    await waitFor(() => expect(op.streams).toBe(1));
    op.term = 5;
    op.endStream();
    await waitFor(() => expect(op.streams).toBe(2));
    op.write(withLag(fullSnapshotLines(snapshot(AHEAD)), 0));
    await op.barrier();
    op.term = 4;
    op.endStream();
    await waitFor(() => expect(op.streams).toBe(3));
    clock.advance(MAX_STALENESS_MS + 1);
    op.write(withLag(fullSnapshotLines(snapshot(LEADER)), 0));
    heartbeat(LEADER);
    await op.barrier();
    expect(holder.current?.version).toBe(AHEAD);
    expect(op.streams).toBe(3);
  });
});
