import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A local OTLP/HTTP JSON receiver: what a process under test exported, one body per export. */
export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>/v1/traces`, for OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. */
  readonly url: string;
  readonly bodies: string[];
  close(): void;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/v1/traces`, bodies, close: () => server.close() };
}

type Exported = { resourceSpans: { scopeSpans: { spans: { traceId: string }[] }[] }[] };

/** The trace id of every span in the bodies received, in the order received. */
export function exportedTraceIds(bodies: readonly string[]): string[] {
  return bodies.flatMap((body) =>
    (JSON.parse(body) as Exported).resourceSpans.flatMap((r) =>
      r.scopeSpans.flatMap((s) => s.spans.map((span) => span.traceId)),
    ),
  );
}
