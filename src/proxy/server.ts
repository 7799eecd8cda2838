import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { VendorName } from '../snapshot/types.ts';
import type { CallResponse, IncomingCall } from './context.ts';

/** One HTTP listener in front of the pipeline: the prefix router, or a vendor's own port. */
export interface ListenerOptions {
  /** Calls on this listener are for this vendor (stripe-node cannot add a path prefix). */
  readonly vendor?: VendorName;
  readonly bodyLimit: number;
}

const EMPTY = Buffer.alloc(0);

/**
 * The HTTP layer only adapts requests to the pipeline: bodies stay raw bytes (forwarded unchanged,
 * parsed by the vendor adapter), and every error fastify itself raises is routed back through the
 * pipeline so that it, too, is answered in the vendor's shape and audited.
 */
export function createProxyListener(
  handle: (call: IncomingCall) => Promise<CallResponse>,
  opts: ListenerOptions,
): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimit,
    routerOptions: { maxParamLength: 8192 },
    return503OnClosing: true,
    // Bad percent-encoding or an unroutable target still gets a vendor-shaped answer.
    frameworkErrors: (error, req, reply) => {
      void dispatch(req, reply, error.code === 'FST_ERR_CTP_BODY_TOO_LARGE');
    },
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const dispatch = async (req: FastifyRequest, reply: FastifyReply, bodyTooLarge = false) => {
    const res = await handle({
      ...(opts.vendor !== undefined ? { portVendor: opts.vendor } : {}),
      method: req.method,
      url: req.raw.url ?? '/',
      headers: req.headers,
      rawHeaders: req.raw.rawHeaders,
      body: Buffer.isBuffer(req.body) ? req.body : EMPTY,
      bodyTooLarge,
    });
    return reply.code(res.status).headers(res.headers).send(res.body);
  };

  app.all('/*', (req, reply) => dispatch(req, reply));
  app.setNotFoundHandler((req, reply) => dispatch(req, reply));
  app.setErrorHandler((error: { code?: string }, req, reply) =>
    dispatch(req, reply, error.code === 'FST_ERR_CTP_BODY_TOO_LARGE'),
  );
  return app;
}
