import type { ServerResponse } from 'node:http';

/**
 * The calls a proxy is answering, over all its listeners, and whether it is draining (SIGTERM). The
 * listeners count each request in when node hands it over and out when its response closes (sent,
 * or the connection gone); the runtime waits for the count to reach zero before closing connections.
 */
export class InFlight {
  /** Set once a shutdown has begun: new requests are answered 503 shutting_down. */
  draining = false;
  /** That answer's message, when the shutdown has a reason the caller should hear (the audit failed). */
  drainMessage: string | undefined;
  #count = 0;
  #onIdle: (() => void) | undefined;
  readonly #leave = () => {
    this.#count--;
    if (this.#count === 0) this.#onIdle?.();
  };

  get count(): number {
    return this.#count;
  }

  /** A request has arrived; it is in flight until its response closes. */
  track(res: ServerResponse): void {
    this.#count++;
    // 'close' comes once per response: no once() wrapper per call.
    res.on('close', this.#leave);
  }

  /** Resolves true once nothing is in flight, or false when `timeoutMs` passes first. */
  settled(timeoutMs: number): Promise<boolean> {
    if (this.#count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#onIdle = undefined;
        resolve(false);
      }, timeoutMs);
      this.#onIdle = () => {
        clearTimeout(timer);
        this.#onIdle = undefined;
        resolve(true);
      };
    });
  }
}
