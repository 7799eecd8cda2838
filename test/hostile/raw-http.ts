import { connect } from 'node:net';

/**
 * The hostile corpus's client: one request as exact bytes on a fresh socket (duplicate headers,
 * malformed request lines, bytes no HTTP library would send), and the answer read back without any
 * normalisation.
 */

/** A response as it came off the socket; header names lower-cased, duplicates kept in `headerList`. */
export interface RawAnswer {
  readonly status: number;
  readonly headerList: readonly [string, string][];
  /** Lower-cased name → value; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** Every byte received, head included, as latin1 text: for "never leaks" checks. */
  readonly raw: string;
}

/**
 * Writes `request` to `baseUrl`'s host and port and reads one response: complete when its
 * Content-Length or last chunk has arrived, or when the server closes. Servers may answer early
 * (413, 431) and reset while the request is still being written: what arrived is kept.
 */
export function sendRaw(baseUrl: string, request: Buffer, timeoutMs = 20_000): Promise<RawAnswer> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let done = false;
    const socket = connect(Number(port), hostname);
    const finish = (err?: Error) => {
      if (done) return;
      const parsed = parseAnswer(Buffer.concat(chunks), true);
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (parsed) resolve(parsed);
      else {
        const got = Buffer.concat(chunks).toString('latin1').slice(0, 300);
        reject(
          err ?? new Error(`no complete HTTP response from ${baseUrl}; received ${JSON.stringify(got)}`),
        );
      }
    };
    const timer = setTimeout(
      () => finish(new Error(`no complete HTTP response within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      const parsed = parseAnswer(Buffer.concat(chunks), false);
      if (parsed && !done) {
        done = true;
        clearTimeout(timer);
        socket.destroy();
        resolve(parsed);
      }
    });
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish());
    socket.on('connect', () => {
      // Errors (EPIPE after an early answer) surface on 'error' and end in finish().
      socket.write(request, () => {});
    });
  });
}

/** Parses a complete response; undefined while incomplete (or when `closed` and still unreadable). */
function parseAnswer(data: Buffer, closed: boolean): RawAnswer | undefined {
  const split = data.indexOf('\r\n\r\n');
  if (split === -1) return undefined;
  const head = data.subarray(0, split).toString('latin1');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
  if (!status) return undefined;
  const headerList: [string, string][] = [];
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headerList.push([name, value]);
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  const rest = data.subarray(split + 4);
  let body: Buffer | undefined;
  const length = headers['content-length'];
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(rest);
  else if (length !== undefined && /^\d+$/.test(length)) {
    if (rest.length >= Number(length)) body = rest.subarray(0, Number(length));
  } else if (status === 204 || status === 304) body = Buffer.alloc(0);
  if (body === undefined && closed) body = rest;
  if (body === undefined) return undefined;
  return { status, headerList, headers, body, raw: data.toString('latin1') };
}

/** A complete chunked body, decoded; undefined until the last chunk has arrived. */
function dechunk(data: Buffer): Buffer | undefined {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol === -1) return undefined;
    const size = Number.parseInt(data.subarray(at, eol).toString('latin1'), 16);
    if (Number.isNaN(size)) return undefined;
    if (size === 0) return Buffer.concat(out);
    if (data.length < eol + 2 + size + 2) return undefined;
    out.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}
