// The container image's default command, read from the Dockerfile and parsed with serve's own flags.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseFlags } from '../../../src/cli/args.ts';
import { SERVE_FLAGS } from '../../../src/cli/serve.ts';
import { parseListen } from '../../../src/listen.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The Dockerfile's `CMD [...]`, as the arguments the entrypoint is given. */
function defaultCommand(): string[] {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const cmd = /^CMD (\[.*\])$/m.exec(dockerfile);
  expect(cmd, 'the Dockerfile has an exec-form CMD').not.toBeNull();
  return JSON.parse(cmd![1]!) as string[];
}

describe("the image's default command", () => {
  // Fourth probe round: the CMD bound serve's admin listener to 0.0.0.0, publishing the run API
  // (parent vault tokens over plain HTTP) and /metrics, against ADR 0010 and docs/security.md.
  it('is serve with its admin listener on loopback, and its proxy listener published', () => {
    const [command, ...argv] = defaultCommand();
    expect(command).toBe('serve');
    const { values } = parseFlags(argv, SERVE_FLAGS);
    expect(parseListen(values['admin-listen'] as string).host).toBe('127.0.0.1');
    expect(parseListen(values.listen as string).host).toBe('0.0.0.0');
  });
});
