import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';

/**
 * What is handed to node at a time of an answer larger than this: node takes the next piece once the
 * connection has drained, so each piece taken shows the client is reading. One write of the whole
 * answer would show nothing until its last byte is in the kernel.
 */
const PIECE_BYTES = 64 * 1024;

/**
 * The body to hand node for `res`, watched: the connection is closed when its client has taken no
 * byte of the answer for `stallMs`. A client that stops reading held its answer in the proxy until
 * the idle timeout, 215 s by default (ninth round: 60 connections never read held 1.2 GB). The call
 * has been forwarded, counted and audited by then: only its answer is dropped, with the connection.
 */
export function watchedBody(
  res: ServerResponse,
  body: Buffer | string,
  stallMs: number,
): Buffer | string | Readable {
  const socket = res.req.socket;
  // Handed over after its connection closed (a call dropped unsent): nothing to watch.
  if (socket.destroyed) return body;
  const stalled = () => socket.destroy();
  const timer = setTimeout(stalled, stallMs).unref();
  res.once('close', () => clearTimeout(timer));
  if (typeof body === 'string' || body.length <= PIECE_BYTES) return body;
  let at = 0;
  return new Readable({
    read() {
      timer.refresh();
      const piece = body.subarray(at, at + PIECE_BYTES);
      at += piece.length;
      this.push(piece.length > 0 ? piece : null);
    },
  });
}
