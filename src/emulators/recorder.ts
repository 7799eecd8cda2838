import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';

/**
 * Shared plumbing for the vendor emulators that stand in for Stripe, Twilio and Resend in tests, the
 * demo and the benchmark: record every request exactly as it reached "upstream", read bodies, answer
 * JSON, listen and close.
 */

/** One request an emulator received: what the proxy actually forwarded (headers and exact body). */
export interface RecordedRequest {
  readonly method: string;
  /** Path with the query string, as received. */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** Keeps every request in arrival order; `reset` empties the same array, so references stay valid. */
export interface Recorder {
  readonly requests: RecordedRequest[];
  record(req: IncomingMessage, body: Buffer): RecordedRequest;
  reset(): void;
}

export function createRecorder(): Recorder {
  const requests: RecordedRequest[] = [];
  return {
    requests,
    record(req, body) {
      const r: RecordedRequest = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: { ...req.headers },
        body: body.toString('utf8'),
      };
      requests.push(r);
      return r;
    },
    reset() {
      requests.length = 0;
    },
  };
}

/** Reads a whole request body, refusing (rejecting) beyond `maxBytes`. */
export async function readBody(req: IncomingMessage, maxBytes = 1 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > maxBytes) throw new Error(`request body over ${maxBytes} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Listens on 127.0.0.1 (port 0: any free port) and resolves the port actually bound. */
export function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/** Closes the server, dropping idle keep-alive connections so tests do not hang on close. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}

/** What every emulator hands back: where it listens, what it received, and how to stop it. */
export interface EmulatorHandle {
  readonly url: string;
  readonly port: number;
  /** Every request received, in order (method, path with query, headers, exact body). */
  readonly requests: RecordedRequest[];
  /** Forgets recorded requests; the objects the emulator stores stay. */
  reset(): void;
  close(): Promise<void>;
}

/** Starts listening and returns the shared handle for an emulator's server and recorder. */
export async function serveEmulator(server: Server, recorder: Recorder, port = 0): Promise<EmulatorHandle> {
  const bound = await listen(server, port);
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    requests: recorder.requests,
    reset: () => recorder.reset(),
    close: () => closeServer(server),
  };
}
