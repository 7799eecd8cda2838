import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * The calls under way on each client connection, oldest first, each with the signal the pipeline
 * reads as IncomingCall.signal: aborted once its answer can no longer reach the client. A closed
 * client did not cancel its call: 1 000 calls sent and disconnected each 50 ms after waited for an
 * upstream connection ahead of a victim's, which was forwarded 139 s after it arrived, and 600 of
 * them held 300 MB of bodies (ADR 0007 §8, fifth round). A call not yet on an upstream connection
 * is dropped when its signal aborts (upstreams.ts).
 *
 * The listeners keep a half-closed connection open (bounded-server.ts), so that a call already at the
 * vendor gets its answer written. But a client's FIN looks the same whether it closed the connection
 * or only its sending side, so a FIN aborts every call on the connection too, as the close did before
 * (twelfth round): one still waiting to be sent is dropped, and the client, if it still reads, gets
 * that answer; one on an upstream connection runs its course, its answer written.
 */
export class ClientCalls {
  readonly #open = new WeakMap<Socket, Map<ServerResponse, AbortController>>();

  /**
   * The signal of the call `res` answers on `socket`. It aborts when the connection closes before
   * `res` has been written whole (the client went away, or the proxy ended the connection), when the
   * client's FIN arrives (it closed, or shut down its sending side), or when an answer before it ends
   * the connection (`endAfter`).
   */
  signal(socket: Socket, res: ServerResponse): AbortSignal {
    const controller = new AbortController();
    // Gone, or its FIN read: a call read with or before the FIN is handled after it.
    if (socket.destroyed || socket.readableEnded) {
      controller.abort();
      return controller.signal;
    }
    let calls = this.#open.get(socket);
    if (calls === undefined) {
      const open = new Map<ServerResponse, AbortController>();
      calls = open;
      this.#open.set(socket, open);
      // The FIN, or a reset (its error comes before the close): every call under way on the
      // connection is abandoned (see the class comment).
      const abandon = () => {
        for (const controller of open.values()) controller.abort();
      };
      socket.once('end', abandon);
      socket.once('error', abandon);
    }
    const open = calls;
    open.set(res, controller);
    // Node closes every response still open on a connection as the connection goes, those queued
    // behind the one it is writing too: one not written whole by then will never be.
    res.once('close', () => {
      open.delete(res);
      if (!res.writableFinished) controller.abort();
    });
    return controller.signal;
  }

  /** `res`'s answer ends its connection: every call after it on the connection is abandoned. */
  endAfter(socket: Socket, res: ServerResponse): void {
    let after = false;
    for (const [other, controller] of this.#open.get(socket) ?? []) {
      if (after) controller.abort();
      else after = other === res;
    }
  }
}
