import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * The responses node holds for each client connection until they are written, oldest first. Node
 * writes a connection's responses in the order its requests came; a refusal the HTTP layer writes
 * straight to the socket (a parser error, a request timeout, CONNECT) closes the connection, so it
 * must come after them. Written while a call before it was still being handled, it stood as that
 * call's answer and cut the real one off, while the call went on to be forwarded and counted (a
 * fifth-round probe: a charge answered `deny` was carried out). A call is handled only once the
 * responses before it have closed, so a client that stops reading holds at most one (ninth round).
 */
export class AnswerQueue {
  readonly #open = new WeakMap<Socket, Set<ServerResponse>>();

  /** A response node queued on `socket`; it leaves the queue when it closes (written, or cut off). */
  add(socket: Socket, res: ServerResponse): void {
    let open = this.#open.get(socket);
    if (open === undefined) {
      open = new Set();
      this.#open.set(socket, open);
    }
    const mine = open;
    mine.add(res);
    res.once('close', () => mine.delete(res));
  }

  /** The newest response on `socket` not yet closed: the one of the request node read last. */
  newest(socket: Socket): ServerResponse | undefined {
    let last: ServerResponse | undefined;
    for (const res of this.#open.get(socket) ?? []) last = res;
    return last;
  }

  /**
   * Runs `then` once every response open on `socket` now, but `except`, has closed: at once when
   * there is none. One closing with its connection (the client gone) counts too: `then` checks the
   * socket before writing to it.
   */
  afterOpen(socket: Socket, then: () => void, except?: ServerResponse): void {
    const before = [...(this.#open.get(socket) ?? [])].filter((res) => res !== except);
    let left = before.length;
    if (left === 0) {
      then();
      return;
    }
    for (const res of before) {
      res.once('close', () => {
        left--;
        if (left === 0) then();
      });
    }
  }
}
