// The container image's module cache (Dockerfile: cmd/fill-module-cache.ts at build time, read-only
// in a pod): every TypeScript module that serve (its compile thread too), proxy and operator load at
// start is already in it, so none is stripped again. Node says what it reads and makes with
// NODE_DEBUG_NATIVE=COMPILE_CACHE; a module not in the cache shows as "no transpile cache".
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { runKeybrake, startKeybrake } from '../env/keybrake.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const EPHEMERAL = ['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--vendor-port', 'stripe=0'];
/** The proxy container's NODE_OPTIONS, as the chart renders them by default. */
const CHART_NODE_OPTIONS = (
  parseYaml(readFileSync(path.join(ROOT, 'charts/keybrake/values.yaml'), 'utf8')) as {
    proxy: { nodeOptions: string };
  }
).proxy.nodeOptions;

let dir: string;
let filled: string;
let empty: string;
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'keybrake-module-cache-'));
  filled = path.join(dir, 'filled');
  empty = path.join(dir, 'empty');
  writeFileSync(path.join(dir, 'token'), 'proxy-token\n');
  await promisify(execFile)(process.execPath, ['cmd/fill-module-cache.ts'], {
    cwd: ROOT,
    env: { ...process.env, NODE_COMPILE_CACHE: filled },
  });
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const debug = (cache: string, more: NodeJS.ProcessEnv = {}) => ({
  NODE_COMPILE_CACHE: cache,
  NODE_DEBUG_NATIVE: 'COMPILE_CACHE',
  KEYBRAKE_LOG_LEVEL: 'info',
  ...more,
});

/** The modules a start stripped because the cache did not hold them. */
const stripped = (output: string) =>
  [...output.matchAll(/no transpile cache for StrippedTypeScript (\S+)/g)].map((m) => m[1]);

async function serveOutput(cache: string): Promise<string> {
  const kb = await startKeybrake(
    ['serve', '--manifests', path.join(ROOT, 'examples/quickstart'), ...EPHEMERAL],
    { env: debug(cache) },
  );
  await kb.stop();
  return kb.output();
}

describe('the image module cache (cmd/fill-module-cache.ts)', () => {
  it('is filled by the Dockerfile as the user the chart runs the pods as, in the directory Node is given', async () => {
    const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    const final = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    const cacheDir = /^ENV NODE_COMPILE_CACHE=(\S+)$/m.exec(final)?.[1];
    expect(cacheDir).toBe('/app/.module-cache');
    // Built as `node` (uid 1000 in the node images), which the chart runs as: Node's cache is per user.
    expect(final).toMatch(/^USER node\nRUN node cmd\/fill-module-cache\.ts$/m);
    const values = parseYaml(readFileSync(path.join(ROOT, 'charts/keybrake/values.yaml'), 'utf8')) as {
      podSecurityContext: { runAsUser: number };
    };
    expect(values.podSecurityContext.runAsUser).toBe(1000);
  });

  it('holds every module serve and its compile thread load at start, in one directory', async () => {
    const output = await serveOutput(filled);
    expect(stripped(output)).toEqual([]);
    // The compile thread read the modules it loads from the cache too (and none was stripped,
    // above). Node writes each debug line in pieces, and the two threads load their modules at the
    // same time, so another line may land between "…worker.ts..." and its "success".
    expect(output).toMatch(
      /retrieving transpile cache for StrippedTypeScript \S+compile-thread-worker\.ts\.\.\./,
    );
    // One subdirectory (Node's, for this version and user), not a second one inside it.
    const [version, ...others] = readdirSync(filled);
    expect(others).toEqual([]);
    expect(readdirSync(path.join(filled, version!)).filter((f) => f.startsWith('v'))).toEqual([]);
  });

  it('holds every module a proxy loads at start, with the chart NODE_OPTIONS', async () => {
    const kb = await startKeybrake(
      [
        'proxy',
        '--operator',
        'http://127.0.0.1:9/',
        '--insecure-http',
        '--token-file',
        path.join(dir, 'token'),
        '--proxy-id',
        'p-1',
        ...EPHEMERAL,
      ],
      { env: debug(filled, { NODE_OPTIONS: CHART_NODE_OPTIONS }) },
    );
    await kb.stop();
    expect(kb.output()).toContain('StrippedTypeScript');
    expect(stripped(kb.output())).toEqual([]);
  });

  it('holds every module the operator loads before it looks for its cluster', async () => {
    const r = await runKeybrake(
      ['operator', '--insecure-http', '--proxy-service-account', 'keybrake-system/keybrake-proxy'],
      {
        env: debug(filled, { KUBECONFIG: path.join(dir, 'no-such-kubeconfig') }),
      },
    );
    expect(r.stderr).toContain('StrippedTypeScript');
    expect(stripped(r.stderr)).toEqual([]);
  });

  it('is what makes the difference: without it the same start strips its modules', async () => {
    const missed = stripped(await serveOutput(empty));
    expect(missed).toContainEqual(expect.stringMatching(/\/src\/cli\/serve\.ts$/));
    expect(missed).toContainEqual(expect.stringMatching(/\/src\/cli\/compile-thread-worker\.ts$/));
  });
});
