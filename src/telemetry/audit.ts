import { pino } from 'pino';
import type { Reason } from '../decision/reasons.ts';

/**
 * One record per call, the last stage of the pipeline (DESIGN.md §7). Field names are a contract.
 * Never a token, an upstream key or a body: only what is listed here.
 */
export interface AuditRecord {
  ts: string;
  event: 'keybrake.call';
  /** `namespace/name`, or null when the caller was not authenticated. */
  vaultKey: string | null;
  vendor: string | null;
  method: string;
  /** Path without query string. */
  path: string;
  operation: string | null;
  runId: string | null;
  decision: 'allow' | 'deny';
  reason: Reason;
  /** Decimal USD string of what was counted ("0.00" for reads and denials). */
  costUsd: string;
  upstreamStatus: number | null;
  upstreamRequestId: string | null;
  durationMs: number;
  traceId: string | null;
}

export interface AuditSink {
  write(record: AuditRecord): void;
  flush(): Promise<void>;
}

/**
 * JSON lines on stdout (or a given fd) through pino's asynchronous destination. Records are written
 * as they are, without pino's level/time envelope: the field set above is the whole contract.
 */
export function stdoutAuditSink(fd = 1): AuditSink {
  const dest = pino.destination({ fd, sync: false });
  return {
    write: (record) => {
      dest.write(`${JSON.stringify(record)}\n`);
    },
    // SonicBoom's own flush does not wait for a write in progress (minLength 0). An empty write
    // queues behind whatever is buffered, and 'drain' follows once all of it is with the OS.
    flush: () =>
      new Promise((resolve) => {
        const done = () => {
          dest.off('drain', done);
          dest.off('error', done);
          resolve();
        };
        dest.once('drain', done);
        dest.once('error', done);
        dest.write('');
      }),
  };
}

/** Keeps records in memory (tests, the demo). */
export function memoryAuditSink(): AuditSink & { records: AuditRecord[] } {
  const records: AuditRecord[] = [];
  return { records, write: (r) => records.push(r), flush: async () => {} };
}

/** Sends every record to several sinks (stdout plus the demo's view). */
export function teeAuditSink(...sinks: AuditSink[]): AuditSink {
  return {
    write: (r) => {
      for (const s of sinks) s.write(r);
    },
    flush: async () => {
      await Promise.all(sinks.map((s) => s.flush()));
    },
  };
}
