import { trace } from '@opentelemetry/api';
import { tracing } from '@opentelemetry/sdk-node';
import { describe, expect, it } from 'vitest';
import { startCallSpan, startChildSpan, traceIdOf, tracingActive, tracingRequested } from './tracing.ts';

describe('startCallSpan', () => {
  it("continues the caller's W3C trace even without an SDK", () => {
    const span = startCallSpan({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    expect(traceIdOf(span)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });
  // Second probe round: an agent's own vault key, sent as tracestate, went into every span.
  it("keeps the caller's trace id and parent but not its tracestate", () => {
    const span = startCallSpan({
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'kb=kb_stripe_0123456789abcdef0123456789abcdef',
    });
    expect(traceIdOf(span)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(span.spanContext().traceState).toBeUndefined();
  });
  it('has no trace id when there is neither an SDK nor an incoming trace', () => {
    expect(traceIdOf(startCallSpan({}))).toBeNull();
  });
});

describe('tracingRequested', () => {
  it.each([
    ['no OTEL variables', {}, false],
    ['an OTLP endpoint', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, true],
    ['an explicit exporter', { OTEL_TRACES_EXPORTER: 'console' }, true],
    [
      'the exporter turned off',
      { OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c' },
      false,
    ],
    ['the SDK disabled', { OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'console' }, false],
  ])('starts the SDK for %s: %s', (_name, env, expected) => {
    expect(tracingRequested(env)).toBe(expected);
  });
});

describe('without an SDK', () => {
  it('skips building child spans: they record nothing, as the no-op tracer would give', () => {
    expect(tracingActive()).toBe(false);
    const call = startCallSpan({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    expect(call.isRecording()).toBe(false);
    expect(startChildSpan(call, 'keybrake.forward').isRecording()).toBe(false);
  });
});

// Last in this file: trace.disable() leaves the module's ProxyTracer delegating to the old provider.
describe('with an SDK registered', () => {
  it('records the call span and its children under it', () => {
    const exporter = new tracing.InMemorySpanExporter();
    const provider = new tracing.BasicTracerProvider({
      spanProcessors: [new tracing.SimpleSpanProcessor(exporter)],
    });
    trace.setGlobalTracerProvider(provider);
    try {
      expect(tracingActive()).toBe(true);
      const call = startCallSpan({});
      expect(call.isRecording()).toBe(true);
      expect(traceIdOf(call)).toMatch(/^[0-9a-f]{32}$/);
      const child = startChildSpan(call, 'keybrake.forward');
      child.end();
      call.end();
      const [forward, whole] = exporter.getFinishedSpans();
      expect([forward?.name, whole?.name]).toEqual(['keybrake.forward', 'keybrake.call']);
      expect(forward?.parentSpanContext?.spanId).toBe(call.spanContext().spanId);
    } finally {
      trace.disable();
    }
    expect(tracingActive()).toBe(false);
  });
});
