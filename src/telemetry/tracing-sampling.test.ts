import { context, propagation, trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportedTraceIds, type OtlpReceiver, startOtlpReceiver } from '../../test/env/otlp-receiver.ts';
import { startCallSpan, startTracing } from './tracing.ts';

// Its own file: startTracing registers the SDK globally for the rest of the process (the worker).

let receiver: OtlpReceiver;
const savedEnv = { ...process.env };

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  Object.assign(process.env, {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.url,
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
  });
});

afterAll(() => {
  process.env = savedEnv;
  trace.disable();
  context.disable();
  propagation.disable();
  receiver.close();
});

describe('whether a call is traced', () => {
  // Fourth probe round: under the SDK's default sampler a `traceparent` ending `-00` kept the call
  // out of the traces and `-01` put it in: the agent chose. The sampler is Keybrake's now.
  it("is Keybrake's decision, whatever the caller's sampled flag says", async () => {
    const shutdown = await startTracing(process.env);
    startCallSpan({ traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-00` }).end();
    startCallSpan({ traceparent: `00-${'c'.repeat(32)}-${'d'.repeat(16)}-01` }).end();
    await shutdown();

    expect(exportedTraceIds(receiver.bodies).sort()).toEqual(['a'.repeat(32), 'c'.repeat(32)]);
  });
});
