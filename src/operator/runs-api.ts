import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Clock } from '../clock.ts';
import type { RunStopStore } from '../counters/store.ts';
import type { Caller, ReviewAccess, ReviewCaller, RunAccess } from '../distribution/access-review.ts';
import type { SnapshotServer } from '../distribution/server.ts';
import { keysByName } from '../snapshot/run-keys.ts';
import type { Snapshot } from '../snapshot/types.ts';
import type { Log } from '../telemetry/logger.ts';
import { sourceWarning } from '../telemetry/source-warnings.ts';
import { carriesToken, holdsTokenShape, presentedCredentials, tokenPrefixesOf } from '../tokens/redact.ts';
import {
  isRunApiError,
  MAX_RUN_REQUEST_BYTES,
  parseRunPath,
  parseRunStart,
  RUNS_PATH,
  type RunApiError,
  runApiError,
  startRun,
  stoppedRun,
  tooManyStoppedRuns,
} from '../tokens/run-api.ts';

const KEY_IN_RUN_ID = runApiError(400, 'invalid_request', 'A run id must not carry a Keybrake key.');
/**
 * A stop Redis did not record (twelfth round): in force on the proxies connected now, but unknown
 * to the next leader's index, the reserve script's record and every proxy that connects later, so
 * not a 200 (`serve` answers its own store's failure so too). Retryable: a stop taken twice costs
 * nothing, and the runner's retry records it once Redis answers.
 */
const STOP_NOT_RECORDED = runApiError(
  503,
  'counter_store_unavailable',
  'The run is stopped on the proxies connected now, but Redis could not record the stop for the next leader and the proxies that connect later: retry.',
);
/**
 * The listener's gate (server.ts) answers a standby with the same error: the runner retries it
 * through the Service, which routes to the leader (eleventh round).
 */
const NOT_LEADER = runApiError(
  503,
  'not leader',
  'This operator stopped leading while it handled the request; retry: the Service routes to the new leader.',
);

/** What the operator's run API needs: its snapshot, who the caller is and may do, where stops go. */
export interface OperatorRunsApiOptions {
  /** The operator's compiled snapshot (it holds the run secrets). */
  readonly snapshot: () => Snapshot | undefined;
  readonly reviewCaller: ReviewCaller;
  readonly reviewAccess: ReviewAccess;
  /**
   * Whether this replica leads now. The listener asks before the handler runs, but the reviews are
   * round trips to the apiserver, during which the Lease may pass to another replica: asked again
   * after every await (eleventh round: a stop taken by an ex-leader reached no proxy and answered 200).
   */
  readonly isLeader: () => boolean;
  /**
   * Whether a key missing from the table is one this replica is about to serve (Operator.pendingKey:
   * right after a failover, until its namespace's claim is confirmed): answered 503 not_ready, which
   * the runner retries, rather than 404 key_unknown. Absent: never.
   */
  readonly pendingKey?: (namespace: string, name: string) => boolean;
  /** The snapshot stream: stops go to every proxy, acknowledged. */
  readonly server: Pick<SnapshotServer, 'stopRuns' | 'isStopped' | 'stopBoundReached'>;
  /** With --redis: the record the reserve script checks, and the index a new leader reads. */
  readonly stopStore?: RunStopStore;
  readonly clock: Clock;
  readonly log: Log;
}

/**
 * The run API on the operator's HTTPS listener (ADR 0010), the same routes as `serve`'s admin
 * listener: `POST /v1/runs` and `DELETE /v1/runs/<ns>/<name>/<runId>`. The caller presents its own
 * bearer token (a ServiceAccount token with audience `keybrake`), authenticated by TokenReview (401
 * otherwise); RBAC decides, by a SubjectAccessReview of `create` (start) or `delete` (stop) on the
 * VaultKey's `runs` subresource (403 otherwise). A stop answers once every connected proxy has
 * acknowledged it, or after the stream's ack timeout, saying how many did.
 */
export function createOperatorRunsApi(opts: OperatorRunsApiOptions) {
  const { log, clock } = opts;
  // A line per refusal would be a log flood at the rate a client sends junk bearers.
  const unavailable = sourceWarning(log, 'cannot review a run API caller');

  /** TokenReview of the caller's bearer token: who is asking (401 when nobody the cluster knows). */
  const authenticate = async (req: IncomingMessage): Promise<RunApiError | Caller> => {
    const header = req.headers.authorization;
    const bearer = typeof header === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)?.[1] : undefined;
    if (!bearer)
      return runApiError(
        401,
        'unauthenticated',
        'Present a ServiceAccount token: Authorization: Bearer <token>.',
      );
    const source = req.socket.remoteAddress ?? '';
    try {
      const verdict = await opts.reviewCaller(bearer, source);
      return verdict.ok ? verdict.caller : runApiError(401, 'unauthenticated', verdict.message);
    } catch (err) {
      unavailable(source, { error: (err as Error).message });
      return runApiError(503, 'review_unavailable', 'The apiserver could not review the caller; retry.');
    }
  };

  /** SubjectAccessReview: may the caller do this to the key's runs (403 when RBAC says no)? */
  const authorize = async (caller: Caller, access: RunAccess): Promise<RunApiError | undefined> => {
    try {
      if (await opts.reviewAccess(caller, access)) return undefined;
    } catch (err) {
      log.warn({ error: (err as Error).message }, 'cannot review a run API caller');
      return runApiError(503, 'review_unavailable', 'The apiserver could not review the caller; retry.');
    }
    log.warn({ user: caller.username, ...access }, 'run API refused by RBAC');
    return runApiError(
      403,
      'forbidden',
      `${caller.username} may not ${access.verb} vaultkeys/runs of ${access.namespace}/${access.name}.`,
    );
  };

  const keyOf = (namespace: string, name: string) => {
    const snapshot = opts.snapshot();
    if (!snapshot) return runApiError(503, 'not_ready', 'The operator has not compiled a snapshot yet.');
    const key = keysByName(snapshot).get(`${namespace}/${name}`);
    if (key) return key;
    if (opts.pendingKey?.(namespace, name))
      return runApiError(
        503,
        'not_ready',
        `The operator does not serve namespace ${namespace} yet (its claim is confirmed after a change of leader); retry.`,
      );
    return runApiError(404, 'key_unknown', 'No such vault key is served.');
  };

  // A run id goes into every record and span of the run: never a Keybrake key (ADR 0007 §1).
  // So is the caller's own bearer token (a probe had the presented token minted into a run id).
  const carriesKey = (runId: string, req: IncomingMessage) =>
    presentedCredentials(req.headers.authorization).some((t) => carriesToken(runId, t)) ||
    holdsTokenShape(runId, tokenPrefixesOf(opts.snapshot()));
  const start = async (req: IncomingMessage, res: ServerResponse) => {
    const caller = await authenticate(req);
    if (isRunApiError(caller)) return send(res, caller);
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch (err) {
      return send(
        res,
        (err as Error).message === 'too large'
          ? runApiError(413, 'invalid_request', `The request body is over ${MAX_RUN_REQUEST_BYTES} bytes.`)
          : runApiError(400, 'invalid_request', 'The request body is not JSON.'),
      );
    }
    const parsed = parseRunStart(body);
    if (isRunApiError(parsed)) return send(res, parsed);
    if (parsed.runId !== undefined && carriesKey(parsed.runId, req)) return send(res, KEY_IN_RUN_ID);
    const denied = await authorize(caller, {
      verb: 'create',
      namespace: parsed.namespace,
      name: parsed.name,
    });
    if (denied) return send(res, denied);
    // An ex-leader's table and stops may be behind the new leader's (a run id it stopped meanwhile).
    if (!opts.isLeader()) return send(res, NOT_LEADER);
    const parent = keyOf(parsed.namespace, parsed.name);
    if (isRunApiError(parent)) return send(res, parent);
    // A run that could not be stopped is not started, nor one of a key holding its share of the stops.
    const bound = opts.server.stopBoundReached(parent.key.uid, 'start');
    if (bound) return send(res, tooManyStoppedRuns(bound));
    const started = startRun(parent, parsed, clock.now(), {
      isStopped: (s, r) => opts.server.isStopped(s, r),
    });
    if (isRunApiError(started)) return send(res, started);
    log.info(
      {
        user: caller.username,
        vaultKey: started.vaultKey,
        runId: started.runId,
        expiresAt: started.expiresAt,
        capUsd: started.capUsd,
      },
      'run started',
    );
    return reply(res, 201, started);
  };

  const stop = async (req: IncomingMessage, res: ServerResponse, path: string) => {
    const received = performance.now();
    const caller = await authenticate(req);
    if (isRunApiError(caller)) return send(res, caller);
    const ref = parseRunPath(path);
    if (!ref)
      return send(
        res,
        runApiError(404, 'not_found', `Expected DELETE ${RUNS_PATH}/<namespace>/<vaultkey>/<runId>.`),
      );
    if (carriesKey(ref.runId, req)) return send(res, KEY_IN_RUN_ID);
    const denied = await authorize(caller, { verb: 'delete', namespace: ref.namespace, name: ref.name });
    if (denied) return send(res, denied);
    // A standby has no streams and the next leader never hears of its stops: the stop would answer
    // 200 with `proxies: 0` and reach nobody (eleventh round). Retried, it reaches the leader.
    if (!opts.isLeader()) return send(res, NOT_LEADER);
    const parent = keyOf(ref.namespace, ref.name);
    if (isRunApiError(parent)) return send(res, parent);
    const run = stoppedRun(parent.key, ref.runId, clock.now());
    const vaultKey = `${ref.namespace}/${ref.name}`;
    // A run stopped already costs nothing more; a new stop only below the bounds (refused loudly,
    // not logged: a line per refusal would be unbounded again).
    const bound = opts.server.isStopped(run.scope, run.runId)
      ? undefined
      : opts.server.stopBoundReached(run.scope, 'stop');
    if (bound) return send(res, tooManyStoppedRuns(bound));
    const reviewed = performance.now();
    const [redis, stream] = await Promise.all([
      opts.stopStore
        ? opts.stopStore.stopRun(run).then(
            (outcome) => (outcome === 'stopped' ? ('recorded' as const) : ('too_many' as const)),
            (err: Error) => {
              log.warn({ vaultKey, runId: ref.runId, error: err.message }, 'run stop not recorded in Redis');
              return 'failed' as const;
            },
          )
        : ('none' as const),
      opts.server.stopRuns([run]),
    ]);
    const reviewMs = Math.round((reviewed - received) * 10) / 10;
    const propagationMs = Math.round((performance.now() - reviewed) * 10) / 10;
    // The Lease ran out while the stop waited for acks: the streams were closed, maybe before every
    // proxy had it, and the next leader knows it only from Redis. Without that record, 200 would
    // promise a stop that may have reached nobody: the runner retries it on the new leader instead
    // (a stop taken twice costs nothing).
    const lost = !opts.isLeader() && redis !== 'recorded';
    const unrecorded = redis === 'failed';
    const fields = {
      user: caller.username,
      vaultKey,
      runId: ref.runId,
      ...stream,
      redis,
      reviewMs,
      propagationMs,
    };
    if (lost)
      log.warn(fields, 'run stop not confirmed: this operator stopped leading meanwhile (503, retried)');
    else if (unrecorded) log.warn(fields, 'run stop not confirmed: Redis did not record it (503, retried)');
    else log.info(fields, 'run stopped');
    // Stops by an earlier leader, or relayed from Redis, may have reached the key's bound there first.
    if (redis === 'too_many') return send(res, tooManyStoppedRuns('key', 'the proxies connected now'));
    if (lost) return send(res, NOT_LEADER);
    if (unrecorded) return send(res, STOP_NOT_RECORDED);
    return reply(res, 200, {
      runId: ref.runId,
      vaultKey,
      stoppedUntil: new Date(run.until).toISOString(),
      proxies: stream.proxies,
      acknowledged: stream.acknowledged,
      redis,
    });
  };

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '').split('?', 1)[0]!;
    if (path === RUNS_PATH && req.method === 'POST') return start(req, res);
    if (path.startsWith(`${RUNS_PATH}/`) && req.method === 'DELETE') return stop(req, res, path);
    return send(
      res,
      runApiError(404, 'not_found', `Expected POST ${RUNS_PATH} or DELETE ${RUNS_PATH}/<ns>/<name>/<runId>.`),
    );
  };
}

function reply(res: ServerResponse, status: number, body: unknown, close = false): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...(close && { connection: 'close' }),
  });
  res.end(text);
}

function send(res: ServerResponse, e: RunApiError): void {
  // A kept-alive connection goes on reaching this replica: the client's retry of a `not leader`
  // must open a new one, which the Service routes to the leader (eleventh round).
  reply(res, e.status, { error: e.error, message: e.message }, e === NOT_LEADER);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_RUN_REQUEST_BYTES) throw new Error('too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
