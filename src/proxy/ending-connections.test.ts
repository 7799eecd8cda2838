import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EndingConnections } from './ending-connections.ts';

const request = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

/**
 * A node HTTP server whose first request on a connection ends it (its answer held by the test),
 * with every request after it handed to `behind` as the proxy's listener does, and a raw client.
 */
async function endingServer(limits: { maxBehind: number; maxDroppedBytes: number }) {
  const ending = new EndingConnections(limits);
  const handed: string[] = [];
  /** For each request behind the end, whether it is to be recorded. */
  const recorded: boolean[] = [];
  let first: { req: IncomingMessage; res: ServerResponse } | undefined;
  let onFirst: () => void = () => {};
  const firstArrived = new Promise<void>((resolve) => {
    onFirst = resolve;
  });
  let onLast: () => void = () => {};
  const lastArrived = new Promise<void>((resolve) => {
    onLast = resolve;
  });
  const server = createServer((req, res) => {
    handed.push(req.url ?? '');
    if (req.url === '/last') onLast();
    if (ending.has(req.socket)) return void recorded.push(ending.behind(req.socket));
    ending.add(req.socket);
    first = { req, res };
    onFirst();
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  client.on('error', () => {});
  await once(client, 'connect');
  return {
    handed,
    recorded,
    client,
    firstArrived: firstArrived.then(() => first!),
    lastArrived,
  };
}

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

describe('EndingConnections', () => {
  // A request parsed behind the end is never served; written after it, it is never parsed at all, and
  // the client's going away is still seen (a call of a client gone away is dropped, not forwarded).
  it('parses nothing written after the end, and still sees the client leave', async () => {
    const s = await endingServer({ maxBehind: 8, maxDroppedBytes: 64 * 1024 });
    s.client.write(request('/first'));
    const { res } = await s.firstArrived;
    const answerClosed = once(res, 'close');
    s.client.end(request('/after').repeat(20));
    await answerClosed;
    expect(s.handed).toEqual(['/first']);
    expect(res.writableFinished).toBe(false);
  });

  it('records what the read in progress held behind the end up to the bound, then closes the connection', async () => {
    const s = await endingServer({ maxBehind: 3, maxDroppedBytes: 64 * 1024 });
    s.client.write(request('/first') + request('/behind').repeat(5) + request('/last'));
    const { req, res } = await s.firstArrived;
    const closed = once(req.socket, 'close');
    // Node hands on the rest of that read after the close; should the read be split, it ends there.
    await Promise.race([s.lastArrived, closed]);
    expect(s.recorded.slice(0, 4)).toEqual([true, true, true, false]);
    expect(s.recorded.slice(4)).not.toContain(true);
    await closed;
    expect(res.writableFinished).toBe(false);
  });

  it('closes the connection past the bytes it may read and drop behind the end', {
    timeout: 5_000,
  }, async () => {
    const s = await endingServer({ maxBehind: 8, maxDroppedBytes: 1_000 });
    s.client.write(request('/first'));
    const { req, res } = await s.firstArrived;
    const closed = once(req.socket, 'close');
    s.client.write(request('/after').repeat(100) + request('/last'));
    await Promise.race([closed, s.lastArrived]);
    expect(s.handed).toEqual(['/first']);
    expect(res.writableFinished).toBe(false);
  });
});
