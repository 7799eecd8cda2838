// The canary scan (docs/security.md, "Secrets"): every output of the e2e suite — each keybrake
// process's stdout (audit) and stderr (logs), a scrape of its /metrics, the spans it exports, and the
// bytes every client in the test workers receives from it — is captured under one directory per run,
// and at the end scanned for every vault token and upstream key the suite used.
//
// Three parts share this module:
//   - canary-setup.ts (the e2e project's globalSetup): makes the directory, runs the OTLP/HTTP
//     receiver, and scans everything in teardown (`scanOutputs`);
//   - keybrake.ts (in the test workers): tees each process into the directory and registers the
//     secrets of the manifests it serves (`canaryRun`, `registerManifestCanaries`, `captureResponses`);
//   - canary-scan.test.ts: the scanner against planted canaries.
//
// Nothing here ever prints a canary: findings name the file, the canary's fingerprint and where it
// was taken from.
import { createHash } from 'node:crypto';
import * as diagnostics from 'node:diagnostics_channel';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { Socket } from 'node:net';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The per-run canary directory (e2e project only; absent elsewhere). */
    canaryDir: string;
    /** `http://127.0.0.1:<port>`: the OTLP/HTTP receiver keybrake processes export spans to. */
    canaryOtlp: string;
  }
}

/** Where captured outputs go: everything under it is scanned. */
export const OUTPUTS = 'outputs';
/** Where workers register canaries (JSON lines): never scanned, it holds the canaries themselves. */
export const CANARIES = 'canaries';

/** Secret keys that hold identifiers, not secrets: they appear in paths and audit records by design. */
const IDENTIFIER_KEYS: ReadonlySet<string> = new Set(['accountSid', 'apiKeySid']);
/** Shorter values would match by accident; no test credential is this short. */
export const MIN_CANARY_LENGTH = 8;

/** One secret the suite used, and where it was found (for the report: never the value). */
export interface Canary {
  readonly value: string;
  readonly source: string;
}

/** A canary seen in a captured output. */
export interface Finding {
  readonly file: string;
  readonly fingerprint: string;
  readonly source: string;
  /** How it was written there: `raw` or `base64` (at some alignment, e.g. inside a Basic credential). */
  readonly form: string;
  readonly offset: number;
}

/** Safe to print: a digest prefix and the length, never the value. */
export function fingerprint(value: string): string {
  return `sha256:${createHash('sha256').update(value).digest('hex').slice(0, 12)} (${value.length} chars)`;
}

/**
 * The byte strings a canary may appear as: itself, and its base64 at each of the three alignments it
 * can have inside a longer base64 text (a Basic credential `user:secret`, `secret:`, a JWT-ish blob):
 * the encoding of the whole 3-byte groups that start at offset 0, 1 or 2 of the secret, which appears
 * verbatim in the encoding of any text that contains the secret. base64url likewise.
 */
export function canaryForms(value: string): { form: string; bytes: Buffer }[] {
  const raw = Buffer.from(value, 'utf8');
  const forms = [{ form: 'raw', bytes: raw }];
  const seen = new Set([raw.toString('latin1')]);
  for (let start = 0; start < 3; start++) {
    const whole = Math.floor((raw.length - start) / 3) * 3;
    if (whole < 6) continue;
    const slice = raw.subarray(start, start + whole);
    for (const encoding of ['base64', 'base64url'] as const) {
      const text = slice.toString(encoding);
      if (seen.has(text)) continue;
      seen.add(text);
      forms.push({ form: `${encoding}@${start}`, bytes: Buffer.from(text, 'latin1') });
    }
  }
  return forms;
}

/**
 * The secrets of manifest text: every value of every Secret's `stringData` and (decoded) `data`, but
 * the identifier keys. A document YAML cannot read still gives up anything that looks like a vault
 * token or a vendor key, so a syntax-error test cannot hide one.
 */
export function manifestCanaries(text: string, where: string): Canary[] {
  const out: Canary[] = [];
  const add = (value: unknown, source: string) => {
    if (typeof value === 'string' && value.length >= MIN_CANARY_LENGTH) out.push({ value, source });
  };
  let docs: ReturnType<typeof parseAllDocuments>;
  try {
    docs = parseAllDocuments(text);
  } catch {
    docs = [];
  }
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    let value: unknown;
    try {
      value = doc.toJS();
    } catch {
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    const d = value as {
      kind?: unknown;
      metadata?: { name?: unknown; namespace?: unknown };
      stringData?: unknown;
      data?: unknown;
    };
    if (d.kind !== 'Secret') continue;
    const name = `Secret ${String(d.metadata?.namespace ?? '')}/${String(d.metadata?.name ?? '?')}`;
    for (const [field, decode] of [
      ['stringData', (v: string) => v],
      ['data', (v: string) => Buffer.from(v, 'base64').toString('utf8')],
    ] as const) {
      const entries = d[field];
      if (typeof entries !== 'object' || entries === null) continue;
      for (const [k, v] of Object.entries(entries)) {
        if (IDENTIFIER_KEYS.has(k) || typeof v !== 'string') continue;
        add(decode(v), `${name} ${field}.${k} in ${where}`);
      }
    }
  }
  for (const m of text.matchAll(
    /\b(?:kb_(?:stripe|twilio|resend)_[0-9A-Za-z]{20,}|[sr]k_(?:test|live)_\w{8,})/g,
  ))
    add(m[0], `token-shaped text in ${where}`);
  return out;
}

/** Every `.yaml`/`.yml`/`.json` file at `p` (a file, or a directory two levels deep). */
export function manifestFiles(p: string, depth = 2): string[] {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(p);
  } catch {
    return [];
  }
  if (st.isFile()) return /\.(ya?ml|json)$/i.test(p) ? [p] : [];
  if (!st.isDirectory() || depth === 0) return [];
  let names: string[];
  try {
    names = readdirSync(p);
  } catch {
    return [];
  }
  return names.flatMap((n) => manifestFiles(path.join(p, n), depth - 1));
}

/**
 * What any vault token or run key looks like (src/tokens/token.ts: vendor prefix, then 39 base62
 * characters; src/tokens/run-token.ts: the parent's prefix, `r1_`, then base64url parts), registered
 * or not: a run key minted mid-test, or a token an agent sent that no key has, must not appear in an
 * output either. A fingerprint (`kb_stripe_…9f2c`) does not match.
 */
export const VAULT_TOKEN_SHAPE = /kb_(?:stripe|twilio|resend)_(?:r1_[\w-]{20,}|[0-9A-Za-z]{20,})/g;

/**
 * Scans every file under `dir` for every form of every canary, and for text of any of the `shapes`
 * (global regular expressions) that is not already a finding, in every file `shapeExempt` (given the
 * name relative to `dir`) does not exempt.
 */
export function scanOutputs(
  dir: string,
  canaries: readonly Canary[],
  shapes: readonly RegExp[] = [],
  shapeExempt: (file: string) => boolean = () => false,
): { findings: Finding[]; files: number; bytes: number } {
  // One entry per distinct value (the first source names it), each with its forms.
  const byValue = new Map<string, { source: string; forms: { form: string; bytes: Buffer }[] }>();
  for (const c of canaries) {
    if (c.value.length < MIN_CANARY_LENGTH || byValue.has(c.value)) continue;
    byValue.set(c.value, { source: c.source, forms: canaryForms(c.value) });
  }
  const findings: Finding[] = [];
  let files = 0;
  let bytes = 0;
  for (const file of walk(dir)) {
    const content = readFileSync(file);
    const name = path.relative(dir, file);
    files += 1;
    bytes += content.length;
    const found = new Set<string>();
    for (const [value, { source, forms }] of byValue) {
      for (const { form, bytes: needle } of forms) {
        const offset = content.indexOf(needle);
        if (offset === -1) continue;
        found.add(value);
        findings.push({ file: name, fingerprint: fingerprint(value), source, form, offset });
        break;
      }
    }
    if (shapes.length === 0 || shapeExempt(name)) continue;
    const text = content.toString('latin1');
    for (const shape of shapes) {
      for (const m of text.matchAll(shape)) {
        if ([...found].some((v) => v.includes(m[0]) || m[0].includes(v))) continue;
        found.add(m[0]);
        const source = `unregistered text shaped like /${shape.source}/`;
        findings.push({ file: name, fingerprint: fingerprint(m[0]), source, form: 'raw', offset: m.index });
      }
    }
  }
  return { findings, files, bytes };
}

function walk(dir: string): string[] {
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]))
    .sort();
}

/** The canaries registered under `dir/canaries`, one JSON line each. */
export function readRegisteredCanaries(dir: string): Canary[] {
  const out: Canary[] = [];
  for (const file of walk(path.join(dir, CANARIES))) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        out.push(JSON.parse(line) as Canary);
      } catch {
        // A line cut short by a worker that died mid-write: the complete ones still count.
      }
    }
  }
  return out;
}

// ---- worker side -------------------------------------------------------------------------------

/** The canary run a test worker belongs to; undefined outside the e2e project (unit, k8s, bench). */
export interface CanaryRun {
  readonly dir: string;
  readonly otlp: string;
}

let run: Promise<CanaryRun | undefined> | undefined;

export function canaryRun(): Promise<CanaryRun | undefined> {
  run ??= (async () => {
    if (!process.env['VITEST']) return undefined;
    try {
      const { inject } = await import('vitest');
      const dir = inject('canaryDir');
      const otlp = inject('canaryOtlp');
      if (!dir || !otlp) return undefined;
      mkdirSync(path.join(dir, OUTPUTS), { recursive: true });
      mkdirSync(path.join(dir, CANARIES), { recursive: true });
      return { dir, otlp };
    } catch {
      return undefined;
    }
  })();
  return run;
}

/** Adds canaries to the run (fixtures whose secrets are in no manifest a process reads). */
export function registerCanaries(r: CanaryRun, canaries: readonly Canary[]): void {
  if (canaries.length === 0) return;
  try {
    appendFileSync(
      path.join(r.dir, CANARIES, `${process.pid}.jsonl`),
      canaries.map((c) => `${JSON.stringify(c)}\n`).join(''),
    );
  } catch {
    // The run directory is gone: the run is over.
  }
}

/** Registers the secrets of every manifest file at `paths` (files or directories). */
export function registerManifestCanaries(r: CanaryRun, paths: readonly string[]): void {
  const canaries: Canary[] = [];
  for (const p of paths) {
    for (const file of manifestFiles(p)) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      canaries.push(...manifestCanaries(text, file));
    }
  }
  registerCanaries(r, canaries);
}

/** A file under the outputs directory, for one kind of capture. */
export function outputFile(r: CanaryRun, name: string): string {
  return path.join(r.dir, OUTPUTS, name.replace(/[^\w.+-]+/g, '_'));
}

/**
 * `127.0.0.1:port` of every keybrake listener in this worker → the file its answers go to: the agent's
 * listeners (main and vendor ports) to `responses-…`, the admin listener to `admin-responses-…`, since
 * its run API hands out run keys by design (ADR 0010): there only registered canaries count.
 */
const listeners = new Map<string, string>();
let subscribed = false;

/** Names of capture files where vault-token-shaped text is expected: the admin listener's answers. */
export const ADMIN_RESPONSES = 'admin-responses-';

/**
 * Records every byte a client in this worker (fetch, the SDKs, raw sockets) receives from a keybrake
 * listener: the answers an agent sees, error bodies included. Hooks client sockets as they are made
 * (diagnostics_channel `net.client.socket`); a socket is read along only when its owner already reads
 * it, so a test that deliberately leaves a socket unread is not changed. `urls` is what the process
 * announced (`main`, `admin`, vendor names).
 */
export function captureResponses(r: CanaryRun, urls: Readonly<Record<string, string>>): () => void {
  const added: string[] = [];
  for (const [name, u] of Object.entries(urls)) {
    try {
      const { hostname, port } = new URL(u);
      const key = `${hostname.replace(/^\[|\]$/g, '')}:${port}`;
      const kind = name === 'admin' ? ADMIN_RESPONSES : 'responses-';
      listeners.set(key, outputFile(r, `${kind}worker-${process.pid}.bin`));
      added.push(key);
    } catch {
      // not a URL
    }
  }
  if (!subscribed) {
    subscribed = true;
    diagnostics.subscribe('net.client.socket', (message) => {
      const socket = (message as { socket?: Socket }).socket;
      if (!socket) return;
      // undici starts reading a socket a few microtasks after 'connect'; an answer needs a round trip.
      socket.once('connect', () =>
        setImmediate(() => {
          const file = listeners.get(`${socket.remoteAddress}:${socket.remotePort}`);
          if (file === undefined || socket.destroyed) return;
          if (socket.listenerCount('data') + socket.listenerCount('readable') === 0) return;
          socket.on('data', (chunk: Buffer) => {
            try {
              appendFileSync(file, chunk);
            } catch {
              // The run directory is gone (the run is over): nothing left to record for.
            }
          });
        }),
      );
    });
  }
  // A port freed by a stopped process may be reused by a test's own server: stop capturing it.
  return () => {
    for (const key of added) listeners.delete(key);
  };
}
