import type { ServerResponse } from 'node:http';
import { admitsKey } from '../telemetry/audit-shares.ts';

/**
 * The bytes of vendor answers this process holds for its clients, per vault key: from the moment the
 * pipeline hands an answer to the listener until node has handed it whole to the kernel, or dropped
 * it with its connection (ADR 0007 §8, ninth round). A client holds at most one unread answer per
 * connection, for at most --client-timeout, but one key on 256 connections making large reads it
 * never reads held 256 of them: 640 MB of 2.5 MB lists, 4 GiB of 16 MiB answers, past the chart's
 * memory limit. Past the bound a key's calls are admitted by the audit backlog's rule (a key under
 * an equal share of the bound among the keys holding any), so the key holding the answers is
 * refused and a key holding little is not. Pure bookkeeping: a stage refuses, the listener holds.
 */
export class HeldAnswers {
  readonly #bound: number;
  readonly #keys = new Map<string, number>();
  #bytes = 0;

  constructor(bound: number) {
    this.#bound = bound;
  }

  /**
   * Counts `bytes` of an answer to a call of `key` until `res` closes. A response closed already
   * (its connection gone while the call was at the vendor) holds nothing: no close would come.
   */
  holdUntilClosed(res: ServerResponse, key: string, bytes: number): void {
    if (res.closed || bytes === 0) return;
    this.#keys.set(key, (this.#keys.get(key) ?? 0) + bytes);
    this.#bytes += bytes;
    res.once('close', () => {
      this.#bytes -= bytes;
      const left = this.#keys.get(key)! - bytes;
      // A key that holds nothing is not a holder: it would shrink every other key's share.
      if (left === 0) this.#keys.delete(key);
      else this.#keys.set(key, left);
    });
  }

  /** Whether a new call of `key` may go ahead. */
  admits(key: string): boolean {
    return admitsKey(this.#bytes, this.#bound, this.#keys.get(key) ?? 0, this.#keys.size);
  }

  /** Answer bytes held for every key now. */
  get bytes(): number {
    return this.#bytes;
  }
}
