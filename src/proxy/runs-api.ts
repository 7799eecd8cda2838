import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../clock.ts';
import type { RunStopStore } from '../counters/store.ts';
import type { SnapshotHolder } from '../snapshot/holder.ts';
import type { CompiledKey } from '../snapshot/types.ts';
import type { Log } from '../telemetry/logger.ts';
import { carriesToken, holdsTokenShape, tokenPrefixesOf } from '../tokens/redact.ts';
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
import { looksLikeRunToken } from '../tokens/run-token.ts';
import { tokenDigest } from '../tokens/token.ts';
import type { StoppedRuns } from './runs.ts';

/**
 * The run API of `keybrake serve` (ADR 0010), on its admin listener: `POST /v1/runs` mints a run key,
 * `DELETE /v1/runs/<ns>/<name>/<runId>` stops a run. The caller presents the PARENT vault token
 * (`Authorization: Bearer …`): whoever holds a key may hand out narrower children of it, and nobody
 * else may. A run token is refused (a run cannot mint runs, nor stop others). With Redis counters a
 * stop reaches every process sharing them (the reserve script, pub/sub); with memory counters it is
 * this process's alone, as the counters are.
 */
export interface RunsApiDeps {
  readonly snapshots: SnapshotHolder;
  readonly stoppedRuns: StoppedRuns;
  /** Where stops are shared with other replicas (the Redis counter store); absent: this process only. */
  readonly stopStore?: RunStopStore;
  readonly clock: Clock;
  readonly log: Log;
}

export function registerRunRoutes(app: FastifyInstance, deps: RunsApiDeps): void {
  void app.register(async (scope) => {
    // Every refusal in the run API's own shape, including fastify's (malformed JSON, too large).
    scope.setErrorHandler((err: { statusCode?: number; message: string }, _req, reply) => {
      // fastify's own 415 says only "Unsupported Media Type": name the type it takes.
      if (err.statusCode === 415) return send(reply, UNSUPPORTED_MEDIA_TYPE);
      const status = err.statusCode === 413 ? 413 : 400;
      return send(reply, runApiError(status, 'invalid_request', err.message));
    });
    scope.post(RUNS_PATH, { bodyLimit: MAX_RUN_REQUEST_BYTES }, async (req, reply) => {
      const parent = caller(req, deps);
      if (isRunApiError(parent)) return send(reply, parent);
      const parsed = parseRunStart(req.body);
      if (isRunApiError(parsed)) return send(reply, parsed);
      // A run id goes into every record and span of the run: never a Keybrake key (ADR 0007 §1).
      if (parsed.runId !== undefined && carriesKey(parsed.runId, parent.token, deps))
        return send(reply, KEY_IN_RUN_ID);
      if (`${parsed.namespace}/${parsed.name}` !== `${parent.key.namespace}/${parent.key.name}`)
        return send(reply, forbidden());
      // A run that could not be stopped is not started, nor one of a key holding its share of the stops.
      const bound = deps.stoppedRuns.boundReached(parent.key.uid, 'start');
      if (bound) return send(reply, tooManyStoppedRuns(bound));
      const started = startRun(parent, parsed, deps.clock.now(), {
        isStopped: (s, runId) => deps.stoppedRuns.has(s, runId),
      });
      if (isRunApiError(started)) return send(reply, started);
      deps.log.info(
        {
          vaultKey: started.vaultKey,
          runId: started.runId,
          expiresAt: started.expiresAt,
          capUsd: started.capUsd,
        },
        'run started',
      );
      return reply.code(201).header('cache-control', 'no-store').send(started);
    });
    scope.delete(`${RUNS_PATH}/*`, async (req, reply) => {
      const ref = parseRunPath(req.url.split('?', 1)[0]!);
      if (!ref)
        return send(
          reply,
          runApiError(404, 'not_found', `Expected DELETE ${RUNS_PATH}/<namespace>/<vaultkey>/<runId>.`),
        );
      const parent = caller(req, deps);
      if (isRunApiError(parent)) return send(reply, parent);
      if (`${ref.namespace}/${ref.name}` !== `${parent.key.namespace}/${parent.key.name}`)
        return send(reply, forbidden());
      if (carriesKey(ref.runId, parent.token, deps)) return send(reply, KEY_IN_RUN_ID);
      const run = stoppedRun(parent.key, ref.runId, deps.clock.now());
      const vaultKey = `${ref.namespace}/${ref.name}`;
      // A run stopped already costs nothing more; a new stop only below the bounds (refused loudly).
      const bound = deps.stoppedRuns.has(run.scope, run.runId)
        ? undefined
        : deps.stoppedRuns.boundReached(run.scope, 'stop');
      // Not logged: refused stops are the caller's to see, and a line each would be unbounded again.
      if (bound) return send(reply, tooManyStoppedRuns(bound));
      // In force here at once, whatever the shared store says.
      deps.stoppedRuns.add(run);
      if (deps.stopStore) {
        try {
          // Other replicas' stops of the key may have reached the bound before this one heard them.
          if ((await deps.stopStore.stopRun(run)) === 'too_many') {
            deps.log.warn({ vaultKey, bound: 'key' }, 'run stop not shared: too many stopped runs');
            return send(reply, tooManyStoppedRuns('key', 'this process'));
          }
        } catch (err) {
          deps.log.warn({ vaultKey, runId: ref.runId, error: (err as Error).message }, 'run stop not shared');
          return send(
            reply,
            runApiError(
              503,
              'counter_store_unavailable',
              'The run is stopped on this process, but the counter store could not record it for the others: retry.',
            ),
          );
        }
      }
      deps.log.info({ vaultKey, runId: ref.runId, shared: deps.stopStore !== undefined }, 'run stopped');
      return reply.send({
        runId: ref.runId,
        vaultKey,
        stoppedUntil: new Date(run.until).toISOString(),
        scope: deps.stopStore ? 'every process sharing the counter store' : 'this process',
      });
    });
  });
}

const KEY_IN_RUN_ID = runApiError(400, 'invalid_request', 'A run id must not carry a Keybrake key.');

const UNSUPPORTED_MEDIA_TYPE = runApiError(
  415,
  'invalid_request',
  'The run API takes a JSON body: send it with content-type: application/json.',
);

/**
 * Whether a run id carries the token presented (any shape: a token the user brought too; a probe
 * had one minted into a run id, its key and every record of the run) or any Keybrake key.
 */
function carriesKey(runId: string, token: string, deps: RunsApiDeps): boolean {
  return carriesToken(runId, token) || holdsTokenShape(runId, tokenPrefixesOf(deps.snapshots.current));
}

/** The parent key whose vault token the caller presents, and that token. */
function caller(
  req: FastifyRequest,
  deps: RunsApiDeps,
): { key: CompiledKey; digest: string; token: string } | RunApiError {
  const snapshot = deps.snapshots.current;
  if (!snapshot) return runApiError(503, 'not_ready', 'This process has not loaded its manifests yet.');
  const header = req.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer[ \t]+(\S{16,512})[ \t]*$/i.exec(header) : null;
  if (!match)
    return runApiError(
      401,
      'unauthenticated',
      "Present the parent vault key's token: Authorization: Bearer <token>.",
    );
  const token = match[1]!;
  const digest = tokenDigest(token);
  const key = snapshot.keys.get(digest);
  if (key) return { key, digest, token };
  if (looksLikeRunToken(token)) return runApiError(403, 'forbidden', 'A run key cannot start or stop runs.');
  return runApiError(401, 'unauthenticated', 'Unknown vault key.');
}

function forbidden(): RunApiError {
  return runApiError(403, 'forbidden', 'The token presented is not the named vault key.');
}

function send(reply: FastifyReply, e: RunApiError) {
  return reply
    .code(e.status)
    .header('cache-control', 'no-store')
    .send({ error: e.error, message: e.message });
}
