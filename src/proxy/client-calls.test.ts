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
  // As every Keybrake listener (bounded-server.ts): a half-closed client still gets its answers.
  (server as typeof server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
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

  // Twelfth round: a half-close (a FIN, which a close also sends) left the call under way; the
  // listeners then ended the connection, so its answer could never be written.
  it('aborts the calls of a client that half-closes, whose answers are still written', async () => {
    const socket = await client();
    const both = next(2);
    socket.write(get('/i') + get('/j'));
    const [i, j] = await both;
    const read: Buffer[] = [];
    socket.on('data', (d: Buffer) => read.push(d));
    const ended = once(socket, 'end');
    socket.end();
    await Promise.all([once(i!.signal, 'abort'), once(j!.signal, 'abort')]);
    i!.res.end('answer i');
    j!.res.end('answer j');
    await ended;
    const text = Buffer.concat(read).toString('latin1');
    expect(text).toContain('answer i');
    expect(text).toContain('answer j');
  });

  it('hands an aborted signal for a call read after its client half-closed', async () => {
    const socket = await client();
    const one = next(1);
    socket.write(get('/k'));
    const [k] = await one;
    socket.end();
    await once(k!.signal, 'abort');
    expect(k!.req.socket.readableEnded).toBe(true);
    expect(calls.signal(k!.req.socket, k!.res).aborted).toBe(true);
    k!.res.end();
  });

  it("aborts the calls of a client that resets at the reset's error, before the connection closes", async () => {
    const socket = await client();
    const one = next(1);
    socket.write(get('/l'));
    const [l] = await one;
    const server = l!.req.socket;
    let answerClosed = false;
    l!.res.once('close', () => (answerClosed = true));
    // Registered after ClientCalls' own listener: what the signal says as the reset is read, before
    // node closes the answer (the signal's only trigger before).
    const atError = new Promise((resolve) =>
      server.once('error', () => resolve({ aborted: l!.signal.aborted, answerClosed })),
    );
    socket.resetAndDestroy();
    expect(await atError).toEqual({ aborted: true, answerClosed: false });
  });
});
