/**
 * Whether a Redis connection is answering, judged from the commands the store sends anyway, so that
 * `available()` costs no round trip on a request path. A connection can be up and answer nothing (a
 * SIGSTOPped server, a partition that resets nothing): ioredis then still says `ready`, and calls
 * that touch no counter (a free write, a destructive call, a read under `readsWhenCountersDown:
 * deny`) would pass while every money call timed out (sixth round). docs/counters.md, "A hung Redis
 * is down too".
 *
 * Rules:
 * - a command whose deadline passed without an answer makes the connection not answering until an
 *   answer proves otherwise: its own late answer, or that of a probe sent after it (a probe pings
 *   every node; a command the client itself gave up on never gets an answer of its own);
 * - a probe that failed without an answer (connection refused, a cluster node down) does the same;
 * - a new connection starts answering, with nothing outstanding;
 * - a probe is wanted when nothing has answered for `idleMs` and none is on its way, so that an idle
 *   connection that hangs is noticed within two `idleMs` and one deadline of its last answer.
 *
 * Only commands still on their way are kept one by one. An overdue command the client gave up on
 * will never answer itself, and only a probe sent after it can clear it: all of them together are
 * kept as the highest such id, since a probe answered clears every one at or below its own id. So
 * the set stays as small as what is in flight however long Redis hangs (sixth round review).
 */
export class Liveness {
  readonly #now: () => number;
  readonly #idleMs: number;
  /** Commands sent and not settled, in send order (ids grow); true once overdue. */
  readonly #outstanding = new Map<number, boolean>();
  #overdue = 0;
  /** The highest id of an overdue command the client gave up on and no probe cleared since; 0: none. */
  #gaveUpThrough = 0;
  #probeFailed = false;
  #probes = 0;
  #seq = 0;
  #lastAnswer: number;

  /** `now` is a monotonic clock in ms: a wall clock stepping back would hide a hang. */
  constructor(opts: { readonly idleMs: number; readonly now: () => number }) {
    this.#now = opts.now;
    this.#idleMs = opts.idleMs;
    this.#lastAnswer = opts.now();
  }

  /** A command (or, with `probe`, a health ping) is on its way; returns its id. */
  sent(probe = false): number {
    if (probe) this.#probes++;
    const id = ++this.#seq;
    this.#outstanding.set(id, false);
    return id;
  }

  /** Redis answered command `id` (a result or an error reply: either way it is alive). */
  answered(id: number, probe = false): void {
    this.#lastAnswer = this.#now();
    this.#forget(id);
    if (!probe) return;
    this.#probes--;
    this.#probeFailed = false;
    // Sent before the probe and still in flight, on a node that has answered since: not evidence of
    // a hang any more. Those the client gave up on are no longer kept: the watermark stands for them.
    for (const earlier of this.#outstanding.keys()) {
      if (earlier > id) break;
      this.#forget(earlier);
    }
    if (this.#gaveUpThrough <= id) this.#gaveUpThrough = 0;
  }

  /** Command `id` failed without an answer (connection lost, the client's own timeout). */
  unanswered(id: number, probe = false): void {
    // An overdue command stays overdue until an answer clears it: with no answer of its own to come,
    // that of a later probe (the watermark); one that failed at once (no connection) says nothing
    // the connection state does not say already.
    if (this.#outstanding.get(id) === true) this.#gaveUpThrough = Math.max(this.#gaveUpThrough, id);
    this.#forget(id);
    if (!probe) return;
    this.#probes--;
    this.#probeFailed = true;
  }

  /** Command `id` reached its deadline, after a pass over I/O, without an answer. */
  overdue(id: number): void {
    if (this.#outstanding.get(id) !== false) return;
    this.#outstanding.set(id, true);
    this.#overdue++;
  }

  /** A new connection: nothing is outstanding on it, and connecting was an answer. */
  reset(): void {
    this.#outstanding.clear();
    this.#overdue = 0;
    this.#gaveUpThrough = 0;
    this.#probeFailed = false;
    this.#lastAnswer = this.#now();
  }

  answering(): boolean {
    return this.#overdue === 0 && this.#gaveUpThrough === 0 && !this.#probeFailed;
  }

  /** How many commands are kept one by one (tests: bounded by those in flight). */
  get tracked(): number {
    return this.#outstanding.size;
  }

  wantsProbe(): boolean {
    return this.#probes === 0 && this.#now() - this.#lastAnswer >= this.#idleMs;
  }

  #forget(id: number): void {
    if (this.#outstanding.get(id) === true) this.#overdue--;
    this.#outstanding.delete(id);
  }
}
