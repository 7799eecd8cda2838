// A filter for test/env/tcp-relay.ts's `toClient`: passes every reply a Redis server sends (PING's,
// SUBSCRIBE's, every command's) but drops pub/sub `message` pushes while `dropping()` says so: a
// subscription that answers and delivers nothing (a middlebox that mangles pub/sub, a Sentinel split
// brain that leaves it on a deposed master, a Cluster bus partition). RESP2 and RESP3 frames are
// split whole, across chunks. Deliberately independent of Keybrake's code.

/** The end of the RESP frame at `i` of `b`, or -1 if it is not all there yet. */
function frameEnd(b: Buffer, i: number): number {
  if (i >= b.length) return -1;
  const nl = b.indexOf('\r\n', i);
  if (nl < 0) return -1;
  const type = String.fromCharCode(b[i]!);
  if ('+-:_#,('.includes(type)) return nl + 2;
  const n = Number(b.toString('latin1', i + 1, nl));
  if ('$!='.includes(type)) {
    if (n < 0) return nl + 2;
    const end = nl + 2 + n + 2;
    return end <= b.length ? end : -1;
  }
  if ('*~>%|'.includes(type)) {
    let j = nl + 2;
    if (n < 0) return j;
    const items = type === '%' || type === '|' ? 2 * n : n;
    for (let k = 0; k < items; k++) {
      j = frameEnd(b, j);
      if (j < 0) return -1;
    }
    return j;
  }
  throw new Error(`not RESP: frame type ${JSON.stringify(type)}`);
}

/** `*3` or `>3` then `$7 message`: a message a subscription receives (RESP2, RESP3). */
const MESSAGE_PUSH = /^[*>]3\r\n\$7\r\nmessage\r\n/;

export function dropPushes(dropping: () => boolean, onDrop?: () => void): () => (chunk: Buffer) => Buffer {
  return () => {
    let pending: Buffer = Buffer.alloc(0);
    return (chunk) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      const out: Buffer[] = [];
      let i = 0;
      for (;;) {
        const end = frameEnd(pending, i);
        if (end < 0) break;
        const frame = pending.subarray(i, end);
        if (dropping() && MESSAGE_PUSH.test(frame.toString('latin1', 0, 18))) onDrop?.();
        else out.push(frame);
        i = end;
      }
      pending = pending.subarray(i);
      return Buffer.concat(out);
    };
  };
}
