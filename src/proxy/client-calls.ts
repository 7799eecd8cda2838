import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * The calls under way on each client connection, oldest first, each with the signal the pipeline
 * reads as IncomingCall.signal: aborted once its answer can no longer reach the client. A closed
 * client did not cancel its call: 1 000 calls sent and disconnected each 50 ms after waited for an
 * upstream connection ahead of a victim's, which was forwarded 139 s after it arrived, and 600 of
 * them held 300 MB of bodies (ADR 0007 §8, fifth round). A call not yet on an upstream connection
 * is dropped when its signal aborts (upstreams.ts).
 */
export class ClientCalls {
  readonly #open = new WeakMap<Socket, Map<ServerResponse, AbortController>>();

  /**
   * The signal of the call `res` answers on `socket`. It aborts when the connection closes before
   * `res` has been written whole (the client went away, or the proxy ended the connection), or when
   * an answer before it ends the connection (`endAfter`).
   */
  signal(socket: Socket, res: ServerResponse): AbortSignal {
    const controller = new AbortController();
    if (socket.destroyed) {
      controller.abort();
      return controller.signal;
    }
    let calls = this.#open.get(socket);
    if (calls === undefined) {
      calls = new Map();
      this.#open.set(socket, calls);
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
