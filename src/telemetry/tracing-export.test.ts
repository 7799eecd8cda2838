import { context, propagation, trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OtlpReceiver, startOtlpReceiver } from '../../test/env/otlp-receiver.ts';
import { startCallSpan, startTracing } from './tracing.ts';

// Its own file: startTracing registers the SDK globally for the rest of the process (the worker).

let receiver: OtlpReceiver;

const PASSWORD = 'tracing-canary-redis-password';
const ARGS = ['--redis', `redis://:${PASSWORD}@127.0.0.1:6379`];
const VARIABLES = {
  OTEL_TRACES_EXPORTER: 'otlp',
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
  OTEL_METRICS_EXPORTER: 'none',
  OTEL_LOGS_EXPORTER: 'none',
  OTEL_SERVICE_NAME: 'keybrake-resource-test',
  // The SDK's own way of choosing detectors; 'all' includes the one that copies the command line.
  OTEL_NODE_RESOURCE_DETECTORS: 'all',
};
const savedEnv = { ...process.env };

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  Object.assign(process.env, VARIABLES, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.url });
  process.argv.push(...ARGS);
});

afterAll(async () => {
  process.argv.splice(process.argv.length - ARGS.length, ARGS.length);
  process.env = savedEnv;
  trace.disable();
  context.disable();
  propagation.disable();
  receiver.close();
});

type Attribute = { key: string; value: Record<string, unknown> };

describe('an exported span', () => {
  // Found by a tester: `serve --redis redis://:pw@host` put the password in every span's resource.
  it('names the service, the process and the runtime, never the command line', async () => {
    const shutdown = await startTracing(process.env);
    startCallSpan({}).end();
    await shutdown();

    const { bodies } = receiver;
    expect(bodies.length).toBeGreaterThan(0);
    for (const body of bodies) expect(body).not.toContain(PASSWORD);
    const exported = JSON.parse(bodies[0]!) as {
      resourceSpans: { resource: { attributes: Attribute[] } }[];
    };
    const attributes = exported.resourceSpans[0]!.resource.attributes;
    const keys = attributes.map((a) => a.key);
    expect(keys).toEqual(
      expect.arrayContaining(['service.name', 'host.name', 'process.pid', 'process.runtime.version']),
    );
    expect(keys.filter((k) => k.startsWith('process.command'))).toEqual([]);
    expect(attributes.find((a) => a.key === 'service.name')?.value).toEqual({
      stringValue: 'keybrake-resource-test',
    });
  });
});
