// The bare fastify hop: a baseline for what one HTTP hop through Node costs, with nothing of
// Keybrake's pipeline. As thin as Keybrake's listener (src/proxy/server.ts): fastify with every
// content type read as a raw buffer, the same undici pool settings as src/proxy/upstreams.ts, the
// same header handling (upstreamHeaders/downstreamHeaders: hop-by-hop headers dropped, the
// credential swapped), the body forwarded unchanged and the answer read whole before it is relayed.
// Prints `{"port":N}` on stdout once it listens. Usage: node bench/hops/fastify-hop.ts <upstream-url>
import Fastify from 'fastify';
import { Pool } from 'undici';
import { downstreamHeaders, upstreamHeaders } from '../../src/proxy/upstreams.ts';
import { HOP_AUTHORIZATION, HOP_POOL_OPTIONS } from './common.ts';

const upstream = new URL(process.argv[2] ?? '');
const pool = new Pool(upstream.origin, HOP_POOL_OPTIONS);
const EMPTY = Buffer.alloc(0);

const app = Fastify({ logger: false, bodyLimit: 256 * 1024 });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
app.all('/*', async (req, reply) => {
  const body = Buffer.isBuffer(req.body) ? req.body : EMPTY;
  try {
    const res = await pool.request({
      method: req.method as 'GET',
      path: req.raw.url ?? '/',
      headers: { ...upstreamHeaders(req.headers, HOP_AUTHORIZATION), host: upstream.host },
      body: body.length > 0 ? body : null,
    });
    const answer = Buffer.from(await res.body.arrayBuffer());
    return reply.code(res.statusCode).headers(downstreamHeaders(res.headers)).send(answer);
  } catch {
    return reply.code(502).send(EMPTY);
  }
});

await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(
  `${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`,
);
process.on('SIGTERM', () => {
  void app.close().then(() => pool.close().then(() => process.exit(0)));
});
