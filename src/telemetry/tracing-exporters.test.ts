import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from './logger.ts';
import { startCallSpan, startTracing, unusableTraceExporter } from './tracing.ts';

// Its own file: startTracing registers the SDK globally for the rest of the process (the worker).
// Twelfth round, observe probe: the SDK acted on every standard variable, not only the traces'.

const savedEnv = { ...process.env };

afterAll(() => {
  process.env = savedEnv;
  trace.disable();
  metrics.disable();
  context.disable();
  propagation.disable();
});

/** Whether something accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('the trace exporters Keybrake starts', () => {
  it.each([['console'], ['otlp,console'], [' Console ']])(
    'refuses OTEL_TRACES_EXPORTER=%j: it would print on stdout, the audit stream',
    async (exporter) => {
      const env = { OTEL_TRACES_EXPORTER: exporter };
      expect(unusableTraceExporter(env)).toMatch(/stdout, which is the audit stream/);
      await expect(startTracing(env)).rejects.toThrow(/OTEL_TRACES_EXPORTER=console/);
    },
  );

  it('starts no metric exporter, whatever OTEL_METRICS_EXPORTER says (prometheus would listen on every address)', async () => {
    // The port the Prometheus exporter would take; nothing of this test listens on it.
    const port = 20_000 + (process.pid % 20_000);
    expect(await listening(port)).toBe(false);
    Object.assign(process.env, {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:9/v1/traces',
      OTEL_METRICS_EXPORTER: 'prometheus',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_LOGS_EXPORTER: 'console',
    });
    const shutdown = await startTracing(process.env);
    try {
      // The exporter starts its server on construction; its 'listening' comes within the loop's next turns.
      await new Promise((r) => setImmediate(r));
      expect(await listening(port)).toBe(false);
      expect(metrics.getMeterProvider().constructor.name).not.toBe('MeterProvider');
      expect(trace.getTracerProvider()).toBeDefined();
    } finally {
      await shutdown();
    }
  });

  it("puts OTEL_LOG_LEVEL's diagnostics in the operational log, never on stdout (the audit stream)", async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    Object.assign(process.env, {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:9/v1/traces',
      OTEL_LOG_LEVEL: 'debug',
    });
    const stdout = vi.spyOn(process.stdout, 'write');
    const consoleOut = [vi.spyOn(console, 'debug'), vi.spyOn(console, 'info'), vi.spyOn(console, 'log')];
    try {
      const shutdown = await startTracing(process.env, createLogger({ level: 'trace', destination }));
      startCallSpan({}).end();
      await shutdown();
      expect(stdout).not.toHaveBeenCalled();
      for (const spy of consoleOut) expect(spy).not.toHaveBeenCalled();
      const otel = lines.filter((l) => l.includes('"component":"opentelemetry"'));
      expect(otel.length).toBeGreaterThan(0);
      // One `component` key per line, read off the raw text: JSON.parse keeps the last of two
      // (sixteenth round: `"component":"keybrake","component":"opentelemetry"`).
      for (const line of otel) expect(line.match(/"component":/g), line).toHaveLength(1);
    } finally {
      stdout.mockRestore();
      for (const spy of consoleOut) spy.mockRestore();
    }
  });
});
