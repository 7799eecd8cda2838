/**
 * How much of a process's time rendering `/metrics` may take, however many clients scrape: a render
 * is reused until nine times its own duration has passed since it finished, so rendering holds the
 * process at most a tenth of the time. A render of a few milliseconds (a small table) is fresh for a
 * few tens of milliseconds; one of a second (100 000 keys) for nine seconds, within a scrape interval.
 */
const FRESH_PER_RENDER_MS = 9;

/**
 * One admin listener's `/metrics` exposition, rendered at most once at a time and shared: scrapers
 * that arrive during a render wait for it, and those that arrive while it is fresh get it as it is
 * (ADR 0007 §8: every request has bounded work; sixth round: sixteen concurrent scrapes of an
 * operator serving 10 000 keys stalled it 2.5 s, and its leader could neither publish a revocation
 * nor renew its Lease meanwhile). The text is kept encoded once, so every answer writes the same
 * bytes instead of a copy each.
 */
export interface ScrapeCache {
  /** The exposition: the fresh one, the one being rendered, or a new one. */
  get(): Promise<Buffer>;
}

/**
 * `now` is a monotonic clock in ms (performance.now): a wall clock stepped back by D would serve the
 * old exposition for D, and one stepped forward during a render would stretch the window ninefold.
 */
export function createScrapeCache(render: () => Promise<string>, now: () => number): ScrapeCache {
  let fresh: { readonly body: Buffer; readonly until: number } | undefined;
  let rendering: Promise<Buffer> | undefined;
  const renderOnce = async (): Promise<Buffer> => {
    const started = now();
    const body = Buffer.from(await render());
    const finished = now();
    fresh = { body, until: finished + FRESH_PER_RENDER_MS * (finished - started) };
    return body;
  };
  return {
    get() {
      if (fresh !== undefined && now() < fresh.until) return Promise.resolve(fresh.body);
      if (rendering === undefined) {
        const started = renderOnce();
        rendering = started;
        // Done either way; a render that failed is not remembered, so the next scrape tries again.
        const done = () => {
          if (rendering === started) rendering = undefined;
        };
        started.then(done, done);
      }
      return rendering;
    },
  };
}
