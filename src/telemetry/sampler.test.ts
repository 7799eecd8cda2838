import { ROOT_CONTEXT, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import { tracing } from '@opentelemetry/sdk-node';
import { describe, expect, it } from 'vitest';
import { keybrakeSampler } from './sampler.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const { RECORD_AND_SAMPLED, NOT_RECORD } = tracing.SamplingDecision;

/** A context whose parent is the caller's `traceparent`, as the W3C propagator extracts it. */
function callerParent(flags: TraceFlags) {
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: TRACE_ID,
    spanId: '00f067aa0ba902b7',
    traceFlags: flags,
    isRemote: true,
  });
}

/** A context whose parent is a call span of this process (a reserve or forward child). */
function localParent(flags: TraceFlags) {
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: TRACE_ID,
    spanId: '00f067aa0ba902b7',
    traceFlags: flags,
  });
}

function decide(env: NodeJS.ProcessEnv, parent: typeof ROOT_CONTEXT, draw = 0.5) {
  return keybrakeSampler(env, () => draw).shouldSample(
    parent,
    TRACE_ID,
    'keybrake.call',
    SpanKind.SERVER,
    {},
    [],
  ).decision;
}

describe('keybrakeSampler', () => {
  it.each([
    ['no sampler set, the caller says not sampled', {}, TraceFlags.NONE, RECORD_AND_SAMPLED],
    ['no sampler set, the caller says sampled', {}, TraceFlags.SAMPLED, RECORD_AND_SAMPLED],
    [
      'parentbased_always_on, the caller says not sampled',
      { OTEL_TRACES_SAMPLER: 'parentbased_always_on' },
      TraceFlags.NONE,
      RECORD_AND_SAMPLED,
    ],
    [
      'always_off, the caller says sampled',
      { OTEL_TRACES_SAMPLER: 'always_off' },
      TraceFlags.SAMPLED,
      NOT_RECORD,
    ],
    [
      'parentbased_always_off, the caller says sampled',
      { OTEL_TRACES_SAMPLER: 'parentbased_always_off' },
      TraceFlags.SAMPLED,
      NOT_RECORD,
    ],
  ])('decides a call by its own setting: %s', (_name, env, flags, expected) => {
    expect(decide(env, callerParent(flags))).toBe(expected);
  });

  it.each([
    ['the draw is under the ratio', 0.1, RECORD_AND_SAMPLED],
    ['the draw is over the ratio', 0.3, NOT_RECORD],
  ])('samples a share of calls by its own draw, not the caller trace id: %s', (_name, draw, expected) => {
    const env = { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' };
    expect(decide(env, callerParent(TraceFlags.SAMPLED), draw)).toBe(expected);
    expect(decide(env, callerParent(TraceFlags.NONE), draw)).toBe(expected);
    expect(decide(env, ROOT_CONTEXT, draw)).toBe(expected);
  });

  it.each([
    ['blank', ''],
    ['out of range', '2'],
    ['not a number', 'half'],
  ])('samples every call when the ratio is %s, as the SDK does', (_name, arg) => {
    const env = { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: arg };
    expect(decide(env, ROOT_CONTEXT, 0.99)).toBe(RECORD_AND_SAMPLED);
  });

  it('has a call span decide for its reserve and forward children', () => {
    const env = { OTEL_TRACES_SAMPLER: 'always_off' };
    expect(decide(env, localParent(TraceFlags.SAMPLED))).toBe(RECORD_AND_SAMPLED);
    expect(decide({}, localParent(TraceFlags.NONE))).toBe(NOT_RECORD);
  });
});
