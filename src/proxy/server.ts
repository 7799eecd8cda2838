import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { type Denial, type DenyReason, deny } from '../decision/reasons.ts';
import { createBoundedServer } from '../listener/bounded-server.ts';
import { headersTimeoutMs, type ListenerLimits } from '../listener/limits.ts';
import { VENDORS, type VendorName } from '../snapshot/types.ts';
import type { Log } from '../telemetry/logger.ts';
import { watchedBody } from './answer-progress.ts';
import { AnswerQueue } from './answer-queue.ts';
import { ClientCalls } from './client-calls.ts';
import type { CallResponse, IncomingCall } from './context.ts';
import { EndingConnections } from './ending-connections.ts';
import type { HeldAnswers } from './held-answers.ts';
import type { InFlight } from './in-flight.ts';
import { rawResponse } from './respond.ts';

/** One HTTP listener in front of the pipeline: the prefix router, or a vendor's own port. */
export interface ListenerOptions {
  /** Calls on this listener are for this vendor (stripe-node cannot add a path prefix). */
  readonly vendor?: VendorName;
  readonly bodyLimit: number;
  readonly limits: ListenerLimits;
}

/** What a listener hands calls to: the pipeline, its refusals, the in-flight count. */
export interface ListenerDeps {
  /** The pipeline (never throws). */
  handle(call: IncomingCall): Promise<CallResponse>;
  /**
   * A vendor-shaped, audited answer to a call stopped before the pipeline (refuse.ts); undefined
   * while the audit sink holds its hard bound: the request is then not answered, and its connection
   * is closed after the answers before it (closeUnanswered).
   */
  refuse(call: IncomingCall, denial: Denial): CallResponse | undefined;
  readonly calls: InFlight;
  /** Where the vendor's answers count against their keys until their clients have taken them. */
  readonly heldAnswers: HeldAnswers;
  readonly log: Log;
}

/** A listener with its lifecycle in the runtime's hands: it drains rather than just closing. */
export interface ProxyListener {
  readonly server: Server;
  listen(addr: { host: string; port: number }): Promise<void>;
  /**
   * Stops accepting connections. Open ones stay, with their timeouts: a call on one is answered
   * 503 shutting_down rather than finding the connection reset.
   */
  stopAccepting(): void;
  /** Closes every connection, the node server and the fastify instance. */
  close(): Promise<void>;
}

const EMPTY = Buffer.alloc(0);

/**
 * Calls one connection may have under way at once: SDKs send one at a time; a client pipelining
 * more has the next refused (request_invalid) and its connection closed after the answers before it.
 */
export const MAX_PIPELINED = 8;

/**
 * The HTTP layer only adapts requests to the pipeline: bodies stay raw bytes (forwarded unchanged,
 * parsed by the vendor adapter), and everything node or fastify would otherwise answer on its own
 * (parser errors, timeouts, fastify's errors, shutdown) is answered in the vendor's shape, with the
 * decision header, and audited (ADR 0007 §9).
 */
export function createProxyListener(deps: ListenerDeps, opts: ListenerOptions): ProxyListener {
  const { handle, refuse, calls, heldAnswers, log } = deps;
  const { limits } = opts;
  const portVendor = opts.vendor !== undefined ? { portVendor: opts.vendor } : {};
  const callOf = (req: IncomingMessage): IncomingCall => ({
    ...portVendor,
    method: req.method ?? '',
    url: req.url ?? '',
    headers: req.headers,
    // The run id a refusal records is judged as the pipeline judges it: duplicates are visible here.
    rawHeaders: req.rawHeaders,
    body: EMPTY,
  });
  const headersMs = headersTimeoutMs(limits);
  const timeoutMessage = `The request did not arrive in time: this proxy allows ${headersMs} ms for the headers and ${limits.clientTimeoutMs} ms for the whole request.`;
  const headersMessage = `The request line and headers are larger than this proxy's limit of ${limits.maxHeaderBytes} bytes.`;
  const messageFor = (reason: DenyReason) =>
    reason === 'request_timeout'
      ? timeoutMessage
      : reason === 'headers_too_large'
        ? headersMessage
        : undefined;
  /**
   * Connections whose last answer is decided: nothing pipelined behind it is served, answered or
   * parsed (ending-connections.ts). Past --max-body bytes behind it the connection is closed: the
   * refused request's own body fits, and no client pipelines more behind an answer that closes.
   */
  const ending = new EndingConnections({ maxBehind: MAX_PIPELINED, maxDroppedBytes: opts.bodyLimit });
  const clientCalls = new ClientCalls();
  const answers = new AnswerQueue();
  /** Requests a client error cut off before their body arrived: refused, never handed to the pipeline. */
  const refused = new WeakSet<IncomingMessage>();
  /** Requests the pipeline answers before their body has arrived (one too large): theirs is the answer. */
  const answeredEarly = new WeakSet<IncomingMessage>();
  /**
   * The bytes read on each connection when node last handed a request over. Unchanged at a parser
   * error, the packet node hands with it holds bytes of that earlier request too, ahead of the
   * failing one's: what it starts with is not the failing request's method and target.
   */
  const readAtRequest = new WeakMap<Socket, number>();
  /** The request node handed over last on each connection: the one whose body it may still be reading. */
  const lastRequest = new WeakMap<Socket, IncomingMessage>();
  const surfaced = (socket: Socket, res: ServerResponse) => {
    answers.add(socket, res);
    readAtRequest.set(socket, socket.bytesRead);
    lastRequest.set(socket, res.req);
  };

  /** Writes a refusal through node's response object; the connection ends with it. */
  const send = (res: ServerResponse, answer: CallResponse) => {
    ending.add(res.req.socket);
    const body = typeof answer.body === 'string' ? Buffer.from(answer.body) : answer.body;
    res.writeHead(answer.status, {
      ...answer.headers,
      'content-length': String(body.length),
      connection: 'close',
    });
    res.end(body);
  };
  /**
   * Ends a connection without answering its newest request (`own`, if node handed it over), once
   * the answers before it are written: the refusal the audit sink had no room to record (refuse.ts).
   * Nothing more is parsed from the connection meanwhile, so it makes no more refusals either.
   */
  const closeUnanswered = (socket: Socket, own?: ServerResponse) => {
    ending.add(socket);
    answers.afterOpen(socket, () => socket.destroy(), own);
  };
  /** A refusal written through node's response object, or the connection closed unanswered. */
  const refuseWith = (res: ServerResponse, answer: CallResponse | undefined) => {
    if (answer !== undefined) send(res, answer);
    else closeUnanswered(res.req.socket, res);
  };

  let fastifyHandler: (req: IncomingMessage, res: ServerResponse) => void = () => {};
  /**
   * Calls under way on each connection. Node hands on every request it parses, pipelined ones too,
   * at once: 300 calls in one write all reached the upstream together, and 40 of them holding 2 MB
   * answers for a client that never read grew the proxy by 120 MB (an adversarial probe). Past
   * MAX_PIPELINED a call is refused, and its connection closed once the answers before it are sent.
   * Queueing them instead (an earlier fix) held every parsed request in memory, sent them all once
   * the client was gone, and let a queued body's timeout answer for the call before it.
   */
  const underWay = new WeakMap<Socket, number>();
  const server = createBoundedServer(
    limits,
    // A missing Host is refused below, in the vendor's shape, instead of by node's bare 400.
    { listener: opts.vendor ?? 'main', log, requireHostHeader: false, allowHalfOpen: true },
    (req, res) => {
      const socket = req.socket;
      if (ending.has(socket)) return dropBehindEnd(req);
      surfaced(socket, res);
      const running = underWay.get(socket) ?? 0;
      if (running >= MAX_PIPELINED) {
        calls.track(res);
        refuseWith(
          res,
          refuse(
            callOf(req),
            deny(
              'request_invalid',
              `More than ${MAX_PIPELINED} calls pipelined on one connection: wait for answers, or use more connections.`,
            ),
          ),
        );
        return;
      }
      underWay.set(socket, running + 1);
      res.once('close', () => underWay.set(socket, (underWay.get(socket) ?? 1) - 1));
      // An upgrade request without a body has arrived with its head: its connection's end is
      // decided now, before node parses another read (dispatch says why).
      if (req.headers.upgrade !== undefined && !declaresBody(req)) ending.add(socket);
      calls.track(res);
      serveCall(req, res);
    },
  );
  function serveCall(req: IncomingMessage, res: ServerResponse): void {
    // Decided at once, so that the connection's end is too: written after the answers before it.
    if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor === 1) {
      refuseWith(
        res,
        refuse(callOf(req), deny('request_invalid', 'An HTTP/1.1 request must carry a Host header.')),
      );
      return;
    }
    // One call of a connection at a time: the next is handled once every answer before it has
    // been handed whole to the kernel (or its connection is gone, and it is dropped unsent). A
    // client that stops reading then holds at most one answer here, and gets no more forwarded:
    // 8 pipelined reads of 2.5 MB answers on each of 60 connections never read had all been
    // forwarded, their 1.2 GB of answers held until the idle timeout (ninth round).
    answers.afterOpen(
      req.socket,
      () => {
        if (calls.draining) refuseWith(res, refuse(callOf(req), deny('shutting_down', calls.drainMessage)));
        else fastifyHandler(req, res);
      },
      res,
    );
  }
  /**
   * A request node parsed behind its connection's last answer, from the bytes it had read with it:
   * recorded, never served or answered; past MAX_PIPELINED of them the connection is closed instead.
   * While the audit sink holds its hard bound it is not recorded either, only counted (refuse.ts).
   */
  const dropBehindEnd = (req: IncomingMessage) => {
    if (!ending.behind(req.socket)) return;
    void refuse(
      callOf(req),
      deny(
        'request_invalid',
        'Pipelined behind an answer that closes its connection: not served, and never answered.',
      ),
    );
  };
  const serverClosed = new Promise<void>((resolve) => server.once('close', () => resolve()));

  /**
   * Writes a refusal that ends its connection, once every call before it on the connection has its
   * answer written (`own`: the refused request's own response, which never is). The socket is then
   * destroyed, as node does: no later byte of it is parsed as a request.
   */
  const answerLast = (socket: Socket, answer: CallResponse | undefined, own?: ServerResponse) =>
    answers.afterOpen(
      socket,
      () => {
        // Undefined: the audit sink had no room to record it, and it is closed unanswered (refuse.ts).
        if (answer !== undefined && socket.writable) socket.write(rawResponse(answer));
        socket.destroy();
      },
      own,
    );

  // Node's own answers (a bare 400, 408 or 431) replaced by the vendor's shape, audited, as the
  // answer to the request node was reading: the one whose body it was in, else one it had not
  // handed over yet. Not to a call before it still being handled: that one is answered first.
  server.on('clientError', (err: Error & { code?: string; rawPacket?: Buffer }, socket: Socket) => {
    if (ending.has(socket)) return;
    const reason = clientErrorReason(err.code);
    if (reason === undefined) {
      // A reset or a broken pipe: the client is gone and there is nothing to answer.
      socket.destroy();
      return;
    }
    ending.add(socket);
    const newest = answers.newest(socket);
    const cut = newest !== undefined && !newest.req.complete ? newest : undefined;
    if (cut !== undefined && (cut.writableEnded || answeredEarly.has(cut.req))) {
      // That call has its answer already (refused, or its body too large): the connection ends after it.
      answers.afterOpen(socket, () => socket.destroy());
      return;
    }
    // The same once that answer is written and gone from the queue: a request answered before its
    // body arrived (a Content-Type that is no media type, whose body node goes on reading by its
    // framing) whose body then times out or breaks its framing. Answered again, it got a 408 or a
    // request_invalid and a record of no call (eleventh round): one request, one answer, one record.
    const last = lastRequest.get(socket);
    if (cut === undefined && last !== undefined && !last.complete && answeredEarly.has(last)) {
      answers.afterOpen(socket, () => socket.destroy());
      return;
    }
    // Its body, should it still arrive, must not make it a call after all (dispatch below).
    if (cut !== undefined) refused.add(cut.req);
    const packet = readAtRequest.get(socket) === socket.bytesRead ? undefined : err.rawPacket;
    const call = cut !== undefined ? callOf(cut.req) : callFromPacket(packet, opts.vendor);
    answerLast(socket, refuse(call, deny(reason, messageFor(reason))), cut);
  });
  // CONNECT would otherwise close the connection without a word. Node has stopped reading the
  // connection; the calls pipelined before it are answered first.
  server.on('connect', (req: IncomingMessage, socket: Socket) => {
    const answer = refuse(
      { ...callOf(req), url: '' },
      deny('request_invalid', 'Keybrake does not accept CONNECT.'),
    );
    answerLast(socket, answer);
  });
  // An Expect other than 100-continue, which node would answer with a bare 417.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    if (ending.has(req.socket)) return dropBehindEnd(req);
    surfaced(req.socket, res);
    calls.track(res);
    refuseWith(
      res,
      refuse(callOf(req), deny('request_invalid', 'Keybrake accepts no Expect but 100-continue.')),
    );
  });
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimit,
    routerOptions: { maxParamLength: 8192 },
    // The runtime drains the listener itself: fastify's own 503 is neither vendor-shaped nor audited.
    return503OnClosing: false,
    // The clientError handler above answers every client error; fastify's default would write its
    // bare 400 at once, over the answers of the calls before it that the refusal waits for.
    clientErrorHandler: () => {},
    // The node server above, with its limits; fastify only routes its requests.
    serverFactory: (handler) => {
      fastifyHandler = handler;
      return server;
    },
    // Bad percent-encoding or an unroutable target still gets a vendor-shaped answer.
    frameworkErrors: (error, req, reply) => {
      serve(req, reply, unreadBody(error.code));
    },
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const dispatch = async (req: FastifyRequest, reply: FastifyReply, unread?: UnreadBody): Promise<void> => {
    const raw = req.raw;
    // Answered already: a client error cut it off, and its body arrived after all (a timeout).
    if (refused.has(raw)) {
      reply.hijack();
      return;
    }
    if (!raw.complete) answeredEarly.add(raw);
    const signal = clientCalls.signal(raw.socket, reply.raw);
    // An upgrade request (Keybrake never switches protocols) is its connection's last: node's parser
    // stops at its end, dropping the rest of that read, but parses later reads anew, and a call read
    // there while this one waited for the vendor was forwarded (eighth round). So the end is decided
    // once the request has arrived, before it is handled: at its head when it has no body (above),
    // else here, its body read.
    const upgrade = req.headers.upgrade !== undefined;
    if (upgrade) ending.add(raw.socket);
    // Every call object has the same shape (portVendor undefined on the router): one hidden class.
    const res = await handle({
      portVendor: opts.vendor,
      method: req.method,
      url: raw.url ?? '/',
      headers: req.headers,
      rawHeaders: raw.rawHeaders,
      body: Buffer.isBuffer(req.body) ? req.body : EMPTY,
      bodyTooLarge: unread === 'too_large',
      contentTypeUnreadable: unread === 'content_type',
      signal,
    });
    // A call that began before a shutdown takes its connection with it: no call follows on it, and
    // one pipelined behind it already under way is abandoned unless it has been sent. An upgrade
    // request's answer closes its connection too, whose end is decided above.
    if (calls.draining || upgrade) {
      reply.header('connection', 'close');
      ending.add(raw.socket);
      clientCalls.endAfter(raw.socket, reply.raw);
    }
    // Held whole until node has handed it to the kernel: counted against its key meanwhile.
    if (res.heldBy !== undefined) heldAnswers.holdUntilClosed(reply.raw, res.heldBy, res.body.length);
    // A client that takes no byte of its answer for --client-timeout loses its connection.
    const body = watchedBody(reply.raw, res.body, limits.clientTimeoutMs);
    reply.code(res.status).headers(res.headers);
    // Handed over in pieces: fastify would send a stream chunked.
    if (body instanceof Readable) reply.header('content-length', String(res.body.length));
    reply.send(body);
  };

  /**
   * A call's dispatch, started and not returned to fastify: a handler's promise that resolves to the
   * reply has fastify wait on the reply (reply.then) until the response ends, with two more 'close'
   * listeners on it. With those of a stream answer's pipe and Keybrake's own, an answer over 64 KiB
   * (answer-progress.ts) held 11, past node's 10, and serve wrote a MaxListenersExceededWarning, not
   * JSON, to its log for each such read (tenth round). A failure goes to the error handler, as a
   * rejected handler's does.
   */
  const serve = (req: FastifyRequest, reply: FastifyReply, unread?: UnreadBody): void => {
    dispatch(req, reply, unread).catch((error: unknown) => {
      reply.send(error instanceof Error ? error : new Error(String(error)));
    });
  };

  app.all('/*', (req, reply) => serve(req, reply));
  app.setNotFoundHandler((req, reply) => serve(req, reply));
  app.setErrorHandler((error: { code?: string }, req, reply) => {
    const unread = unreadBody(error.code);
    if (unread !== undefined) return serve(req, reply, unread);
    // Answered and audited already: a body that did not arrive within --client-timeout.
    if (refused.has(req.raw)) return reply.hijack();
    // Any other failure to read the body (the client went away halfway): refused, never forwarded.
    // Its answer closes the connection, so nothing behind it is taken either.
    ending.add(req.raw.socket);
    const answer = refuse(callOf(req.raw), deny('request_invalid', 'The request body did not arrive whole.'));
    if (answer === undefined) {
      // Not recorded (the audit sink is full), so not answered: every call before it has its answer.
      reply.hijack();
      req.raw.socket.destroy();
      return;
    }
    return reply
      .code(answer.status)
      .headers({ ...answer.headers, connection: 'close' })
      .send(answer.body);
  });

  return {
    server,
    async listen(addr) {
      await app.ready();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: addr.host, port: addr.port }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    },
    stopAccepting() {
      // net.Server's close, not http.Server's: that one would also drop idle keep-alive connections
      // (whose next call should get a 503, not a reset) and stop enforcing --client-timeout.
      if (server.listening) NetServer.prototype.close.call(server);
    },
    async close() {
      server.closeAllConnections();
      // Now http.Server's close: it stops the timeout checks; 'close' follows the last connection.
      server.close();
      await serverClosed;
      await app.close();
    },
  };
}

/** Why fastify read no body (or not all of it) for a call the pipeline still answers. */
type UnreadBody = 'too_large' | 'content_type';

/**
 * The fastify errors the pipeline answers, as the parse stage would, rather than the error handler's
 * "did not arrive whole": a body over the limit (body_too_large), and a Content-Type that is no
 * media type at all (empty, `;`, `/`, `a b`), which fastify refuses before any route (eleventh
 * round: answered request_invalid, connection closed, though the body had arrived). No body was
 * read for the latter; node discards it by its framing once the answer is sent, so the connection
 * stays usable; should that body then time out or break its framing, the connection is closed
 * without a second answer (the clientError handler).
 */
function unreadBody(code: string | undefined): UnreadBody | undefined {
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return 'too_large';
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || code === 'FST_ERR_CTP_EMPTY_TYPE') return 'content_type';
  return undefined;
}

/** Whether a request's head announces a body (node has refused a malformed length already). */
function declaresBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/** The refusal for a node-level client error; undefined when there is no one left to answer. */
function clientErrorReason(code: string | undefined): DenyReason | undefined {
  if (code === 'HPE_HEADER_OVERFLOW') return 'headers_too_large';
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'request_timeout';
  // Bad bytes in the request line or a header, a malformed chunk, ambiguous framing, HTTP/2's preface.
  if (code?.startsWith('HPE_')) return 'request_invalid';
  return undefined;
}

/** `METHOD target` at the start of what node was parsing, if that is where it failed. */
const REQUEST_START = /^([!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}) ([^ \r\n]{1,8192})/;
const VENDOR_PREFIX = /^\/+([a-z]+)(?:[/?]|$)/;

/**
 * The call a parser error interrupted, as far as the bytes node was parsing show it: the method, and
 * the vendor the listener or a router prefix names (so the answer still speaks its format). Not the
 * target: with no headers read, nothing says which credential it might carry (a token the user
 * brought has no shape to find), so the audit records an empty path (a probe had a 431 record one).
 */
function callFromPacket(packet: Buffer | undefined, vendor: VendorName | undefined): IncomingCall {
  const m = packet ? REQUEST_START.exec(packet.subarray(0, 8300).toString('latin1')) : null;
  const base = { method: m?.[1] ?? '', url: '', headers: {}, body: EMPTY };
  const named = vendor ?? VENDOR_PREFIX.exec(m?.[2] ?? '')?.[1];
  // Routed as if it had come in on that vendor's port: the shape is the vendor's, the path empty.
  return (VENDORS as readonly string[]).includes(named ?? '')
    ? { ...base, portVendor: named as VendorName }
    : base;
}
