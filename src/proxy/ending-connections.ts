import type { Socket } from 'node:net';

/**
 * Client connections whose last answer is decided: a refusal that closes them (a client error, one
 * call too many pipelined, a missing Host, a bad Expect, a shutdown), written once the calls before
 * it are answered, or a call's own answer with `Connection: close`. Nothing more is taken from such
 * a connection. Node goes on parsing what is pipelined behind that answer until the connection
 * closes, and kept every request it parsed, unanswered, until then: 60 000 requests behind a
 * refusal, while a call before it waited 4 s for the vendor, were each looked up and audited, grew
 * the proxy by 200 MB, and closing the connection held another tenant's call 10 s (seventh round).
 * Now the connection's bytes are taken from node's parser when it ends: they are read and dropped,
 * so the client's close is still noticed (a call of a client gone away is dropped, ADR 0007 §8).
 */
export class EndingConnections {
  /** Requests node handed on behind each connection's end. */
  readonly #behind = new WeakMap<Socket, number>();
  /** Requests of the read in progress at the end that are recorded before the connection is closed. */
  readonly #maxBehind: number;
  /** Bytes read and dropped after the end before the connection is closed. */
  readonly #maxDropped: number;

  constructor(limits: { readonly maxBehind: number; readonly maxDroppedBytes: number }) {
    this.#maxBehind = limits.maxBehind;
    this.#maxDropped = limits.maxDroppedBytes;
  }

  has(socket: Socket): boolean {
    return this.#behind.has(socket);
  }

  /** `socket`'s last answer is decided: nothing read from it from now on is parsed. */
  add(socket: Socket): void {
    if (this.#behind.has(socket)) return;
    this.#behind.set(socket, 0);
    dropReads(socket, this.#maxDropped);
  }

  /**
   * Counts a request node parsed behind `socket`'s end: one from the read in progress when the
   * connection ended, which node parses to its last byte whatever its listener does. True while it is
   * to be recorded; past the bound the client is flooding the connection, which is closed at once
   * (the calls under way on it lose their answers: that is the client's doing), and what node still
   * hands on from that read is no one's call.
   */
  behind(socket: Socket): boolean {
    const count = (this.#behind.get(socket) ?? 0) + 1;
    this.#behind.set(socket, count);
    if (count <= this.#maxBehind && !socket.destroyed) return true;
    socket.destroy();
    return false;
  }
}

/**
 * Takes `socket`'s bytes from node's HTTP parser: from now on they are read and dropped, and past
 * `maxBytes` the connection is closed. Node's parser reads the socket's handle directly and hands
 * what the socket emits as 'data' to it too; a 'data' listener of the socket's own makes node stop
 * the first (it unhooks its parser, as it does for an upgrade), and removing node's listener stops
 * the second. Pausing instead would not hold: node resumes a connection as its answers drain and
 * its requests are read, and a paused socket does not see its client close.
 */
function dropReads(socket: Socket, maxBytes: number): void {
  let dropped = 0;
  socket.removeAllListeners('data');
  socket.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > maxBytes) socket.destroy();
  });
  // Node may have paused it for an answer not yet drained; it stays read from, and dropped.
  socket.resume();
}
