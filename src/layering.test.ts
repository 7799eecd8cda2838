import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layering rules of docs/adr/0006-layering-and-stages.md, checked on the import graph of src/
 * (tests excluded: an integration test may start a whole proxy). Each module lists every module of
 * the project it may import; anything else is an arrow running the wrong way. Data flows one way
 * (DESIGN.md §3): sources → compiler → distribution → proxy, with shared vocabulary in leaves.
 */
const ALLOWED: Record<string, readonly string[]> = {
  // Leaves: shared vocabulary, importing nothing of the project.
  clock: [],
  listen: [],
  backoff: [],
  duration: [],
  decision: [],
  // A WeakMap's semantics in a property of the object (its cost to V8's collector at 100 000 keys).
  memo: [],
  // Deep and list equality (the operator's status writer, the compiler's patch, the file source).
  equality: [],
  patterns: [],
  money: [],
  // HTTP's optional whitespace (RFC 9110 OWS): how every reader of a header value trims it.
  'http-whitespace': [],
  // Untrusted text echoed on a terminal or a plain-text log (manifest errors, run exec's notice).
  'terminal-text': [],
  // The token bucket of the proxy's lookup reads and the TokenReview budget.
  'token-bucket': [],
  // Whether a lease name is taken shared: named by the vendors' pricing, held by the counter stores.
  'lease-names': [],
  // Every listener's limits and the server that holds clients to them (proxy and operator alike).
  listener: ['telemetry'],
  telemetry: ['decision'],
  snapshot: ['clock', 'memo', 'money', 'patterns'],
  tokens: ['duration', 'money', 'snapshot'],
  // The custom resources and their validation; the ResourceSet message between sources and compiler.
  api: ['memo', 'money', 'patterns', 'snapshot', 'terminal-text', 'tokens'],
  counters: ['clock', 'lease-names', 'money', 'snapshot', 'telemetry'],
  vendors: ['decision', 'http-whitespace', 'lease-names', 'money', 'patterns', 'snapshot'],
  // Emulators are independent oracles: they share no parsing, credential or pricing code.
  emulators: [],
  compiler: ['api', 'clock', 'equality', 'memo', 'money', 'patterns', 'snapshot', 'tokens', 'telemetry'],
  sources: ['api', 'backoff', 'clock', 'equality', 'memo', 'snapshot', 'telemetry'],
  distribution: [
    'backoff',
    'clock',
    'decision',
    'listen',
    'listener',
    'snapshot',
    'telemetry',
    'token-bucket',
  ],
  proxy: [
    'clock',
    'counters',
    'decision',
    'http-whitespace',
    'listen',
    'listener',
    'memo',
    'money',
    'patterns',
    'snapshot',
    'telemetry',
    'token-bucket',
    'tokens',
    'vendors',
  ],
  operator: [
    'api',
    'backoff',
    'clock',
    'compiler',
    'counters',
    'distribution',
    'equality',
    'listener',
    'memo',
    'money',
    'snapshot',
    'sources',
    'telemetry',
    'terminal-text',
    'tokens',
  ],
};

const SRC = resolve(import.meta.dirname);
const IMPORT = /(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|cjs)$/.test(name) && !name.endsWith('.test.ts') ? [path] : [];
  });
}

/** `src/proxy/stages/route.ts` → `proxy`; `src/clock.ts` → `clock`. */
function moduleOf(path: string): string {
  const parts = relative(SRC, path).split('/');
  return parts.length > 1 ? parts[0]! : parts[0]!.replace(/\.ts$/, '');
}

const arrows = sourceFiles(SRC).flatMap((file) => {
  const from = moduleOf(file);
  return [...readFileSync(file, 'utf8').matchAll(IMPORT)].map((m) => {
    const target = resolve(dirname(file), m[1]!);
    const to = target.startsWith(`${SRC}/`) ? moduleOf(target) : `outside src (${relative(SRC, target)})`;
    return { file: relative(SRC, file), from, to };
  });
});

describe('layering', () => {
  it.each(Object.keys(ALLOWED))('%s imports only the modules below it', (module) => {
    const wrong = arrows
      .filter((a) => a.from === module && a.to !== module && !ALLOWED[module]!.includes(a.to))
      .map((a) => `${a.file} → ${a.to}`);
    expect(wrong).toEqual([]);
  });

  it('knows every module of src/ (a new folder needs a rule)', () => {
    const unruled = [...new Set(arrows.map((a) => a.from))].filter(
      (m) => !(m in ALLOWED) && !['cli', 'preload', 'layering'].includes(m),
    );
    expect(unruled).toEqual([]);
  });

  it('ships no test code: no file of src/ outside *.test.ts imports vitest or test/', () => {
    const testCode = sourceFiles(SRC).filter((file) => {
      const text = readFileSync(file, 'utf8');
      return (
        /from\s+['"]vitest['"]/.test(text) ||
        arrows.some((a) => a.file === relative(SRC, file) && a.to.includes('test/'))
      );
    });
    expect(testCode.map((f) => relative(SRC, f))).toEqual([]);
  });

  it('has no module importing itself through another (the rules form no cycle)', () => {
    const seen = new Set<string>();
    const visiting = new Set<string>();
    const visit = (m: string): boolean => {
      if (visiting.has(m)) return false;
      if (seen.has(m)) return true;
      visiting.add(m);
      const ok = (ALLOWED[m] ?? []).every(visit);
      visiting.delete(m);
      seen.add(m);
      return ok;
    };
    expect(Object.keys(ALLOWED).every(visit)).toBe(true);
  });
});
