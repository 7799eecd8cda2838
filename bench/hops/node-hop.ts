// The bare Node hop: node:http in front of undici, nothing else (no framework, no pipeline). The
// body is read whole and forwarded, the answer read whole and relayed, with the same header
// handling and pool settings as Keybrake (src/proxy/upstreams.ts). Prints `{"port":N}` on stdout.
// Usage: node bench/hops/node-hop.ts <upstream-url>
import { createServer } from 'node:http';
import { Pool } from 'undici';
import { downstreamHeaders, upstreamHeaders } from '../../src/proxy/upstreams.ts';
import { HOP_AUTHORIZATION, HOP_POOL_OPTIONS } from './common.ts';

const upstream = new URL(process.argv[2] ?? '');
const pool = new Pool(upstream.origin, HOP_POOL_OPTIONS);

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = chunks.length === 0 ? null : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    pool
      .request({
        method: req.method as 'GET',
        path: req.url ?? '/',
        headers: { ...upstreamHeaders(req.headers, HOP_AUTHORIZATION), host: upstream.host },
        body,
      })
      .then(async (up) => {
        const answer = Buffer.from(await up.body.arrayBuffer());
        res.writeHead(up.statusCode, { ...downstreamHeaders(up.headers), 'content-length': answer.length });
        res.end(answer);
      })
      .catch(() => {
        res.writeHead(502, { 'content-length': 0 });
        res.end();
      });
  });
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(
    `${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`,
  );
});
process.on('SIGTERM', () => {
  server.close(() => void pool.close().then(() => process.exit(0)));
  server.closeAllConnections();
});
