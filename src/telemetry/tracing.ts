import type { IncomingHttpHeaders } from 'node:http';
import { format } from 'node:util';
import {
  context,
  type DiagLogger,
  diag,
  INVALID_SPAN_CONTEXT,
  ProxyTracerProvider,
  type Span,
  SpanKind,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { diagLogLevelFromString, W3CTraceContextPropagator } from '@opentelemetry/core';
import { componentLogger, type Log } from './logger.ts';

/**
 * Tracing through the OpenTelemetry API. The SDK is started only when the standard OTEL_* variables
 * ask for an exporter; otherwise the API is a no-op and costs next to nothing on the request path.
 */
export const tracer: Tracer = trace.getTracer('keybrake');

// `tracestate` is not read: it is opaque text of the caller's choosing that every span would carry
// into the trace backend (an agent put its own vault key there); the trace id and parent are kept.
const headerGetter = {
  keys: (carrier: IncomingHttpHeaders) => Object.keys(carrier),
  get: (carrier: IncomingHttpHeaders, key: string) => (key === 'tracestate' ? undefined : carrier[key]),
};

/**
 * Keybrake follows W3C trace context (DESIGN.md §5) whether or not an SDK is running: without one
 * the global propagator is a no-op, and the caller's trace id would be lost from the audit record.
 */
const w3c = new W3CTraceContextPropagator();

/** The API's no-op provider, the delegate of the global provider until an SDK registers one. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/**
 * Whether a tracer provider (an SDK) is registered: without one every span is the API's no-op span,
 * and the request path skips building what it would be given (contexts, child spans, attributes).
 */
export function tracingActive(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NOOP_PROVIDER;
}

/** What the no-op tracer gives a span without a valid parent: shared, since nothing is ever set on it. */
const NO_TRACE: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * A span per call, continuing the caller's W3C trace context when present: its trace id is the
 * caller's claim (it may name any trace, or another agent's), kept for correlation with the agent's
 * own trace. Whether the span is sampled is not the caller's to say (keybrakeSampler).
 */
export function startCallSpan(headers: IncomingHttpHeaders): Span {
  // Without an SDK and without a caller's trace the span is the no-op tracer's invalid one.
  if (headers.traceparent === undefined && !tracingActive()) return NO_TRACE;
  const parent = w3c.extract(context.active(), headers, headerGetter);
  return tracer.startSpan('keybrake.call', { kind: SpanKind.SERVER }, parent);
}

/** Child span (reserve, forward) under a call span. */
export function startChildSpan(parent: Span, name: string): Span {
  // The no-op tracer would give a non-recording span that only end() is ever called on.
  if (!tracingActive()) return NO_TRACE;
  return tracer.startSpan(name, { kind: SpanKind.INTERNAL }, trace.setSpan(context.active(), parent));
}

const INVALID_TRACE = '00000000000000000000000000000000';

/** The trace id for the audit record; null when there is neither an SDK nor an incoming trace. */
export function traceIdOf(span: Span): string | null {
  const id = span.spanContext().traceId;
  return id === INVALID_TRACE ? null : id;
}

/**
 * Why a trace exporter the environment names cannot be used, or null. The SDK's `console` exporter
 * prints spans on stdout, which is the audit stream (DESIGN.md §7: one JSON line per call): every
 * call would add a hundred lines of other text to it, which a log shipper reading JSON lines drops
 * or stalls on (twelfth round, observe probe).
 */
export function unusableTraceExporter(env: NodeJS.ProcessEnv): string | null {
  const names = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((n) => n.trim().toLowerCase());
  if (!names.includes('console')) return null;
  return 'OTEL_TRACES_EXPORTER=console would print spans on stdout, which is the audit stream; use otlp (or zipkin) and a collector, or none';
}

/** Whether the environment asks for a trace exporter (standard OTEL_* variables). */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED === 'true') return false;
  const exporter = env.OTEL_TRACES_EXPORTER;
  if (exporter !== undefined) return exporter !== 'none';
  return (
    env.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined
  );
}

/**
 * What every exported span says about this process, beside `service.name`: the pid and the runtime.
 * Never the command line: OpenTelemetry's own process detector copies it whole
 * (`process.command_args`), and `serve --redis redis://:password@host` carries a password there.
 */
const processDetector = {
  detect: () => ({
    attributes: {
      'process.pid': process.pid,
      'process.runtime.name': 'nodejs',
      'process.runtime.version': process.versions.node,
      'process.runtime.description': 'Node.js',
    },
  }),
};

/**
 * Starts the Node SDK (configured by OTEL_* variables); returns its shutdown. The resource detectors
 * are chosen here, so OTEL_NODE_RESOURCE_DETECTORS cannot bring the command line back: the
 * environment's own attributes (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME), the host, the process.
 * So is the sampler, so the caller's `traceparent` flag cannot decide whether a call is traced.
 * Refuses a `console` trace exporter (unusableTraceExporter).
 */
export async function startTracing(env: NodeJS.ProcessEnv, log?: Log): Promise<() => Promise<void>> {
  if (!tracingRequested(env)) return async () => {};
  const unusable = unusableTraceExporter(env);
  if (unusable !== null) throw new Error(unusable);
  const [{ NodeSDK, resources }, { keybrakeSampler }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('./sampler.ts'),
  ]);
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? 'keybrake',
    sampler: keybrakeSampler(env),
    instrumentations: [],
    resourceDetectors: [resources.envDetector, resources.hostDetector, processDetector],
    // Traces only. Left to the environment, the SDK would also start the metric and log exporters
    // OTEL_METRICS_EXPORTER and OTEL_LOGS_EXPORTER name (OTLP by default): `prometheus` opens a
    // listener on every address beside the loopback admin listener, `console` prints on stdout
    // (the audit stream). Keybrake's metrics are the admin listener's /metrics, its logs pino's.
    metricReaders: [],
    logRecordProcessors: [],
  });
  // The SDK's constructor gave OTEL_LOG_LEVEL a console logger, whose info and debug lines go to
  // stdout, the audit stream (twelfth round, a hundred lines per call): its own log goes to ours.
  const level = env.OTEL_LOG_LEVEL;
  if (level !== undefined) {
    diag.disable(); // else replacing it warns, with a stack, through the console logger
    diag.setLogger(diagToLog(log), { logLevel: diagLogLevelFromString(level) });
  }
  sdk.start();
  return () => sdk.shutdown();
}

/** OpenTelemetry's diagnostic messages as lines of the operational log (stderr), or nowhere without one. */
function diagToLog(log: Log | undefined): DiagLogger {
  // Not log.child: its line would carry `component` twice (componentLogger).
  const otel = log && componentLogger(log, 'opentelemetry');
  const to =
    (write: ((msg: string) => void) | undefined) =>
    (message: string, ...args: unknown[]) =>
      write?.(format(message, ...args));
  return {
    error: to(otel && ((m) => otel.error(m))),
    warn: to(otel && ((m) => otel.warn(m))),
    info: to(otel && ((m) => otel.info(m))),
    debug: to(otel && ((m) => otel.debug(m))),
    verbose: to(otel && ((m) => otel.trace(m))),
  };
}
