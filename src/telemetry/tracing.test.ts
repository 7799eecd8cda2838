import { describe, expect, it } from 'vitest';
import { startCallSpan, traceIdOf, tracingRequested } from './tracing.ts';

describe('startCallSpan', () => {
  it("continues the caller's W3C trace even without an SDK", () => {
    const span = startCallSpan({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    expect(traceIdOf(span)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
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
