import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientCalls } from './client-calls.ts';

interface Arrived {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly signal: AbortSignal;
}

describe("ClientCalls: a call's signal aborts once its answer can no longer reach the client", () => {
  const calls = new ClientCalls();
  let waiting: ((call: Arrived) => void)[] = [];
  const arrived: Arrived[] = [];
  const server = createServer((req, res) => {
    const call = { req, res, signal: calls.signal(req.socket, res) };
    arrived.push(call);
    waiting.shift()?.(call);
  });
  let port = 0;
  /** Resolves with the next `count` calls the server is handed. */
  const next = (count: number) =>
    Promise.all(Array.from({ length: count }, () => new Promise<Arrived>((r) => waiting.push(r))));
  const client = async (): Promise<Socket> => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    return socket;
  };
  const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
    waiting = [];
  });

  it('aborts every call under way on a connection its client closes, pipelined ones too', async () => {
    const socket = await client();
    const both = next(2);
    socket.write(get('/a') + get('/b'));
    const [a, b] = await both;
    expect([a!.signal.aborted, b!.signal.aborted]).toEqual([false, false]);
    socket.destroy();
    await Promise.all([once(a!.signal, 'abort'), once(b!.signal, 'abort')]);
  });

  it('leaves alone a call whose answer was written whole before its connection closed', async () => {
    const socket = await client();
    const one = next(1);
    socket.write(get('/c'));
    const [c] = await one;
    c!.res.end('ok');
    await once(c!.res, 'finish');
    const later = next(1);
    socket.write(get('/d'));
    const [d] = await later;
    socket.destroy();
    await once(d!.signal, 'abort');
    expect(c!.signal.aborted).toBe(false);
  });

  it('aborts the calls after one whose answer ends the connection, and not that one or those before', async () => {
    const socket = await client();
    const three = next(3);
    socket.write(get('/e') + get('/f') + get('/g'));
    const [e, f, g] = await three;
    calls.endAfter(e!.req.socket, f!.res);
    expect([e!.signal.aborted, f!.signal.aborted, g!.signal.aborted]).toEqual([false, false, true]);
    socket.destroy();
  });

  it('hands an aborted signal for a connection already gone', async () => {
    const socket = await client();
    const one = next(1);
    socket.write(get('/h'));
    const [h] = await one;
    h!.req.socket.destroy();
    await once(h!.req.socket, 'close');
    expect(calls.signal(h!.req.socket, h!.res).aborted).toBe(true);
    socket.destroy();
  });
});
