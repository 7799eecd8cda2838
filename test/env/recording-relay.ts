// A recording HTTP pass-through for upstreams that keep no request log (stripe-mock): put it between
// Keybrake and the upstream and it tells a test exactly what reached "the vendor". Deliberately tiny and
// independent of Keybrake's code: node:http in, node:http out, bytes unchanged.
import { Agent, createServer, type IncomingHttpHeaders, request } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as it reached the upstream, and the status the upstream answered. */
export interface RelayedRequest {
  readonly method: string;
  /** Path with the query string, as received. */
  readonly path: string;
  /** Header names lower-cased, as node:http gives them. */
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The upstream's status; undefined until it answers (or when it could not be reached). */
  status?: number;
}

export interface RecordingRelay {
  /** `http://127.0.0.1:<port>`: give this to Keybrake as the vendor's upstream. */
  readonly url: string;
  /** Every request in arrival order (the array is appended to in place). */
  readonly requests: RelayedRequest[];
  close(): Promise<void>;
}

export async function startRecordingRelay(target: string): Promise<RecordingRelay> {
  const to = new URL(target);
  const agent = new Agent({ keepAlive: true });
  const requests: RelayedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const rec: RelayedRequest = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: { ...req.headers },
        body: body.toString('utf8'),
      };
      requests.push(rec);
      const up = request(
        {
          host: to.hostname,
          port: to.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: to.host },
          agent,
        },
        (upRes) => {
          rec.status = upRes.statusCode;
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
