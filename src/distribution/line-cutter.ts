/**
 * Cuts a byte stream into lines (without their `\n`), each decoded from UTF-8 whole, once it has
 * ended. The snapshot stream's follower reads with it: decoding each chunk of the body as it came
 * and joining a line's pieces made a rope that JSON.parse then copied flat again, 0.13 to 0.19 s of
 * the 1 s a proxy spends reading a whole table of 100 000 keys. A `\n` byte is never part of a
 * longer UTF-8 sequence, so a line's bytes decode alone to what the whole stream would.
 */
export class LineCutter {
  /** The unfinished line: pieces of the chunks that brought it. */
  #pieces: Buffer[] = [];
  #held = 0;

  /** Bytes of the line not finished yet (what a reader bounds). */
  get held(): number {
    return this.#held;
  }

  /** The lines `chunk` finishes, in order; the rest of it is held for the next chunk. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      if (this.#pieces.length === 0) lines.push(chunk.toString('utf8', start, nl));
      else {
        this.#pieces.push(chunk.subarray(start, nl));
        lines.push(Buffer.concat(this.#pieces, this.#held + nl - start).toString('utf8'));
        this.#pieces = [];
        this.#held = 0;
      }
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.#pieces.push(chunk.subarray(start));
      this.#held += chunk.length - start;
    }
    return lines;
  }
}
