import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { InFlight } from './in-flight.ts';

/** Stands in for a node response: only its 'close' event matters. */
const response = () => new EventEmitter() as unknown as ServerResponse;

describe('InFlight', () => {
  it('is settled at once when nothing is in flight', async () => {
    expect(await new InFlight().settled(60_000)).toBe(true);
  });

  it('settles when the last response in flight closes', async () => {
    const calls = new InFlight();
    const [a, b] = [response(), response()];
    calls.track(a);
    calls.track(b);
    const settled = calls.settled(60_000);
    a.emit('close');
    expect(calls.count).toBe(1);
    b.emit('close');
    expect(await settled).toBe(true);
    expect(calls.count).toBe(0);
  });

  it('gives up at the deadline while a call is still in flight', async () => {
    const calls = new InFlight();
    calls.track(response());
    expect(await calls.settled(5)).toBe(false);
    expect(calls.count).toBe(1);
  });
});
