// The benchmark's upstream: the fastest honest stand-in for Stripe, run as its own process so that
// its CPU is not counted against the load generator. It answers every call at once with a small,
// fixed Stripe-shaped object (a charge for POST, an empty list otherwise) and prints its port as one
// JSON line on stdout. Not the full emulator: parsing and bookkeeping there would slow the baseline.
import { createServer } from 'node:http';

const CHARGE = JSON.stringify({ id: 'ch_1', object: 'charge', amount: 100, currency: 'usd' });
const LIST = JSON.stringify({ object: 'list', data: [], has_more: false, url: '/v1/customers' });

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const body = req.method === 'POST' ? CHARGE : LIST;
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'request-id': 'req_bench',
    });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
