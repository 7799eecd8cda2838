// How kubectl reads manifest YAML, asked of the real thing: kubectl-yaml (test/env/kubectl-yaml/main.go)
// runs sigs.k8s.io/yaml's YAMLToJSON, which kubectl applies to every document before the API server
// sees it, and k8s.io/apimachinery's decoder, which splits a file into those documents. The tests of
// our readers compare with it as an independent oracle.
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const BUILD_SCRIPT = path.join(import.meta.dirname, 'kubectl-yaml/build.sh');

/** kubectl's reading of one document: the value the API server would see, or why kubectl refuses it. */
export type KubectlReading = { readonly value: unknown } | { readonly error: string };

/**
 * Builds the oracle (cached; a warm run is one file check) and returns the binary. Throws how to get it
 * when it cannot be built: a test that needs the oracle fails, it is never skipped.
 */
function oracleBinary(): string {
  try {
    const out = execFileSync('bash', [BUILD_SCRIPT], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 180_000,
    });
    return out.trim().split('\n').at(-1)!;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(
      `cannot build the kubectl-yaml oracle (${(e.stderr || e.message).trim()}): ` +
        `run \`bash ${path.relative(process.cwd(), BUILD_SCRIPT)}\` (needs Go >= 1.26 and the Go module proxy, ` +
        'or a warm ~/.cache/keybrake/kubectl-yaml), or `bash .ci/run`, which provisions Go.',
    );
  }
}

let binary: string | undefined;

/** Each document (one YAML document a text) as kubectl reads it, in one run of the oracle. */
export function kubectlReadings(documents: readonly string[]): KubectlReading[] {
  return (ask([], documents) as { json?: string; error?: string }[]).map((r) =>
    r.json === undefined ? { error: r.error! } : { value: JSON.parse(r.json) },
  );
}

/** kubectl's reading of a whole file: the documents it sends, in order, or why it refuses the file. */
export type KubectlFileReading = { readonly documents: unknown[] } | { readonly error: string };

/**
 * Each file as `kubectl apply -f` reads it: split into documents as kubectl splits it (lines starting
 * with `---`, or a JSON stream), each converted, empty and null ones left out; in one run of the oracle.
 */
export function kubectlFileReadings(files: readonly string[]): KubectlFileReading[] {
  return (ask(['-files'], files) as { docs?: string[]; error?: string }[]).map((r) =>
    r.docs === undefined ? { error: r.error! } : { documents: r.docs.map((d) => JSON.parse(d)) },
  );
}

function ask(args: string[], inputs: readonly string[]): unknown[] {
  binary ??= oracleBinary();
  const out = execFileSync(binary, args, {
    input: JSON.stringify(inputs),
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  return JSON.parse(out) as unknown[];
}
